import { etcdraftpb, etcdserverpb, etcdwalpb } from "@etcd-ts/proto";
import { REAL_ETCD, REAL_ETCDCTL, etcdFlags, freePort, run, spawnServer, stopProcess, waitHealthy, type Spawned } from "@etcd-ts/test-kit";
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GoWalWriter, decodeGoNormalEntryData, encodeGoSnapFile, readGoSnap, readGoSnapFile, readGoWal, readGoWalSnapshots, writeGoSnap, type GoWalContents } from "../index.js";
import { goEntry, goHardState } from "./canonical.js";
import { GoWalDecoder } from "./decoder.js";
import { GoRecordEncoder } from "./frame.js";
import { GO_WAL_RECORD_TYPES } from "./record_types.js";

/**
 * These tests run the real Go etcd 3.4 (Debian's etcd-server, REAL_ETCD) on a temporary data
 * directory: it writes a WAL and .snap files that our reader must read, then it must start
 * from a WAL and .snap files our writer wrote and serve the same keys.
 */

const PUTS = 200;
const key = (i: number): string => `gowal/key-${String(i).padStart(3, "0")}`;
const value = (i: number): string => `value-${i}`;

let root: string;
let dataDir: string;
let clientUrl: string;
let flags: string[];
let etcd: Spawned | undefined;
let logFile: string;

async function startEtcd(): Promise<void> {
  const s = spawnServer([REAL_ETCD], flags, { logFile });
  etcd = s;
  let exited = false;
  void s.exited.then(() => (exited = true));
  await waitHealthy(clientUrl, { name: "etcd", exited: () => exited, detail: () => readFileSync(logFile, "utf8").slice(-3000) });
}

async function stopEtcd(): Promise<void> {
  if (etcd !== undefined) await stopProcess(etcd.proc, "SIGTERM");
  etcd = undefined;
}

async function etcdctl(...args: string[]): Promise<string> {
  const r = await run(REAL_ETCDCTL, ["--endpoints", clientUrl, ...args]);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** status returns member_id, cluster_id (exact: etcdctl prints them as JSON numbers beyond 2^53), revision and raftIndex. */
async function status(): Promise<{ memberId: bigint; clusterId: bigint; revision: bigint; raftIndex: bigint }> {
  const out = await etcdctl("endpoint", "status", "-w", "json");
  const num = (name: string): bigint => {
    const m = new RegExp(`"${name}":(\\d+)`).exec(out);
    if (m === null) throw new Error(`no ${name} in ${out}`);
    return BigInt(m[1]!);
  };
  return { memberId: num("member_id"), clusterId: num("cluster_id"), revision: num("revision"), raftIndex: num("raftIndex") };
}

/** putViaGateway puts through etcd's JSON gateway (POST /v3/kv/put), which avoids a process per put. */
async function putViaGateway(k: string, v: string): Promise<void> {
  const res = await fetch(`${clientUrl}/v3/kv/put`, {
    method: "POST",
    body: JSON.stringify({ key: Buffer.from(k).toString("base64"), value: Buffer.from(v).toString("base64") }),
  });
  if (res.status !== 200) throw new Error(`put ${k}: HTTP ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/** putKeys returns the keys of the put requests in the normal entries, in log order. */
function putKeys(c: GoWalContents): string[] {
  const keys: string[] = [];
  for (const e of c.entries) {
    if (e.Type !== etcdraftpb.EntryType.EntryNormal || e.Data === undefined || e.Data.length === 0) continue;
    const r = decodeGoNormalEntryData(e.Data);
    if (r.kind === "internal" && r.request.put !== undefined) keys.push(r.request.put.key.toString());
  }
  return keys;
}

let before: { memberId: bigint; clusterId: bigint; revision: bigint; raftIndex: bigint };
let walDir: string;
let snapDir: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "go-etcd-wal-"));
  dataDir = join(root, "data");
  logFile = join(root, "etcd.log");
  walDir = join(dataDir, "member", "wal");
  snapDir = join(dataDir, "member", "snap");
  const [cp, pp] = [await freePort(), await freePort()];
  clientUrl = `http://127.0.0.1:${cp}`;
  const peerUrl = `http://127.0.0.1:${pp}`;
  flags = [
    ...etcdFlags({ name: "go-wal", dataDir, clientUrl, listenPeerUrl: peerUrl, advertisePeerUrl: peerUrl }),
    "--snapshot-count",
    "50",
  ];
  await startEtcd();
  for (let i = 0; i < PUTS; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, PUTS - i) }, (_, j) => putViaGateway(key(i + j), value(i + j))));
  }
  before = await status();
  await stopEtcd();
}, 60_000);

afterAll(async () => {
  await stopEtcd();
  rmSync(root, { recursive: true, force: true });
});

describe("reading what the real etcd 3.4 wrote", () => {
  it("reads its WAL: metadata with its member and cluster IDs, its puts as InternalRaftRequests, its hard state", async () => {
    const c = await readGoWal(walDir);
    expect(c.tornTail).toBeUndefined();
    expect(c.files).toEqual(["0000000000000000-0000000000000000.wal"]);
    expect(etcdserverpb.Metadata.decode(c.metadata!)).toEqual({ NodeID: before.memberId, ClusterID: before.clusterId });

    // The log starts with the bootstrap conf change adding this member.
    expect(c.entries[0]!.Index).toBe(1n);
    expect(c.entries[0]!.Type).toBe(etcdraftpb.EntryType.EntryConfChange);
    const cc = etcdraftpb.ConfChange.decode(c.entries[0]!.Data!);
    expect(cc.type).toBe(etcdraftpb.ConfChangeType.ConfChangeAddNode);
    expect(cc.nodeId).toBe(before.memberId);
    c.entries.forEach((e, i) => expect(e.Index).toBe(BigInt(i + 1)));

    const keys = putKeys(c);
    expect(keys.length).toBe(PUTS);
    expect([...keys].sort()).toEqual(Array.from({ length: PUTS }, (_, i) => key(i)));
    const lastPut = c.entries.filter((e) => {
      if (e.Type !== 0 || e.Data === undefined || e.Data.length === 0) return false;
      const r = decodeGoNormalEntryData(e.Data);
      return r.kind === "internal" && r.request.put !== undefined;
    }).at(-1)!;
    // etcd 3.4 publishes its member attributes as a bare v2 Request entry.
    const v2 = c.entries.flatMap((e) => {
      if (e.Type !== 0 || e.Data === undefined || e.Data.length === 0) return [];
      const r = decodeGoNormalEntryData(e.Data);
      return r.kind === "v2" ? [r.request] : [];
    });
    expect(v2.map((r) => `${r.Method} ${r.Path}`)).toContain(`PUT /0/members/${before.memberId.toString(16)}/attributes`);
    expect(c.hardState.commit!).toBeGreaterThanOrEqual(lastPut.Index!);
    expect(c.hardState.commit!).toBeGreaterThanOrEqual(before.raftIndex);
    expect(c.hardState.vote).toBe(before.memberId);
    expect(c.lastIndex).toBe(c.entries.at(-1)!.Index);

    // --snapshot-count 50: etcd saved snapshots and recorded them in the WAL.
    const valid = await readGoWalSnapshots(walDir);
    expect(valid.length).toBeGreaterThan(3);
    expect(valid[0]).toEqual({ index: 0n, term: 0n });
    expect(c.snapshots).toEqual(valid);
  });

  it("reads its newest .snap file matching the WAL, and every .snap file", async () => {
    const valid = await readGoWalSnapshots(walDir);
    const load = await readGoSnap(snapDir, { matching: valid });
    expect(load.broken).toEqual([]);
    const newest = valid.at(-1)!;
    expect(load.file).toBe(`${newest.term.toString(16).padStart(16, "0")}-${newest.index.toString(16).padStart(16, "0")}.snap`);
    expect(load.snapshot!.metadata!.index).toBe(newest.index);
    expect(load.snapshot!.metadata!.confState!.voters).toEqual([before.memberId]);
    // etcd 3.4 keeps the v2 store as JSON in the raft snapshot's data.
    expect(load.snapshot!.data!.toString().startsWith("{")).toBe(true);
    const snapFiles = readdirSync(snapDir).filter((f) => f.endsWith(".snap"));
    expect(snapFiles.length).toBeGreaterThan(0);
    for (const f of snapFiles) {
      const bytes = readFileSync(join(snapDir, f));
      // Byte for byte what our writer writes for the same snapshot.
      expect(encodeGoSnapFile(await readGoSnapFile(join(snapDir, f)))).toEqual(bytes);
    }
  });

  it("re-encodes every record of its WAL to the same bytes", async () => {
    const path = join(walDir, "0000000000000000-0000000000000000.wal");
    const file = readFileSync(path);
    const d = new GoWalDecoder([path]);
    let enc = new GoRecordEncoder(0);
    const frames: Buffer[] = [];
    let count = 0;
    try {
      for (let r = await d.next(); r !== undefined; r = await d.next()) {
        count++;
        if (r.type === GO_WAL_RECORD_TYPES.crc) {
          d.crc = r.crc;
          enc = new GoRecordEncoder(r.crc);
          frames.push(enc.encodeCrc());
          continue;
        }
        let data = r.data!;
        if (r.type === GO_WAL_RECORD_TYPES.entry) {
          const e = etcdraftpb.Entry.decode(data);
          data = Buffer.from(etcdraftpb.Entry.encode(goEntry(e)).finish());
          if (e.Type === etcdraftpb.EntryType.EntryNormal && e.Data !== undefined && e.Data.length > 0) {
            const r = decodeGoNormalEntryData(e.Data);
            const again = r.kind === "internal" ? etcdserverpb.InternalRaftRequest.encode(r.request).finish() : r.kind === "v2" ? etcdserverpb.Request.encode(r.request).finish() : e.Data;
            expect(Buffer.from(again)).toEqual(e.Data);
          }
        } else if (r.type === GO_WAL_RECORD_TYPES.state) {
          data = Buffer.from(etcdraftpb.HardState.encode(goHardState(etcdraftpb.HardState.decode(data))).finish());
        } else if (r.type === GO_WAL_RECORD_TYPES.snapshot) {
          const s = etcdwalpb.Snapshot.decode(data);
          data = Buffer.from(etcdwalpb.Snapshot.encode({ index: s.index ?? 0n, term: s.term ?? 0n }).finish());
        }
        frames.push(enc.encode(r.type as 1 | 2 | 3 | 5, data));
      }
    } finally {
      await d.close();
    }
    const ours = Buffer.concat(frames);
    expect(count).toBeGreaterThan(PUTS);
    expect(ours.length).toBe(d.lastValidOffset);
    expect(ours.equals(file.subarray(0, ours.length))).toBe(true);
  });
});

describe("the real etcd 3.4 starting from what we wrote", () => {
  it("restarts on a WAL and .snap files rewritten by our writer and serves the same keys", async () => {
    const c = await readGoWal(walDir);
    const snapFiles = readdirSync(snapDir).filter((f) => f.endsWith(".snap"));
    const snaps = await Promise.all(snapFiles.map(async (f) => ({ f, bytes: readFileSync(join(snapDir, f)), snap: await readGoSnapFile(join(snapDir, f)) })));

    // Keep Go's originals aside, then write ours in their place.
    renameSync(walDir, join(dataDir, "member", "wal.go"));
    const w = await GoWalWriter.create(walDir, c.metadata!);
    await w.save(c.hardState, c.entries);
    for (const s of c.snapshots.slice(1)) await w.saveSnapshot(s);
    await w.close();
    for (const s of snaps) {
      unlinkSync(join(snapDir, s.f));
      const p = await writeGoSnap(snapDir, s.snap);
      expect(p).toBe(join(snapDir, s.f));
      expect(readFileSync(p!)).toEqual(s.bytes);
    }
    expect(existsSync(join(walDir, "0000000000000000-0000000000000000.wal"))).toBe(true);

    await startEtcd();
    const after = await status();
    expect(after.memberId).toBe(before.memberId);
    expect(after.clusterId).toBe(before.clusterId);
    expect(after.revision).toBe(before.revision);
    const got = (await etcdctl("get", "--prefix", "gowal/")).trim().split("\n");
    const expected: string[] = [];
    for (let i = 0; i < PUTS; i++) expected.push(key(i), value(i));
    expect(got).toEqual(expected);

    // Go etcd appends to our file; we read its appends back.
    await etcdctl("put", "gowal/after-restart", "yes");
    await stopEtcd();
    const again = await readGoWal(walDir);
    expect(again.tornTail).toBeUndefined();
    expect(putKeys(again)).toContain("gowal/after-restart");
    expect(again.entries.length).toBeGreaterThan(c.entries.length);
    expect(again.hardState.commit!).toBeGreaterThan(c.hardState.commit!);
  }, 60_000);
});
