import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mvccpb } from "@etcd-ts/proto";
import { REAL_ETCD, REAL_ETCDCTL, etcdFlags, freePort, run, spawnServer, stopProcess, waitHealthy, type Spawned } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BboltReader, type BboltBucket } from "./reader.js";
import { Crc32c } from "./testing/crc32c.js";
import { randomDatabase, source as modelSource, walkPages } from "./testing/model.js";
import { writeBboltFile, type BboltBucketInput, type BboltSource } from "./writer.js";

// These tests need the real etcd 3.4 and etcdctl (Debian's etcd-server and etcd-client); they
// are skipped only where those binaries are missing.
const haveEtcd = existsSync(REAL_ETCD) && existsSync(REAL_ETCDCTL);

const dir = mkdtempSync(join(tmpdir(), "bbolt-etcd-"));
const started: Spawned[] = [];
afterAll(async () => {
  for (const s of started) await stopProcess(s.proc);
  rmSync(dir, { recursive: true, force: true });
});

/** ctl runs the real etcdctl (API v3) and fails the test on a non-zero exit. */
async function ctl(args: string[]): Promise<string> {
  const res = await run(REAL_ETCDCTL, args, { env: { ETCDCTL_API: "3" }, timeoutMs: 20_000 });
  if (res.code !== 0) throw new Error(`etcdctl ${args.join(" ")}: exit ${res.code}: ${res.stderr}`);
  return res.stdout;
}

/** startEtcd starts the real etcd on dataDir (fresh or restored) with free loopback ports. */
async function startEtcd(name: string, dataDir: string, peerPort?: number): Promise<{ url: string; server: Spawned; peerUrl: string }> {
  const url = `http://127.0.0.1:${await freePort()}`;
  const peerUrl = `http://127.0.0.1:${peerPort ?? (await freePort())}`;
  const log = join(dir, `${name}.log`);
  const server = spawnServer([REAL_ETCD], etcdFlags({ name, dataDir, clientUrl: url, listenPeerUrl: peerUrl, advertisePeerUrl: peerUrl }), { logFile: log });
  started.push(server);
  await waitHealthy(url, {
    exited: () => server.proc.exitCode !== null,
    name: `etcd ${name}`,
    detail: () => (existsSync(log) ? readFileSync(log, "utf8").slice(-2000) : ""),
  });
  return { url, server, peerUrl };
}

/** gateway POSTs a JSON request to etcd's gRPC gateway and returns the JSON answer. */
async function gateway(url: string, path: string, body: unknown): Promise<{ header: { revision: string } }> {
  const res = await fetch(`${url}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as { header: { revision: string } };
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString("base64");

/** revKey is an etcd revision key: main revision (8 bytes BE), "_", sub revision (8 bytes BE). */
function revKey(main: bigint, sub: bigint): Buffer {
  const k = Buffer.alloc(17);
  k.writeBigUInt64BE(main, 0);
  k.write("_", 8);
  k.writeBigUInt64BE(sub, 9);
  return k;
}

async function entriesOf(b: BboltBucket): Promise<[Buffer, Buffer][]> {
  const out: [Buffer, Buffer][] = [];
  for await (const e of b.entries()) if (e.kind === "value") out.push([e.key, e.value]);
  return out;
}

/**
 * expectAccounted checks what bbolt's tx.Check checks: no page below the high-water mark is
 * reachable twice, or reachable and free; with a stored freelist, every page is one or the
 * other. (Without one, as etcd on Linux writes with NoFreelistSync, bbolt counts every
 * unreachable page as free.)
 */
async function expectAccounted(reader: BboltReader): Promise<{ overflowPages: number }> {
  const census = await walkPages(reader);
  const free = new Set(await reader.freePageIds());
  for (let id = 0; id < reader.highWaterPgid; id++) {
    const refs = census.pages.get(id) ?? 0;
    const ok = reader.freelistPgid === null ? refs <= 1 : refs + (free.has(id) ? 1 : 0) === 1;
    if (!ok) expect({ page: id, refs, free: free.has(id) }).toEqual({ page: id, refs: free.has(id) ? 0 : 1, free: free.has(id) });
  }
  for (const id of census.pages.keys()) expect(id).toBeLessThan(reader.highWaterPgid);
  return census;
}

describe.skipIf(!haveEtcd)("files written by Go's bbolt (the real etcd 3.4)", () => {
  const singlePuts = 1500;
  const txns = 10;
  const putsPerTxn = 100;
  const overwrites = 50;
  let writes = 0;
  let revision = 0n;
  let dataDir = "";
  let snapshotPath = "";
  const bigValue = "a".repeat(10_000);

  beforeAll(async () => {
    dataDir = join(dir, "go.etcd");
    const { url, server } = await startEtcd("go", dataDir);
    // Single puts, 16 at a time: one revision each.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < singlePuts) {
        const i = next++;
        await gateway(url, "/v3/kv/put", { key: b64(`single/${String(i).padStart(5, "0")}`), value: b64(`value ${i} `.repeat(1 + (i % 7))) });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    // Transactions of many puts: one revision, many sub-revisions.
    for (let t = 0; t < txns; t++) {
      const success = Array.from({ length: putsPerTxn }, (_, j) => ({ request_put: { key: b64(`txn/${t}/${j}`), value: b64(`t${t}j${j}`) } }));
      await gateway(url, "/v3/kv/txn", { success });
    }
    for (let i = 0; i < overwrites; i++) await gateway(url, "/v3/kv/put", { key: b64(`single/${String(i).padStart(5, "0")}`), value: b64("overwritten") });
    await gateway(url, "/v3/kv/deleterange", { key: b64("single/00100") });
    // A value larger than a page, through etcdctl as an operator would.
    await ctl(["--endpoints", url, "put", "big", bigValue]);
    writes = singlePuts + txns * putsPerTxn + overwrites + 1 + 1;
    revision = BigInt((JSON.parse(await ctl(["--endpoints", url, "get", "big", "-w", "json"])) as { header: { revision: string | number } }).header.revision);
    snapshotPath = join(dir, "go-snapshot.db");
    await ctl(["--endpoints", url, "snapshot", "save", snapshotPath]);
    await stopProcess(server.proc, "SIGTERM");
  }, 60_000);

  it("reads member/snap/db: etcd's buckets, one key-bucket entry per write, the last revision, an overflow page", async () => {
    const reader = await BboltReader.open(join(dataDir, "member", "snap", "db"));
    try {
      expect(reader.pageSize).toBe(4096);
      // etcd 3.4 on Linux opens bbolt with NoFreelistSync: the meta names no freelist page.
      expect(reader.freelistPgid).toBeNull();
      expect(await reader.freePageIds()).toEqual([]);
      const names: string[] = [];
      for await (const n of reader.buckets()) names.push(n.toString());
      expect(names).toEqual(expect.arrayContaining(["key", "meta", "lease", "members", "cluster", "auth", "authUsers", "authRoles", "alarm"]));

      const key = (await reader.bucket(Buffer.from("key")))!;
      const entries = await entriesOf(key);
      expect(entries.length).toBe(writes);
      // Revision keys sort by revision; the last one is the current revision.
      const last = entries[entries.length - 1]![0];
      expect(last.readBigUInt64BE(0)).toBe(revision);
      expect(revision).toBe(BigInt(1 + singlePuts + txns + overwrites + 1 + 1));
      // One transaction's puts share a main revision with sub revisions 0..99.
      const txnRevs = entries.filter(([k]) => k.readBigUInt64BE(9) === 99n);
      expect(txnRevs.length).toBe(txns);
      // The delete left a tombstone: an 18-byte key ending in "t".
      const tombstones = entries.filter(([k]) => k.length === 18 && k[17] === 0x74);
      expect(tombstones.length).toBe(1);
      const kv = mvccpb.KeyValue.decode(entries[entries.length - 1]![1]);
      expect(kv.key.toString()).toBe("big");
      expect(kv.value.toString()).toBe(bigValue);
      expect(await key.get(last)).toEqual(entries[entries.length - 1]![1]);

      const meta = (await reader.bucket(Buffer.from("meta")))!;
      const ci = await meta.get(Buffer.from("consistent_index"));
      expect(ci?.length).toBe(8);
      // The raft index of the last applied entry: one entry per request (a transaction is one), plus membership entries.
      expect(ci!.readBigUInt64BE(0)).toBeGreaterThan(revision - 1n);

      const census = await expectAccounted(reader);
      expect(census.overflowPages).toBeGreaterThan(0);
    } finally {
      await reader.close();
    }
  });

  it("reads the file of `etcdctl snapshot save`: bbolt pages plus a SHA-256 trailer, the same key bucket", async () => {
    const file = readFileSync(snapshotPath);
    // etcdctl 3.4 keeps the trailer: the size is 32 past a multiple of 512, the last 32 bytes the SHA-256 of the rest.
    expect(file.length % 512).toBe(32);
    expect(createHash("sha256").update(file.subarray(0, file.length - 32)).digest().equals(file.subarray(file.length - 32))).toBe(true);
    const snap = await BboltReader.open(snapshotPath);
    const db = await BboltReader.open(join(dataDir, "member", "snap", "db"));
    try {
      expect(snap.fileSize).toBe(snap.highWaterPgid * snap.pageSize + 32);
      const a = await entriesOf((await snap.bucket(Buffer.from("key")))!);
      const b = await entriesOf((await db.bucket(Buffer.from("key")))!);
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) {
        if (!a[i]![0].equals(b[i]![0]) || !a[i]![1].equals(b[i]![1])) throw new Error(`key bucket entry ${i} differs`);
      }
      await expectAccounted(snap);
    } finally {
      await snap.close();
      await db.close();
    }
  });
});

/** etcdKeyBucket is a "key" bucket of `n` keys "foo/<i>", one revision each from revision 2, with one value above a page. */
function etcdKeyBucket(n: number): BboltBucketInput {
  function* entries(): Generator<[Buffer, Buffer]> {
    for (let i = 0; i < n; i++) {
      const rev = BigInt(i + 2);
      const value = i === 7 ? Buffer.alloc(9000, 0x62) : Buffer.from(`value-${i}`);
      yield [revKey(rev, 0n), Buffer.from(mvccpb.KeyValue.encode({ key: Buffer.from(`foo/${i}`), createRevision: rev, modRevision: rev, version: 1n, value, lease: 0n }).finish())];
    }
  }
  return { name: Buffer.from("key"), entries: entries() };
}

function metaBucket(consistentIndex: bigint): BboltBucketInput {
  const ci = Buffer.alloc(8);
  ci.writeBigUInt64BE(consistentIndex);
  return { name: Buffer.from("meta"), entries: [[Buffer.from("consistent_index"), ci]] };
}

describe.skipIf(!haveEtcd)("files written by this writer, read by Go's bbolt (the real etcdctl and etcd 3.4)", () => {
  it("`etcdctl snapshot status` checks the file (bbolt's tx.Check) and reports our hash, revision, key count and size", async () => {
    const n = 1200;
    const path = join(dir, "ours-status.db");
    const source = (): BboltSource => [
      { name: Buffer.from("empty"), entries: [] },
      etcdKeyBucket(n),
      metaBucket(99n),
      { name: Buffer.from("nest"), sequence: 7n, entries: [[Buffer.from("a"), Buffer.from("1")], { name: Buffer.from("inner"), entries: [[Buffer.from("x"), Buffer.from("y")]] }] },
    ];
    const layout = await writeBboltFile(path, source(), { sync: false });
    expect(statSync(path).size).toBe(layout.highWaterPgid * 4096);

    // The hash status computes: CRC-32C over each top-level name, then each element's key and value (none for a nested bucket).
    const h = new Crc32c();
    let total = 0;
    const reader = await BboltReader.open(path);
    for await (const name of reader.buckets()) {
      h.update(name);
      for await (const e of (await reader.bucket(name))!.entries()) {
        h.update(e.key);
        if (e.kind === "value") h.update(e.value);
        total++;
      }
    }
    await reader.close();

    const status = JSON.parse(await ctl(["snapshot", "status", path, "-w", "json"])) as { hash: number; revision: number; totalKey: number; totalSize: number };
    expect(status).toEqual({ hash: h.digest(), revision: n + 1, totalKey: total, totalSize: layout.highWaterPgid * 4096 });
    expect(total).toBe(n + 1 + 2);
  });

  it("`etcdctl snapshot status` accepts random databases: nested and inline buckets, overflow pages, branch levels, page sizes 1024 and 4096", async () => {
    for (const [seed, pageSize, inlineBuckets] of [
      [1000, 4096, true],
      [32676, 1024, true],
      [72271, 4096, false],
      [40595, 1024, false],
    ] as const) {
      const path = join(dir, `random-${seed}.db`);
      const layout = await writeBboltFile(path, modelSource(randomDatabase(seed, pageSize)), { pageSize, inlineBuckets, sync: false });
      const h = new Crc32c();
      let total = 0;
      const reader = await BboltReader.open(path);
      for await (const name of reader.buckets()) {
        h.update(name);
        for await (const e of (await reader.bucket(name))!.entries()) {
          h.update(e.key);
          if (e.kind === "value") h.update(e.value);
          total++;
        }
      }
      await reader.close();
      const status = JSON.parse(await ctl(["snapshot", "status", path, "-w", "json"])) as unknown;
      expect(status, `seed ${seed}`).toEqual({ hash: h.digest(), revision: 0, totalKey: total, totalSize: layout.highWaterPgid * pageSize });
    }
  });

  it("`etcdctl snapshot restore` takes our file with a SHA-256 trailer, and etcd serves its keys", async () => {
    const n = 300;
    const path = join(dir, "ours-restore.db");
    await writeBboltFile(path, [etcdKeyBucket(n), metaBucket(BigInt(n + 10))], { sync: false });
    // As Maintenance.Snapshot sends it: the bbolt bytes, then their SHA-256.
    const body = readFileSync(path);
    writeFileSync(path, Buffer.concat([body, createHash("sha256").update(body).digest()]));

    const peerPort = await freePort();
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const restored = join(dir, "restored.etcd");
    await ctl(["snapshot", "restore", path, "--name", "r", "--data-dir", restored, "--initial-cluster", `r=${peerUrl}`, "--initial-advertise-peer-urls", peerUrl]);

    const { url, server } = await startEtcd("r", restored, peerPort);
    try {
      const got = JSON.parse(await ctl(["--endpoints", url, "get", "foo/3", "-w", "json"])) as { kvs: { key: string; value: string; mod_revision: number }[] };
      expect(Buffer.from(got.kvs[0]!.value, "base64").toString()).toBe("value-3");
      expect(got.kvs[0]!.mod_revision).toBe(5);
      const big = await ctl(["--endpoints", url, "get", "foo/7", "--print-value-only"]);
      expect(big.trim()).toBe("b".repeat(9000));
      // etcdctl 3.4 has no --count-only; a range limited to one key still reports the full count.
      const count = JSON.parse(await ctl(["--endpoints", url, "get", "foo/", "--prefix", "--limit", "1", "-w", "json"])) as { count: number; header: { revision: number } };
      expect(count.count).toBe(n);
      expect(count.header.revision).toBe(n + 1);
    } finally {
      await stopProcess(server.proc, "SIGTERM");
    }
  });
});
