import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import type { EtcdServer } from "./etcd_server.js";
import { Errors } from "./errors.js";
import { openMember, removeDataDirs, tmpDataDir } from "./testing/member.js";

const b = (s: string) => Buffer.from(s);
const tmp = tmpDataDir;
const open = openMember;

afterEach(removeDataDirs);

const get = (s: EtcdServer, key: string, p: Partial<etcdserverpb.RangeRequest> = {}) =>
  s.range(etcdserverpb.RangeRequest.fromPartial({ key: b(key), ...p }));
const put = (s: EtcdServer, key: string, value: string) => s.put(etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value) }));

describe("EtcdServer (single member)", () => {
  it("elects itself, answers with etcd's header and starts at revision 1", async () => {
    const s = await open(tmp());
    const r = await get(s, "nothing");
    expect(r.header?.revision).toBe(1n);
    expect(r.header?.raftTerm).toBe(2n); // bootstrap at term 1, first election to term 2, as etcd
    expect(r.header?.memberId).toBe(s.memberId);
    expect(r.header?.clusterId).toBe(s.membership.clusterId);
    const p = await put(s, "a", "1");
    expect(p.header?.revision).toBe(2n);
    expect((await get(s, "a")).kvs[0]?.value.toString()).toBe("1");
    await s.stop();
  });

  it("batches concurrent proposals and keeps every one", async () => {
    const s = await open(tmp());
    const n = 500;
    const res = await Promise.all(Array.from({ length: n }, (_, i) => put(s, `k${i}`, `v${i}`)));
    const revs = new Set(res.map((r) => r.header?.revision));
    expect(revs.size).toBe(n);
    const all = await get(s, "k", { rangeEnd: b("l") });
    expect(all.count).toBe(BigInt(n));
    await s.stop();
  });

  it("restarts with everything it acknowledged, from WAL and backend", async () => {
    const dir = tmp();
    let s = await open(dir, ["--snapshot-count", "50"]);
    for (let i = 0; i < 120; i++) await put(s, `r${i}`, `v${i}`);
    const before = await s.hashKV(etcdserverpb.HashKVRequest.fromPartial({}));
    await s.stop();
    // The same --data-dir (openMember passes it): the member restarts from its WAL and backend.
    s = await open(dir, ["--snapshot-count", "50"]);
    const all = await get(s, "r", { rangeEnd: b("s") });
    expect(all.count).toBe(120n);
    const after = await s.hashKV(etcdserverpb.HashKVRequest.fromPartial({}));
    expect(after.hash).toBe(before.hash);
    expect((await put(s, "after", "restart")).header?.revision).toBe(122n);
    await s.stop();
  });

  it("keeps its membership across snapshots taken after a restart", async () => {
    // A snapshot taken after a restart must still record the voters, or the next restart
    // has no voter and never elects a leader.
    const dir = tmp();
    for (let round = 0; round < 3; round++) {
      const s = await open(dir, ["--snapshot-count", "20"]);
      for (let i = 0; i < 45; i++) await put(s, `s${round}/${i}`, "x");
      await s.stop();
    }
    const s = await open(dir, ["--snapshot-count", "20"]);
    expect((await get(s, "s", { rangeEnd: b("t") })).count).toBe(135n);
    await s.stop();
  });

  it("restarts (again and again) without any snapshot taken", async () => {
    const dir = tmp();
    for (let round = 0; round < 3; round++) {
      const s = await open(dir);
      await put(s, `round${round}`, "x");
      expect((await get(s, "round", { rangeEnd: b("rounf") })).count).toBe(BigInt(round + 1));
      await s.stop();
    }
  });

  it("returns etcd's errors", async () => {
    const s = await open(tmp(), ["--max-request-bytes", "1024", "--max-txn-ops", "4"]);
    await expect(put(s, "", "x")).rejects.toBe(Errors.emptyKey);
    await expect(put(s, "k", "x".repeat(2000))).rejects.toBe(Errors.requestTooLarge);
    await expect(get(s, "k", { revision: 99n })).rejects.toBe(Errors.futureRev);
    const ops = Array.from({ length: 5 }, (_, i) => etcdserverpb.RequestOp.fromPartial({ requestPut: { key: b(`t${i}`) } }));
    await expect(s.txn(etcdserverpb.TxnRequest.fromPartial({ success: ops }))).rejects.toBe(Errors.tooManyOps);
    await expect(s.put(etcdserverpb.PutRequest.fromPartial({ key: b("k"), lease: 7n }))).rejects.toBe(Errors.leaseNotFound);
    await put(s, "k", "1");
    await put(s, "k", "2");
    await s.compact(etcdserverpb.CompactionRequest.fromPartial({ revision: 3n, physical: true }));
    await expect(get(s, "k", { revision: 2n })).rejects.toBe(Errors.compacted);
    await expect(s.compact(etcdserverpb.CompactionRequest.fromPartial({ revision: 2n }))).rejects.toBe(Errors.compacted);
    await s.stop();
  });

  it("takes member peer URLs of every scheme etcd takes (http, https, unix, unixs) and refuses others", async () => {
    const s = await open(tmp(), ["--strict-reconfig-check=false"]);
    const added = await s.memberAdd(etcdserverpb.MemberAddRequest.fromPartial({ peerURLs: ["unix://localhost:23999"], isLearner: true }));
    expect(added.member?.peerURLs).toEqual(["unix://localhost:23999"]);
    await expect(s.memberAdd(etcdserverpb.MemberAddRequest.fromPartial({ peerURLs: ["ftp://localhost:1"], isLearner: true }))).rejects.toBe(
      Errors.memberBadUrls,
    );
    await s.stop();
  });

  it("serves read-only txns without a log entry and fills nested headers", async () => {
    const s = await open(tmp());
    await put(s, "x", "1");
    const t = await s.txn(
      etcdserverpb.TxnRequest.fromPartial({
        compare: [{ key: b("x"), target: etcdserverpb.Compare_CompareTarget.VALUE, value: b("1") }],
        success: [{ requestRange: { key: b("x") } }],
      }),
    );
    expect(t.succeeded).toBe(true);
    expect(t.header?.revision).toBe(2n);
    expect(t.responses[0]?.responseRange?.header?.revision).toBe(2n);
    expect(t.responses[0]?.responseRange?.header?.memberId ?? 0n).toBe(0n);
    await s.stop();
  });
});
