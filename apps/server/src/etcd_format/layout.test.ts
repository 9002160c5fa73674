import type { ScanChunk, WriteOp } from "@etcd-ts/backend";
import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { alarmKey } from "../alarm_store.js";
import { Membership } from "../membership.js";
import { MEMBERSHIP_KEY } from "../membership_store.js";
import { ETCD_BUCKETS, EtcdBucketsWriter, EtcdImport, type EtcdBucket, type EtcdEntry } from "./layout.js";
import { memberJson, parseMemberJson } from "./members_json.js";

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function revKey(main: bigint, sub: number, tomb = false): Buffer {
  const b = Buffer.alloc(4 + 16 + (tomb ? 1 : 0));
  b.write("key/");
  b.writeBigUInt64BE(main, 4);
  b.writeBigUInt64BE(BigInt(sub), 12);
  if (tomb) b[20] = 0x74;
  return b;
}

function backendRecords(): [Buffer, Buffer][] {
  const ms = new Membership(0x1234n, new Map());
  ms.add({ id: 0x8e9e05c52164694dn, name: "default", peerUrls: ["http://localhost:2380"], clientUrls: ["http://localhost:2379"], isLearner: false });
  ms.add({ id: 0x10n, name: "", peerUrls: ["http://l:1"], clientUrls: [], isLearner: true });
  ms.removed.add(0xabcn);
  ms.clusterVersion = "3.4.0";
  const recs: [Buffer, Buffer][] = [
    [alarmKey(7n, etcdserverpb.AlarmType.NOSPACE), Buffer.alloc(0)],
    [alarmKey(3n, etcdserverpb.AlarmType.CORRUPT), Buffer.alloc(0)],
    [Buffer.from("auth/authEnabled"), Buffer.from([1])],
    [Buffer.from("auth/authRevision"), u64(5n)],
    [Buffer.from("authRoles/root"), Buffer.from("role-bytes")],
    [Buffer.from("authUsers/root"), Buffer.from("user-bytes")],
    [MEMBERSHIP_KEY, ms.encode()],
    [revKey(1n, 0), Buffer.from("kv1")],
    [revKey(2n, 0), Buffer.from("kv2")],
    [revKey(2n, 0, true), Buffer.from("kv2t")],
    [revKey(3n, 1), Buffer.from("kv3")],
    [Buffer.concat([Buffer.from("lease/"), u64(0x694d7a2dfc0a1e05n)]), Buffer.from("lease")],
    [Buffer.from("meta/consistent_index"), u64(99n)],
    [Buffer.from("meta/finished_compact_rev"), u64(2n)],
    [Buffer.from("meta/scheduled_compact_rev"), u64(2n)],
  ];
  recs.sort((a, b) => Buffer.compare(a[0], b[0]));
  return recs;
}

function chunks(recs: [Buffer, Buffer][], per = 3): ScanChunk[] {
  const out: ScanChunk[] = [];
  for (let i = 0; i < recs.length; i += per) {
    const part = recs.slice(i, i + per);
    out.push({ keys: part.map((r) => r[0]), values: part.map((r) => r[1]) });
  }
  return out;
}

/** written maps recs through EtcdBucketsWriter into a sink that records the buckets opened and their entries. */
function written(recs: [Buffer, Buffer][], per = 3): { buckets: string[]; entries: EtcdEntry[] } {
  const buckets: string[] = [];
  const entries: EtcdEntry[] = [];
  let open: string | undefined;
  const w = new EtcdBucketsWriter({
    openBucket: (name) => {
      expect(open).toBeUndefined();
      open = Buffer.from(name).toString();
      buckets.push(open);
    },
    put: (key, value) => {
      expect(open).toBeDefined();
      entries.push({ bucket: open as EtcdBucket, key: Buffer.from(key), value: Buffer.from(value) });
    },
    closeBucket: () => {
      expect(open).toBeDefined();
      open = undefined;
    },
  });
  for (const c of chunks(recs, per)) w.add(c);
  w.finish();
  expect(open).toBeUndefined();
  return { buckets, entries };
}

async function all(recs: [Buffer, Buffer][]): Promise<EtcdEntry[]> {
  return written(recs).entries;
}

describe("the backend in etcd's bbolt layout", () => {
  it("yields etcd's buckets in bbolt order (bucket, then key) from one ordered scan", async () => {
    const out = await all(backendRecords());
    for (let i = 1; i < out.length; i++) {
      const a = out[i - 1] as EtcdEntry;
      const b = out[i] as EtcdEntry;
      const order = a.bucket === b.bucket ? Buffer.compare(a.key, b.key) : a.bucket < b.bucket ? -1 : 1;
      expect(order, `${a.bucket}/${a.key.toString("hex")} before ${b.bucket}/${b.key.toString("hex")}`).toBe(-1);
    }
    expect([...new Set(out.map((e) => e.bucket))]).toEqual(ETCD_BUCKETS.filter((b) => out.some((e) => e.bucket === b)));
    const by = (bucket: string): EtcdEntry[] => out.filter((e) => e.bucket === bucket);
    expect(by("key").map((e) => e.key.toString("hex"))).toEqual([
      "0000000000000001" + "5f" + "0000000000000000",
      "0000000000000002" + "5f" + "0000000000000000",
      "0000000000000002" + "5f" + "0000000000000000" + "74",
      "0000000000000003" + "5f" + "0000000000000001",
    ]);
    expect(by("meta").map((e) => e.key.toString())).toEqual(["consistent_index", "finishedCompactRev", "scheduledCompactRev"]);
    expect(by("meta")[2]?.value.toString("hex")).toBe("0000000000000002" + "5f" + "0000000000000000");
    expect(by("alarm").map((e) => etcdserverpb.AlarmMember.decode(e.key))).toEqual(
      [
        { memberID: 7n, alarm: etcdserverpb.AlarmType.NOSPACE },
        { memberID: 3n, alarm: etcdserverpb.AlarmType.CORRUPT },
      ].sort((a, b) => Buffer.compare(Buffer.from(etcdserverpb.AlarmMember.encode(a).finish()), Buffer.from(etcdserverpb.AlarmMember.encode(b).finish()))),
    );
    expect(by("cluster").map((e) => [e.key.toString(), e.value.toString()])).toEqual([["clusterVersion", "3.4.0"]]);
    expect(by("members").map((e) => e.key.toString())).toEqual(["10", "8e9e05c52164694d"]);
    expect(by("members_removed").map((e) => [e.key.toString(), e.value.toString()])).toEqual([["abc", "removed"]]);
    expect(by("lease")[0]?.key.toString("hex")).toBe("694d7a2dfc0a1e05");
    expect(by("authUsers")[0]?.key.toString()).toBe("root");
  });

  it("writes every etcd bucket once, in order, empty ones included, however the scan is chunked", () => {
    for (const per of [1, 2, 5, 100]) {
      expect(written(backendRecords(), per).buckets).toEqual([...ETCD_BUCKETS]);
      expect(written(backendRecords(), per).entries).toEqual(written(backendRecords(), 3).entries);
    }
    expect(written([]).buckets).toEqual([...ETCD_BUCKETS]);
    expect(written([]).entries).toEqual([]);
  });

  it("refuses a scan out of bucket order, and a collected bucket's key after that bucket was written", () => {
    const recs = backendRecords();
    const lease = recs.find(([k]) => k.toString().startsWith("lease/"))!;
    const key = recs.find(([k]) => k.toString().startsWith("key/"))!;
    expect(() => written([lease, key])).toThrow(/backend scan out of order/);
    const alarm = recs.find(([k]) => k.toString().startsWith("alarm"))!;
    expect(() => written([key, alarm])).toThrow(/backend key for bucket alarm after that bucket was written/);
  });

  it("refuses a backend key that has no place in etcd's buckets", async () => {
    const recs = backendRecords();
    recs.push([Buffer.from("zzz/unknown"), Buffer.from("x")]);
    await expect(all(recs)).rejects.toThrow(/has no place in etcd's buckets/);
    await expect(all([[Buffer.from("auth/other"), Buffer.from("x")]])).rejects.toThrow(/unknown auth key/);
  });

  it("comes back to the same backend records and member list through EtcdImport", async () => {
    const recs = backendRecords();
    const imp = new EtcdImport();
    const ops: WriteOp[] = [];
    for (const e of await all(recs)) ops.push(...imp.add(e.bucket, e.key, e.value));
    const back = ops.map((o) => (o.type === "put" ? [o.key.toString("hex"), o.value.toString("hex")] : []));
    const want = recs.filter(([k]) => !k.equals(MEMBERSHIP_KEY)).map(([k, v]) => [k.toString("hex"), v.toString("hex")]);
    expect(back.sort()).toEqual(want.sort());
    const ms = imp.membership(0x1234n);
    const orig = Membership.decode(recs.find(([k]) => k.equals(MEMBERSHIP_KEY))?.[1] as Buffer);
    const sorted = (x: Membership): unknown => ({ ...JSON.parse(x.encode().toString()), members: [...x.members.values()].sort((a, b) => (a.id < b.id ? -1 : 1)) });
    expect(sorted(ms)).toEqual(sorted(orig));
    expect(imp.skipped).toEqual([]);
    // etcd 3.5's meta keys are skipped, not turned into records.
    expect(imp.add("meta", Buffer.from("term"), u64(3n))).toEqual([]);
    expect(imp.skipped).toEqual(["meta/term"]);
  });
});

describe("members as etcd keeps them", () => {
  it("renders Go's json.Marshal of membership.Member, IDs above 2^53 exact", () => {
    const m = { id: 0x8e9e05c52164694dn, name: "default", peerUrls: ["http://localhost:2380"], clientUrls: ["http://localhost:2379"], isLearner: false };
    const json = memberJson(m).toString();
    expect(json).toBe('{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default","clientURLs":["http://localhost:2379"]}');
    expect(parseMemberJson(Buffer.from("8e9e05c52164694d"), Buffer.from(json))).toEqual(m);
    const learner = { id: 1n, name: "", peerUrls: ["http://a:1"], clientUrls: [], isLearner: true };
    expect(memberJson(learner).toString()).toBe('{"id":1,"peerURLs":["http://a:1"],"isLearner":true}');
    expect(memberJson({ ...learner, peerUrls: [], name: "a<b" }).toString()).toBe('{"id":1,"peerURLs":null,"isLearner":true,"name":"a\\u003cb"}');
  });

  it("refuses a member whose ID is not its key's, or that is not a member", () => {
    expect(() => parseMemberJson(Buffer.from("2"), Buffer.from('{"id":1,"peerURLs":null}'))).toThrow(/differs from the key/);
    expect(() => parseMemberJson(Buffer.from("1"), Buffer.from("[]"))).toThrow(/no numeric id/);
    expect(() => parseMemberJson(Buffer.from("1"), Buffer.from("{"))).toThrow(/bad member/);
    expect(() => parseMemberJson(Buffer.from("1"), Buffer.from('{"id":1,"peerURLs":[1]}'))).toThrow(/peerURLs/);
  });
});
