import { constants } from "node:fs";
import { access, lstat, mkdir, open, readFile, readdir, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { Backend, consistentIndexKey, type WriteOp } from "@etcd-ts/backend";
import { BboltReader } from "@etcd-ts/bbolt";
import { etcdraftpb, etcdserverpb, raftpb, serverpb, walpb } from "@etcd-ts/proto";
import { readGoSnap, readGoWal, readGoWalSnapshots, WAL, type GoWalContents } from "@etcd-ts/wal";
import { FP } from "../failpoint.js";
import { hexId } from "../ids.js";
import type { Logger } from "../log.js";
import { Membership } from "../membership.js";
import { MEMBERSHIP_KEY, MembershipStore } from "../membership_store.js";
import { decodeConsistentIndex } from "../apply/apply_loop.js";
import { GoEntryConverter } from "./go_entries.js";
import { EtcdImport } from "./layout.js";
import { membersFromV2Store } from "./v2_store_members.js";
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

/** separateWal tells by name whether the WAL directory is not <member>/wal (enough to find an interrupted conversion's directories). */
function separateWal(p: GoDataDirPaths): boolean {
  return resolve(p.wal) !== resolve(join(p.member, "wal"));
}

/**
 * walIsSeparate tells, by real path, whether the WAL directory is not <member>/wal, and refuses
 * placements the conversion cannot handle: a WAL directory elsewhere inside the member
 * directory (it would be moved aside with it), or one that cannot be renamed aside (a mount
 * point, or a parent directory this process cannot write).
 */
async function walIsSeparate(p: GoDataDirPaths): Promise<boolean> {
  const real = (x: string): Promise<string> => realpath(x).catch(() => resolve(x));
  const wal = await real(p.wal);
  const member = await real(p.member);
  if (wal === join(member, "wal")) return false;
  if (wal.startsWith(member + sep)) {
    throw new Error(`etcdserver: cannot convert the Go etcd data directory: the WAL directory ${p.wal} is inside ${p.member} but is not its wal directory`);
  }
  const [st, parent] = await Promise.all([stat(wal), stat(dirname(wal))]);
  if (st.dev !== parent.dev) {
    throw new Error(
      `etcdserver: cannot convert the Go etcd data directory: the WAL directory ${p.wal} is a mount point, and the conversion renames it aside; move the WAL files into a directory below the mount point and pass that as --wal-dir`,
    );
  }
  try {
    await access(dirname(wal), constants.W_OK);
  } catch {
    throw new Error(`etcdserver: cannot convert the Go etcd data directory: ${dirname(wal)} is not writable (the conversion renames ${p.wal} aside)`);
  }
  return true;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}

/** isFile tells whether path is a regular file; a path that does not exist is not, any other error is thrown. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isFile();
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** exists tells whether path exists; an error other than "does not exist" is thrown. */
async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
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
  let buildingWal = separateWal(p) ? `${p.wal}${CONVERTING_SUFFIX}` : join(building, "wal");
  if (await isFile(join(building, CONVERTED_MARKER))) {
    logger.info("finishing an interrupted conversion of a Go etcd data directory", { "member-dir": p.member });
    await swapIn(p, building, separateWal(p) ? buildingWal : undefined);
    return undefined;
  }
  const separate = await walIsSeparate(p);
  const asideMember = `${p.member}${GO_ASIDE_SUFFIX}`;
  const asideWal = separate ? `${p.wal}${GO_ASIDE_SUFFIX}` : undefined;
  for (const a of [asideMember, asideWal]) {
    if (a !== undefined && (await exists(a))) {
      throw new Error(`etcdserver: cannot convert the Go etcd data directory: ${a} already exists (originals of an earlier conversion?)`);
    }
  }
  if (separate !== separateWal(p)) buildingWal = join(building, "wal");
  await rm(building, { recursive: true, force: true });
  if (separate) await rm(buildingWal, { recursive: true, force: true });

  try {
    const walFiles = await readdir(p.wal).then(
      (ns) => ns.filter((n) => n.endsWith(".wal")),
      (err: unknown) => {
        if (isNotFound(err)) return [];
        throw err;
      },
    );
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
      refuseNewerEtcd(imp, dbPath);

      // 2b. The log, converted, and the member list as of the consistent index: Go etcd 3.4's
      // record of the members is its v2 store (the snapshot's data), changed by every
      // membership entry after the snapshot; the entries after the consistent index are left
      // to etcd-ts's apply loop.
      const converter = new GoEntryConverter(opts.hashPassword);
      const entries: raftpb.Entry[] = [];
      for (const e of contents.entries) entries.push(await converter.convert(e));
      const membership = replayMembership(
        snap.snapshot?.data !== undefined ? membersFromV2Store(snap.snapshot.data, clusterId) : new Membership(clusterId, new Map()),
        entries.filter((e) => e.index <= consistentIndex),
        memberId,
        logger,
      );
      if (membership.members.size === 0) throw new Error(`etcdserver: the Go etcd data directory ${p.member} names no members (no snapshot and no conf change in its WAL)`);
      await backend.write([{ type: "put", key: MEMBERSHIP_KEY, value: membership.encode() }], { sync: true });
      await backend.sync();

      await mkdir(buildingWal, { recursive: true, mode: 0o700 });
      const wal = await WAL.create(buildingWal, Buffer.from(walpb.WalMetadata.encode({ memberId, clusterId }).finish()));
      try {
        if (snapMeta !== undefined) {
          await wal.saveSnapshot({ index: snapIndex, term: snapTerm, confState: confState(snapMeta.confState) });
        }
        for (let i = 0; i < entries.length; i += WAL_BATCH_ENTRIES) {
          await wal.save(undefined, entries.slice(i, i + WAL_BATCH_ENTRIES));
        }
        const hs = contents.hardState;
        await wal.save({ term: hs.term ?? 0n, vote: hs.vote ?? 0n, commit: hs.commit ?? 0n }, []);
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
      if (separate) await syncDir(buildingWal);
      await syncDir(dirname(resolve(building)));
      await swapIn(p, building, separate ? buildingWal : undefined);

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
      if (separate) await rm(buildingWal, { recursive: true, force: true }).catch(() => undefined);
    }
    throw err;
  }
}

/**
 * replayMembership applies the membership entries (conf changes, member attributes, cluster
 * version) among the converted entries to ms, as etcd-ts's apply loop would, and returns it.
 */
function replayMembership(ms: Membership, entries: readonly raftpb.Entry[], memberId: bigint, logger: Logger): Membership {
  const store = new MembershipStore(ms, { put: () => undefined }, memberId, logger);
  for (const e of entries) {
    if (e.type === raftpb.EntryType.ENTRY_CONF_CHANGE) {
      const cc = raftpb.ConfChange.decode(e.data);
      store.applyConfChange(cc, serverpb.ConfChangeContext.decode(cc.context));
    } else if (e.data.length > 0) {
      const req = serverpb.InternalRaftRequest.decode(e.data);
      if (req.memberAttributes !== undefined) store.applyMemberAttributes(req.memberAttributes);
      if (req.clusterVersionSet !== undefined) store.applyClusterVersion(req.clusterVersionSet.ver);
    }
  }
  return store.current;
}

/**
 * refuseNewerEtcd refuses a backend written by etcd 3.5 or later, whose log and backend hold
 * records etcd 3.4 does not have (its `meta` bucket has `term` and `confState`).
 */
function refuseNewerEtcd(imp: EtcdImport, dbPath: string): void {
  const newer = imp.skipped.filter((k) => k === "meta/term" || k === "meta/confState");
  if (newer.length > 0) {
    throw new Error(
      `etcdserver: ${dbPath} was written by etcd 3.5 or later (its meta bucket has ${newer.join(", ")}); etcd-ts converts etcd 3.4 data directories only: restore an etcdctl snapshot instead`,
    );
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
 * buildingWal is the WAL built in a directory of its own (a separate --wal-dir), undefined
 * when it was built inside the member directory.
 */
async function swapIn(p: GoDataDirPaths, building: string, buildingWal: string | undefined): Promise<void> {
  const moveAside = async (from: string, aside: string): Promise<void> => {
    if (!(await exists(from))) return;
    if (await exists(aside)) throw new Error(`etcdserver: cannot keep the Go etcd originals of ${from}: ${aside} already exists`);
    await rename(from, aside);
  };
  if (buildingWal !== undefined && (await exists(buildingWal))) {
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
