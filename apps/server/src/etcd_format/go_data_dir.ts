import { lstat, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Backend, consistentIndexKey, type WriteOp } from "@etcd-ts/backend";
import { BboltReader } from "@etcd-ts/bbolt";
import { etcdraftpb, etcdserverpb, raftpb, walpb } from "@etcd-ts/proto";
import { readGoSnap, readGoWal, readGoWalSnapshots, WAL, type GoWalContents } from "@etcd-ts/wal";
import { FP } from "../failpoint.js";
import { hexId } from "../ids.js";
import type { Logger } from "../log.js";
import { MEMBERSHIP_KEY } from "../membership_store.js";
import { decodeConsistentIndex } from "../apply/apply_loop.js";
import { GoEntryConverter } from "./go_entries.js";
import { EtcdImport } from "./layout.js";
import { syncDir } from "../fs_sync.js";

/**
 * Starting etcd-ts on a data directory Go etcd 3.4 wrote (a stopped member, or the output of
 * `etcdctl snapshot restore`). The directory is converted once, before anything opens it:
 *
 * 1. The Go state is read as etcd 3.4's NewServer reads it: the newest .snap file the WAL has
 *    a snapshot record for, the WAL from that snapshot on (a torn tail ends the log, as Go's
 *    repair would cut it; any other damage refuses the start with Go's message), the bbolt
 *    backend (or the `<index>.snap.db` received with the snapshot when the backend is older).
 * 2. The etcd-ts member is built beside it, in `<data-dir>/member.converting` (and
 *    `<wal-dir>.converting` with --wal-dir): the backend records from etcd's buckets (keys with
 *    their revisions, leases, auth, alarms, compaction marks, consistent index, the member
 *    list from the `members` buckets and the cluster ID from the WAL), and a WAL with the same
 *    member and cluster IDs, the Go snapshot's index, term and conf state, the hard state and
 *    every entry after the snapshot converted with its index and term (go_entries.ts). The
 *    entries after the consistent index are applied by etcd-ts's own apply loop once it starts.
 * 3. A marker file says the new member is complete; then the Go directories are renamed aside
 *    (`<data-dir>/member.go-etcd`, `<wal-dir>.go-etcd`), never changed, and the new ones take
 *    their places. A crash before the marker leaves the Go files where they were (the partial
 *    conversion is removed at the next start); after it, the next start finishes the renames.
 */

/** GO_ASIDE_SUFFIX names where the original Go etcd directories are kept. */
export const GO_ASIDE_SUFFIX = ".go-etcd";
/** CONVERTING_SUFFIX names the directories the etcd-ts member is built in. */
const CONVERTING_SUFFIX = ".converting";
/** CONVERTED_MARKER is the file that says the built member is complete. */
const CONVERTED_MARKER = "CONVERTED";
/** IMPORT_BATCH_BYTES bounds one backend write while importing etcd's buckets. */
const IMPORT_BATCH_BYTES = 4 * 1024 * 1024;
/** WAL_BATCH_ENTRIES bounds one WAL write while copying the converted log. */
const WAL_BATCH_ENTRIES = 1024;

/** GoDataDirPaths are the directories a conversion reads and writes. */
export interface GoDataDirPaths {
  /** member is <data-dir>/member. */
  member: string;
  /** wal is the WAL directory: --wal-dir, or <member>/wal. */
  wal: string;
}

/** GoConversionOptions: how passwords found in the Go log are hashed (etcd-ts's log carries bcrypt hashes). */
export interface GoConversionOptions {
  hashPassword: (password: string) => Promise<Buffer>;
}

function separateWal(p: GoDataDirPaths): boolean {
  return resolve(p.wal) !== resolve(join(p.member, "wal"));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * isGoDataDir reports whether member holds a Go etcd member: its backend, member/snap/db, is
 * a bbolt file (etcd-ts's is a RocksDB directory), or a finished conversion waits for its
 * renames.
 */
export async function isGoDataDir(p: GoDataDirPaths): Promise<boolean> {
  if (await isFile(join(`${p.member}${CONVERTING_SUFFIX}`, CONVERTED_MARKER))) return true;
  return isFile(join(p.member, "snap", "db"));
}

/** GoConversion says what convertGoDataDir did, for its log line and tests. */
export interface GoConversion {
  memberId: bigint;
  clusterId: bigint;
  consistentIndex: bigint;
  snapshotIndex: bigint;
  entries: number;
  /** entriesToApply are the entries after the consistent index: etcd-ts's apply loop applies them at start. */
  entriesToApply: number;
  backendRecords: number;
  members: number;
  v2Dropped: number;
  tornTail: boolean;
  asideMember: string;
  asideWal: string | undefined;
}

/**
 * convertGoDataDir converts the Go etcd member at p into an etcd-ts member in place (see the
 * file comment) and returns what it did; undefined when it only finished an interrupted
 * conversion's renames. It refuses (throws) when the originals' aside place is taken or the
 * Go files are damaged beyond what Go etcd repairs.
 */
export async function convertGoDataDir(p: GoDataDirPaths, opts: GoConversionOptions, logger: Logger): Promise<GoConversion | undefined> {
  const building = `${p.member}${CONVERTING_SUFFIX}`;
  const buildingWal = separateWal(p) ? `${p.wal}${CONVERTING_SUFFIX}` : join(building, "wal");
  if (await isFile(join(building, CONVERTED_MARKER))) {
    logger.info("finishing an interrupted conversion of a Go etcd data directory", { "member-dir": p.member });
    await swapIn(p, building, buildingWal);
    return undefined;
  }
  const asideMember = `${p.member}${GO_ASIDE_SUFFIX}`;
  const asideWal = separateWal(p) ? `${p.wal}${GO_ASIDE_SUFFIX}` : undefined;
  for (const a of [asideMember, asideWal]) {
    if (a !== undefined && (await exists(a))) {
      throw new Error(`etcdserver: cannot convert the Go etcd data directory: ${a} already exists (originals of an earlier conversion?)`);
    }
  }
  await rm(building, { recursive: true, force: true });
  if (separateWal(p)) await rm(buildingWal, { recursive: true, force: true });

  try {
    const walFiles = await readdir(p.wal).then((ns) => ns.filter((n) => n.endsWith(".wal")), () => []);
    if (walFiles.length === 0) {
      throw new Error(`etcdserver: ${join(p.member, "snap", "db")} is a Go etcd backend, but ${p.wal} holds no WAL files to start it from`);
    }
    await refuseIfLocked(p.wal);
    const started = Date.now();
    const snapDir = join(p.member, "snap");
    // 1. The Go state, as etcd 3.4's NewServer reads it.
    const walSnaps = await readGoWalSnapshots(p.wal);
    const snap = await readGoSnap(snapDir, { matching: walSnaps });
    for (const b of snap.broken) logger.warn("failed to read a snapshot file; skipped", { path: join(snapDir, b.file), error: b.reason });
    const snapMeta = snap.snapshot?.metadata;
    const snapIndex = snapMeta?.index ?? 0n;
    const snapTerm = snapMeta?.term ?? 0n;
    let contents: GoWalContents;
    try {
      contents = await readGoWal(p.wal, { fromSnapshot: { index: snapIndex, term: snapTerm } });
    } catch (err) {
      throw new Error(`etcdserver: failed to read WAL, cannot be repaired: ${(err as Error).message}`);
    }
    if (contents.tornTail !== undefined) {
      // Go etcd truncates the last file here (wal.Repair) and reads again; the original stays
      // untouched here and the converted log simply ends before the torn record.
      logger.info("repaired WAL", { file: contents.tornTail.file, offset: contents.tornTail.offset, error: contents.tornTail.reason });
    }
    if (contents.metadata === undefined) throw new Error(`etcdserver: the Go etcd WAL in ${p.wal} holds no metadata record`);
    const meta = etcdserverpb.Metadata.decode(contents.metadata);
    const memberId = meta.NodeID ?? 0n;
    const clusterId = meta.ClusterID ?? 0n;
    if (memberId === 0n || clusterId === 0n) throw new Error(`etcdserver: the Go etcd WAL metadata names no member or cluster ID`);

    // 2a. The backend: member/snap/db, unless Go etcd stopped after saving a snapshot from the
    // leader but before installing the backend received with it (recoverSnapshotBackend).
    let dbPath = join(snapDir, "db");
    if (snapIndex > (await bboltConsistentIndex(dbPath))) {
      dbPath = join(snapDir, `${snapIndex.toString(16).padStart(16, "0")}.snap.db`);
      if (!(await isFile(dbPath))) {
        throw new Error(`etcdserver: failed to recover v3 backend from snapshot: failed to find database snapshot file (snap: snapshot file doesn't exist)`);
      }
    }
    await mkdir(join(building, "snap"), { recursive: true, mode: 0o700 });
    const imp = new EtcdImport();
    const backend = await Backend.open(join(building, "snap", "db"));
    let records = 0;
    try {
      const consistentIndex = await importBbolt(dbPath, imp, backend, (n) => (records += n));
      const membership = imp.membership(clusterId);
      if (membership.members.size === 0) throw new Error(`etcdserver: the Go etcd backend ${dbPath} holds no members`);
      await backend.write([{ type: "put", key: MEMBERSHIP_KEY, value: membership.encode() }], { sync: true });
      await backend.sync();

      // 2b. The WAL.
      const converter = new GoEntryConverter(opts.hashPassword);
      const wal = await WAL.create(buildingWal, Buffer.from(walpb.WalMetadata.encode({ memberId, clusterId }).finish()));
      try {
        if (snapMeta !== undefined) {
          await wal.saveSnapshot({ index: snapIndex, term: snapTerm, confState: confState(snapMeta.confState) });
        }
        let batch: raftpb.Entry[] = [];
        for (const e of contents.entries) {
          batch.push(await converter.convert(e));
          if (batch.length >= WAL_BATCH_ENTRIES) {
            await wal.save(undefined, batch);
            batch = [];
          }
        }
        const hs = contents.hardState;
        await wal.save({ term: hs.term ?? 0n, vote: hs.vote ?? 0n, commit: hs.commit ?? 0n }, batch);
      } finally {
        await wal.close();
      }
      await backend.close();

      // 3. Mark complete, then swap.
      if (FP.goConvertBeforeMark.armed) await FP.goConvertBeforeMark.hit();
      await writeFile(join(building, CONVERTED_MARKER), `converted from ${p.member} at ${new Date().toISOString()}\n`, { flag: "wx" });
      const fh = await open(join(building, CONVERTED_MARKER), "r");
      await fh.sync().finally(() => fh.close());
      await syncDir(building);
      if (separateWal(p)) await syncDir(buildingWal);
      await syncDir(dirname(resolve(building)));
      await swapIn(p, building, buildingWal);

      const toApply = contents.entries.filter((e) => (e.Index ?? 0n) > consistentIndex).length;
      const result: GoConversion = {
        memberId,
        clusterId,
        consistentIndex,
        snapshotIndex: snapIndex,
        entries: contents.entries.length,
        entriesToApply: toApply,
        backendRecords: records,
        members: membership.members.size,
        v2Dropped: converter.stats.v2Dropped,
        tornTail: contents.tornTail !== undefined,
        asideMember,
        asideWal,
      };
      logger.info("converted a Go etcd data directory to etcd-ts", {
        "local-member-id": hexId(memberId),
        "cluster-id": hexId(clusterId),
        "consistent-index": consistentIndex.toString(),
        "snapshot-index": snapIndex.toString(),
        "wal-entries": contents.entries.length,
      "entries-to-apply": toApply,
        "backend-records": records,
        members: membership.members.size,
        "v2-requests-dropped": converter.stats.v2Dropped,
        "originals-kept-in": asideWal === undefined ? asideMember : `${asideMember}, ${asideWal}`,
        took: `${Date.now() - started}ms`,
      });
      if (imp.skipped.length > 0) logger.warn("skipped etcd backend entries etcd-ts keeps no record of", { entries: imp.skipped.slice(0, 20) });
      if (converter.stats.v2Dropped > 0) {
        logger.warn("dropped v2 requests from the Go etcd log: etcd-ts keeps no v2 store", { count: converter.stats.v2Dropped });
      }
      return result;
    } catch (err) {
      await backend.close().catch(() => undefined);
      throw err;
    }

  } catch (err) {
    // A conversion that did not complete leaves nothing behind: the Go files were not touched.
    if (!(await isFile(join(building, CONVERTED_MARKER)))) {
      await rm(building, { recursive: true, force: true }).catch(() => undefined);
      if (separateWal(p)) await rm(buildingWal, { recursive: true, force: true }).catch(() => undefined);
    }
    throw err;
  }
}

/** confState maps Go's ConfState to etcd-ts's. */
function confState(c: etcdraftpb.ConfState | undefined): raftpb.ConfState {
  return {
    voters: [...(c?.voters ?? [])],
    learners: [...(c?.learners ?? [])],
    votersOutgoing: [...(c?.votersOutgoing ?? [])],
    learnersNext: [...(c?.learnersNext ?? [])],
    autoLeave: c?.autoLeave ?? false,
  };
}

/**
 * importBbolt writes the records of etcd's buckets in the bbolt file at path into backend, in
 * bounded batches, and returns the consistent index they hold.
 */
async function importBbolt(path: string, imp: EtcdImport, backend: Backend, counted: (n: number) => void): Promise<bigint> {
  const reader = await BboltReader.open(path);
  try {
    let batch: WriteOp[] = [];
    let bytes = 0;
    let ci: Buffer | undefined;
    for await (const name of reader.buckets()) {
      const bucket = await reader.bucket(name);
      if (bucket === undefined) continue;
      for await (const e of bucket.entries()) {
        if (e.kind !== "value") throw new Error(`etcd format: nested bucket ${e.key.toString()} in bucket ${name.toString()}`);
        for (const op of imp.add(name.toString("latin1"), e.key, e.value)) {
          if (op.type === "put" && op.key.equals(consistentIndexKey)) ci = op.value;
          batch.push(op);
          bytes += op.key.length + (op.type === "put" ? op.value.length : 0);
        }
        if (bytes >= IMPORT_BATCH_BYTES) {
          await backend.write(batch);
          counted(batch.length);
          batch = [];
          bytes = 0;
        }
      }
    }
    await backend.write(batch);
    counted(batch.length);
    return decodeConsistentIndex(ci);
  } finally {
    await reader.close();
  }
}

/**
 * swapIn renames the Go directories aside and the built ones into their places; each step
 * checks what is already done, so an interrupted swap is finished by running it again.
 */
async function swapIn(p: GoDataDirPaths, building: string, buildingWal: string): Promise<void> {
  const moveAside = async (from: string, aside: string): Promise<void> => {
    if (!(await exists(from))) return;
    if (await exists(aside)) throw new Error(`etcdserver: cannot keep the Go etcd originals of ${from}: ${aside} already exists`);
    await rename(from, aside);
  };
  if (separateWal(p) && (await exists(buildingWal))) {
    await moveAside(p.wal, `${p.wal}${GO_ASIDE_SUFFIX}`);
    await rename(buildingWal, p.wal);
    await syncDir(dirname(resolve(p.wal)));
  }
  if (await exists(building)) {
    await moveAside(p.member, `${p.member}${GO_ASIDE_SUFFIX}`);
    if (FP.goConvertMidSwap.armed) await FP.goConvertMidSwap.hit();
    await rename(building, p.member);
    await syncDir(dirname(resolve(p.member)));
  }
}

/** bboltConsistentIndex reads etcd's meta/consistent_index from a bbolt backend file (0 when absent). */
async function bboltConsistentIndex(path: string): Promise<bigint> {
  const reader = await BboltReader.open(path);
  try {
    const meta = await reader.bucket(Buffer.from("meta"));
    const v = await meta?.get(Buffer.from("consistent_index"));
    return decodeConsistentIndex(v === undefined ? undefined : Buffer.from(v));
  } finally {
    await reader.close();
  }
}

/**
 * refuseIfLocked refuses to convert while a Go etcd still runs on the WAL: Go etcd holds an
 * exclusive lock on its WAL files (an open file description lock on Linux, flock elsewhere),
 * which Linux lists in /proc/locks (where there is no /proc/locks the check is skipped).
 */
async function refuseIfLocked(walDir: string): Promise<void> {
  let locks: string;
  try {
    locks = await readFile("/proc/locks", "utf8");
  } catch {
    return;
  }
  const held = new Map<string, string>();
  for (const line of locks.split("\n")) {
    // "1: OFDLCK ADVISORY  WRITE -1 fe:00:2326612 0 EOF" (blocked waiters have "->" and are skipped).
    const f = line.trim().split(/\s+/);
    if (f.length >= 6 && f[1] !== "->" && f[5] !== undefined) held.set(f[5], f[4] ?? "-1");
  }
  const names = (await readdir(walDir)).filter((n) => n.endsWith(".wal"));
  for (const name of names) {
    const st = await stat(join(walDir, name), { bigint: true });
    const major = (st.dev >> 8n) & 0xfffn;
    const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & 0xfff00n);
    const pid = held.get(`${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}:${st.ino}`);
    if (pid !== undefined) {
      const by = pid === "-1" ? "another process" : `process ${pid}`;
      throw new Error(`etcdserver: the Go etcd WAL file ${join(walDir, name)} is locked by ${by}: stop that etcd before starting etcd-ts on its data directory`);
    }
  }
}
