import { crc32c } from "@node-rs/crc32";
import { open, readdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { etcdraftpb, etcdsnappb } from "@etcd-ts/proto";
import { goSnapshot } from "./canonical.js";
import { GoSnapError } from "./errors.js";
import { goSnapFileName } from "./names.js";
import type { GoWalSnapshotRef } from "./reader.js";

/**
 * Go etcd 3.4's .snap files (etcdserver/api/snap/snapshotter.go): "%016x-%016x.snap" (term,
 * index) holding a marshaled snappb.snapshot {crc, data}, where data is a marshaled
 * raftpb.Snapshot and crc is CRC-32C (Castagnoli) of data. etcd 3.4 keeps the v2 store's
 * JSON in the raft snapshot's data; the v3 key space is in the "db" file next to the .snap
 * files, not in them.
 */

/** SNAP_SUFFIX is the suffix Go's snapshotter looks for (".snap.db" and ".snap.broken" files do not end with it). */
const SNAP_SUFFIX = ".snap";

/**
 * readGoSnapFile is Go's snap.Read: it decodes the .snap file at path and checks its CRC. It
 * throws GoSnapError "empty" (empty file, no data or a zero crc), "crc-mismatch" or
 * "bad-snapshot" (the body or the raftpb.Snapshot does not decode).
 */
export async function readGoSnapFile(path: string): Promise<etcdraftpb.Snapshot> {
  const b = await readFile(path);
  if (b.length === 0) throw new GoSnapError("empty", "snap: empty snapshot", path);
  let body: etcdsnappb.snapshot;
  try {
    body = etcdsnappb.snapshot.decode(b);
  } catch (err) {
    throw new GoSnapError("bad-snapshot", `snap: snapshot file does not decode: ${(err as Error).message}`, path);
  }
  const data = body.data;
  const crc = body.crc ?? 0;
  if (data === undefined || data.length === 0 || crc === 0) throw new GoSnapError("empty", "snap: empty snapshot", path);
  if (crc32c(data) !== crc) throw new GoSnapError("crc-mismatch", "snap: crc mismatch", path);
  try {
    return goSnapshot(etcdraftpb.Snapshot.decode(data));
  } catch (err) {
    throw new GoSnapError("bad-snapshot", `snap: raftpb.Snapshot does not decode: ${(err as Error).message}`, path);
  }
}

/** GoSnapReadOptions choose which snapshot readGoSnap loads and what it does with broken files. */
export interface GoSnapReadOptions {
  /**
   * matching, when given, limits the choice to snapshots whose (term, index) is one of these
   * (Go's LoadNewestAvailable with the WAL's valid snapshot records, readGoWalSnapshots).
   * Without it the newest valid file is loaded (Go's Load).
   */
  matching?: readonly GoWalSnapshotRef[];
  /**
   * renameBroken renames each file that fails to read to "<file>.broken", as Go's
   * snapshotter does. Default false: the directory is left as it is.
   */
  renameBroken?: boolean;
}

/** GoSnapLoad is the snapshot readGoSnap chose, and the files it skipped as broken. */
export interface GoSnapLoad {
  /** file is the base name of the file loaded, undefined when none was (Go: snap.ErrNoSnapshot). */
  file: string | undefined;
  /** snapshot is the loaded raftpb.Snapshot with every field Go marshals set. */
  snapshot: etcdraftpb.Snapshot | undefined;
  /** broken are the files that failed to read before one was loaded, newest first, with why. */
  broken: { file: string; reason: string }[];
}

/**
 * readGoSnap loads the newest usable .snap file of dir the way Go etcd 3.4 does at start:
 * file names in reverse order (newest term and index first), the first that reads cleanly
 * (readGoSnapFile) and matches opts.matching wins. A broken file is skipped (and renamed to
 * "<file>.broken" with opts.renameBroken, as Go always does); a valid file that does not
 * match is skipped silently. No usable file gives file and snapshot undefined.
 */
export async function readGoSnap(dir: string, opts: GoSnapReadOptions = {}): Promise<GoSnapLoad> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(SNAP_SUFFIX)).sort().reverse();
  const broken: { file: string; reason: string }[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let snap: etcdraftpb.Snapshot;
    try {
      snap = await readGoSnapFile(path);
    } catch (err) {
      broken.push({ file: name, reason: (err as Error).message });
      if (opts.renameBroken === true) await rename(path, `${path}.broken`).catch(() => undefined);
      continue;
    }
    const m = snap.metadata!;
    if (opts.matching !== undefined && !opts.matching.some((w) => w.index === m.index && w.term === m.term)) continue;
    return { file: name, snapshot: snap, broken };
  }
  return { file: undefined, snapshot: undefined, broken };
}

/**
 * encodeGoSnapFile returns the bytes of the .snap file of snapshot: snappb.snapshot {crc,
 * data} around the snapshot marshaled as Go does (metadata, conf_state, index and term
 * always present; data when set).
 */
export function encodeGoSnapFile(snapshot: etcdraftpb.Snapshot): Buffer {
  const data = Buffer.from(etcdraftpb.Snapshot.encode(goSnapshot(snapshot)).finish());
  return Buffer.from(etcdsnappb.snapshot.encode({ crc: crc32c(data), data }).finish());
}

/**
 * writeGoSnap writes snapshot to dir as Go's Snapshotter.SaveSnap: file
 * "<term>-<index>.snap" (16 hex digits each), created or truncated with mode 0666 (less the
 * umask), written and fsynced. It returns the file's path. Like Go it writes nothing for an
 * empty snapshot (metadata index 0) and returns undefined. Go etcd then records the
 * snapshot in the WAL (GoWalWriter.saveSnapshot) after the file is written.
 */
export async function writeGoSnap(dir: string, snapshot: etcdraftpb.Snapshot): Promise<string | undefined> {
  const index = snapshot.metadata?.index ?? 0n;
  if (index === 0n) return undefined;
  const path = join(dir, goSnapFileName(snapshot.metadata?.term ?? 0n, index));
  const fh = await open(path, "w", 0o666);
  try {
    await fh.writeFile(encodeGoSnapFile(snapshot));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return path;
}
