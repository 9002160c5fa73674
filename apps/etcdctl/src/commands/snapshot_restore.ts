import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { access, chmod, copyFile, mkdir, open, rename, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { BboltReader, type BboltBucket, type BboltBucketInput, type BboltEntryInput, writeBboltFile } from "@etcd-ts/bbolt";
import { etcdraftpb, etcdserverpb } from "@etcd-ts/proto";
import { GoWalWriter, writeGoSnap } from "@etcd-ts/wal";
import type { Command, CommandSpec } from "../cli/command.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { goPathError } from "../ctl/snapshot_status.js";
import {
  memberContextJson,
  newClusterFromUrlsMap,
  newUrls,
  newUrlsMap,
  v2StoreJson,
  verifyBootstrap,
  type RestoreCluster,
} from "../ctl/restore_cluster.js";
import { goQuote } from "../printer/goformat.js";
import { hasChecksum, SHA256_SIZE, zapLine } from "./snapshot.js";

/** RestoreConfig is clientv3/snapshot's RestoreConfig as etcdctl fills it. */
interface RestoreConfig {
  snapshotPath: string;
  name: string;
  dataDir: string;
  walDir: string;
  peerUrls: string[];
  initialCluster: string;
  token: string;
  skipHashCheck: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** goBytes is Go's %v of a []byte: decimal bytes in brackets. */
function goBytes(b: Uint8Array): string {
  return `[${Array.from(b).join(" ")}]`;
}

const BUCKET_KEY = Buffer.from("key");
const BUCKET_META = Buffer.from("meta");
const BUCKET_LEASE = Buffer.from("lease");
const BUCKET_MEMBERS = Buffer.from("members");
const BUCKET_MEMBERS_REMOVED = Buffer.from("members_removed");
const CONSISTENT_INDEX = Buffer.from("consistent_index");
/** REV_BYTES_LEN is an mvcc revision key's size (8-byte main, '_', 8-byte sub); a tombstone appends 't'. */
const REV_BYTES_LEN = 17;

/** bucketEntries copies a bucket's elements, nested buckets included. */
async function* bucketEntries(b: BboltBucket): AsyncGenerator<BboltEntryInput> {
  for await (const e of b.entries()) {
    if (e.kind === "value") yield [e.key, e.value];
    else yield { name: e.key, sequence: e.bucket.sequence, entries: bucketEntries(e.bucket) };
  }
}

/** userKeyOf reads field 1 (key) of a marshaled mvccpb.KeyValue. */
function userKeyOf(value: Buffer): Buffer | undefined {
  let i = 0;
  while (i < value.length) {
    let tag = 0;
    let shift = 0;
    for (;;) {
      const b = value[i++];
      if (b === undefined) return undefined;
      tag += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    const wire = tag & 7;
    const field = Math.floor(tag / 8);
    if (wire === 0) {
      while ((value[i++] ?? 0) >= 0x80) if (i > value.length) return undefined;
    } else if (wire === 2) {
      let len = 0;
      shift = 0;
      for (;;) {
        const b = value[i++];
        if (b === undefined) return undefined;
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (b < 0x80) break;
      }
      if (field === 1) return value.subarray(i, i + len);
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return undefined;
  }
  return undefined;
}

/**
 * rewriteDb turns the copied snapshot into the restored member's backend as Go's saveDB ends
 * up doing: every bucket kept as it is (page size and bucket sequences too), the buckets
 * mvcc and the lessor create when missing (`key`, `meta`, `lease`) added, and
 * meta/consistent_index set to the number of members (8 bytes big-endian). Go's saveDB
 * "deletes" the old members with the mvcc transaction's DeleteRange on each key of the
 * `members` and `members_removed` buckets: that leaves both buckets untouched (they are
 * kept here too) and deletes a user key only if one is named like such a member ID (hex), by
 * a tombstone at the next revision; this does the same.
 */
async function rewriteDb(io: Io, dbPath: string, memberCount: number): Promise<void> {
  const tmp = `${dbPath}.restore`;
  const db = await BboltReader.open(dbPath);
  try {
    const names: Buffer[] = [];
    for await (const n of db.buckets()) names.push(Buffer.from(n));
    for (const n of [BUCKET_KEY, BUCKET_META, BUCKET_LEASE]) if (!names.some((x) => x.equals(n))) names.push(n);
    names.sort(Buffer.compare);

    // The member keys Go's DeleteRange looks up in the key space, in its order.
    const memberKeys: Buffer[] = [];
    for (const n of [BUCKET_MEMBERS, BUCKET_MEMBERS_REMOVED]) {
      const b = await db.bucket(n);
      if (b === undefined) continue;
      for await (const e of b.entries()) memberKeys.push(Buffer.from(e.key));
    }
    const wanted = new Set(memberKeys.map((k) => k.toString("latin1")));
    /** live tells, for each wanted user key seen, whether its latest revision is not a tombstone. */
    const live = new Map<string, boolean>();
    let lastMain = 0n;

    const index = Buffer.alloc(8);
    index.writeBigUInt64BE(BigInt(memberCount));
    const meta = await db.bucket(BUCKET_META);
    let compactMain = 0n;

    async function* keyEntries(b: BboltBucket | undefined): AsyncGenerator<BboltEntryInput> {
      if (b !== undefined) {
        for await (const e of b.entries()) {
          if (e.kind === "value") {
            if (e.key.length >= REV_BYTES_LEN) lastMain = e.key.readBigInt64BE(0);
            if (wanted.size > 0) {
              const k = userKeyOf(e.value);
              if (k !== undefined && wanted.has(k.toString("latin1"))) live.set(k.toString("latin1"), e.key.length === REV_BYTES_LEN);
            }
            yield [e.key, e.value];
          } else {
            yield { name: e.key, sequence: e.bucket.sequence, entries: bucketEntries(e.bucket) };
          }
        }
      }
      // Go's restore: currentRev is the last revision seen, or the compacted one if higher.
      let current = lastMain > compactMain ? lastMain : compactMain;
      if (current < 1n) current = 1n;
      let sub = 0n;
      const deleted = new Set<string>();
      for (const k of memberKeys) {
        const ks = k.toString("latin1");
        if (live.get(ks) !== true || deleted.has(ks)) continue;
        deleted.add(ks);
        const rev = Buffer.alloc(REV_BYTES_LEN + 1);
        rev.writeBigInt64BE(current + 1n, 0);
        rev[8] = 0x5f;
        rev.writeBigInt64BE(sub++, 9);
        rev[REV_BYTES_LEN] = 0x74;
        // mvccpb.KeyValue{Key: k} as gogoproto marshals it (zero fields left out).
        yield [rev, Buffer.concat([Buffer.from([0x0a]), varint(k.length), k])];
      }
    }

    async function* metaEntries(b: BboltBucket | undefined): AsyncGenerator<BboltEntryInput> {
      let put = false;
      if (b !== undefined) {
        for await (const e of b.entries()) {
          if (!put && Buffer.compare(e.key, CONSISTENT_INDEX) >= 0) {
            yield [CONSISTENT_INDEX, index];
            put = true;
            if (e.key.equals(CONSISTENT_INDEX)) continue;
          }
          if (e.kind === "value") yield [e.key, e.value];
          else yield { name: e.key, sequence: e.bucket.sequence, entries: bucketEntries(e.bucket) };
        }
      }
      if (!put) yield [CONSISTENT_INDEX, index];
    }

    if (meta !== undefined) {
      const fin = await meta.get(Buffer.from("finishedCompactRev"));
      if (fin !== undefined && fin.length >= 8) {
        compactMain = fin.readBigInt64BE(0);
        zapLine(io, "mvcc/kvstore.go:388", "restored last compact revision", {
          "meta-bucket-name": "meta",
          "meta-bucket-name-key": "finishedCompactRev",
          "restored-compact-revision": Number(compactMain),
        });
      }
    }

    async function* source(): AsyncGenerator<BboltBucketInput> {
      for (const name of names) {
        const b = await db.bucket(name);
        const sequence = b?.sequence ?? 0n;
        if (name.equals(BUCKET_KEY)) yield { name, sequence, entries: keyEntries(b) };
        else if (name.equals(BUCKET_META)) yield { name, sequence, entries: metaEntries(b) };
        else yield { name, sequence, entries: b === undefined ? [] : bucketEntries(b) };
      }
    }
    await writeBboltFile(tmp, source(), { pageSize: db.pageSize });
  } finally {
    await db.close();
  }
  await chmod(tmp, 0o600);
  await rename(tmp, dbPath);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** sha256File hashes a file's bytes, streaming. */
async function sha256File(path: string): Promise<Buffer> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest();
}

/** saveDb is Go's saveDB: copy the snapshot to <snap-dir>/db, cut and check the SHA-256 trailer, then make it the new member's backend. */
async function saveDb(io: Io, cfg: RestoreConfig, snapDir: string, cluster: RestoreCluster): Promise<void> {
  let f;
  try {
    f = await open(cfg.snapshotPath, "r");
  } catch (e) {
    throw new Error(goPathError("open", cfg.snapshotPath, e));
  }
  const sha = Buffer.alloc(SHA256_SIZE);
  try {
    const st = await f.stat();
    if (st.isDirectory()) throw new Error(`read ${cfg.snapshotPath}: is a directory`);
    if (st.size < SHA256_SIZE) throw new Error(`seek ${cfg.snapshotPath}: invalid argument`);
    await f.read(sha, 0, SHA256_SIZE, st.size - SHA256_SIZE);
  } finally {
    await f.close();
  }
  await mkdir(snapDir, { recursive: true, mode: 0o700 });
  const dbPath = join(snapDir, "db");
  await copyFile(cfg.snapshotPath, dbPath);
  await chmod(dbPath, 0o600);
  const size = (await stat(dbPath)).size;
  const hasHash = hasChecksum(size);
  if (hasHash) await truncate(dbPath, size - SHA256_SIZE);
  if (!hasHash && !cfg.skipHashCheck) throw new Error("snapshot missing hash but --skip-hash-check=false");
  if (hasHash && !cfg.skipHashCheck) {
    const dbsha = await sha256File(dbPath);
    if (!dbsha.equals(sha)) throw new Error(`expected sha256 ${goBytes(sha)}, got ${goBytes(dbsha)}`);
  }
  await rewriteDb(io, dbPath, cluster.members.length);
}

/**
 * zapSampler is the sampling of etcdctl's zap.NewProduction() logger for one message: within
 * each second from the first entry, the first 100 entries are written, then every 100th.
 * It matters for clusters of more than 100 members ("added member" once per member).
 */
function zapSampler(io: Io): () => boolean {
  let count = 0;
  let resetAt = 0;
  return () => {
    const t = io.now().getTime();
    if (count === 0 || t > resetAt) {
      count = 0;
      resetAt = t + 1000;
    }
    count++;
    return count <= 100 || (count - 100) % 100 === 0;
  };
}

/** saveWalAndSnap is Go's saveWALAndSnap: a WAL holding the members' ConfChangeAddNode entries and hard state, and a .snap with the v2 store at that index. */
async function saveWalAndSnap(io: Io, cfg: RestoreConfig, snapDir: string, cluster: RestoreCluster): Promise<void> {
  await mkdir(cfg.walDir, { recursive: true, mode: 0o700 });
  const cid = cluster.id.toString(16);
  const sample = zapSampler(io);
  for (const m of cluster.members) {
    if (!sample()) continue;
    zapLine(io, "membership/cluster.go:392", "added member", {
      "cluster-id": cid,
      "local-member-id": "0",
      "added-peer-id": m.id.toString(16),
      "added-peer-peer-urls": m.peerUrls,
    });
  }
  const self = cluster.members.find((m) => m.name === cfg.name);
  if (self === undefined) throw new Error(`couldn't find local name ${goQuote(cfg.name)} in the initial cluster configuration`);
  const metadata = etcdserverpb.Metadata.encode({ NodeID: self.id, ClusterID: cluster.id }).finish();
  const w = await GoWalWriter.create(cfg.walDir, metadata);
  try {
    const ents: etcdraftpb.Entry[] = cluster.members.map((m, i) => ({
      Type: etcdraftpb.EntryType.EntryConfChange,
      Term: 1n,
      Index: BigInt(i + 1),
      Data: Buffer.from(
        etcdraftpb.ConfChange.encode({
          id: 0n,
          type: etcdraftpb.ConfChangeType.ConfChangeAddNode,
          nodeId: m.id,
          context: memberContextJson(m),
        }).finish(),
      ),
    }));
    const commit = BigInt(ents.length);
    const term = 1n;
    const first = cluster.members[0];
    await w.save({ term, vote: first?.id ?? 0n, commit }, ents);
    await writeGoSnap(snapDir, {
      data: v2StoreJson(cluster),
      metadata: { index: commit, term, confState: { voters: cluster.members.map((m) => m.id), learners: [], votersOutgoing: [], learnersNext: [] } },
    });
    await w.saveSnapshot({ index: commit, term });
  } finally {
    await w.close();
  }
}

/** restore is clientv3/snapshot's v3Manager.Restore. */
async function restore(io: Io, cfg: RestoreConfig): Promise<void> {
  const peerUrls = newUrls(cfg.peerUrls);
  const ics = newUrlsMap(cfg.initialCluster);
  verifyBootstrap(cfg.name, peerUrls, ics);
  const cluster = newClusterFromUrlsMap(cfg.token, ics);
  if (await exists(cfg.dataDir)) throw new Error(`data-dir ${goQuote(cfg.dataDir)} exists`);
  if (await exists(cfg.walDir)) throw new Error(`wal-dir ${goQuote(cfg.walDir)} exists`);
  const snapDir = join(cfg.dataDir, "member", "snap");
  const fields = { path: cfg.snapshotPath, "wal-dir": cfg.walDir, "data-dir": cfg.dataDir, "snap-dir": snapDir };
  zapLine(io, "snapshot/v3_snapshot.go:296", "restoring snapshot", fields);
  await saveDb(io, cfg, snapDir, cluster);
  await saveWalAndSnap(io, cfg, snapDir, cluster);
  zapLine(io, "snapshot/v3_snapshot.go:309", "restored snapshot", fields);
}

/**
 * snapshotRestoreCommand is `etcdctl snapshot restore <filename>`: a Go etcd 3.4 data
 * directory (member/snap/db, member/snap/<term>-<index>.snap, member/wal) for a new cluster
 * made of --initial-cluster, from a snapshot file, as etcdctl 3.4 writes it. Like etcdctl it
 * leaves what it already wrote in place when it fails half-way.
 */
export function snapshotRestoreCommand(io: Io): CommandSpec {
  return {
    use: "restore <filename> [options]",
    short: "Restores an etcd member snapshot to an etcd directory",
    flags: [
      { name: "data-dir", kind: "string", def: "", usage: "Path to the data directory" },
      { name: "wal-dir", kind: "string", def: "", usage: "Path to the WAL directory (use --data-dir if none given)" },
      { name: "initial-cluster", kind: "string", def: "default=http://localhost:2380", usage: "Initial cluster configuration for restore bootstrap" },
      { name: "initial-cluster-token", kind: "string", def: "etcd-cluster", usage: "Initial cluster token for the etcd cluster during restore bootstrap" },
      {
        name: "initial-advertise-peer-urls",
        kind: "string",
        def: "http://localhost:2380",
        usage: "List of this member's peer URLs to advertise to the rest of the cluster",
      },
      { name: "name", kind: "string", def: "default", usage: "Human-readable name for this member" },
      { name: "skip-hash-check", kind: "bool", def: false, usage: "Ignore snapshot integrity hash value (required if copied from data directory)" },
    ],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "snapshot restore requires exactly one argument");
      const str = (name: string): string => cmd.flag(name).value as string;
      const name = str("name");
      const dataDir = str("data-dir") === "" ? `${name}.etcd` : str("data-dir");
      const walDir = str("wal-dir") === "" ? join(dataDir, "member", "wal") : str("wal-dir");
      try {
        await restore(io, {
          snapshotPath: args[0] as string,
          name,
          dataDir,
          walDir,
          peerUrls: str("initial-advertise-peer-urls").split(","),
          initialCluster: str("initial-cluster"),
          token: str("initial-cluster-token"),
          skipHashCheck: cmd.flag("skip-hash-check").value === true,
        });
      } catch (e) {
        if (e instanceof ExitError) throw e;
        exitWithError(ExitCode.Error, (e as Error)?.message ?? String(e));
      }
    },
  };
}
