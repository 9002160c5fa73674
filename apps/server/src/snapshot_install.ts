import { existsSync } from "node:fs";
import { open, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { raftpb } from "@etcd-ts/proto";
import { consistentIndexKey, type Backend, type WriteOp } from "@etcd-ts/backend";
import { decodeConsistentIndex } from "./apply/apply_loop.js";
import { FP } from "./failpoint.js";
import type { Logger } from "./log.js";
import { Membership } from "./membership.js";
import { MEMBERSHIP_KEY } from "./membership_store.js";
import { readSnapshotFile } from "./peer/snapshot_stream.js";
import { syncDir } from "./fs_sync.js";

/**
 * Installing a snapshot received from the leader, crash-safely. The order is etcd's (raft.go
 * saves the snapshot and its WAL marker before the backend is replaced; at start, a backend
 * behind the WAL's snapshot is replaced from the saved snapshot, as openSnapshotBackend does):
 *
 * 1. the received stream (already checked complete: see verifySnapshotFile) is made durable as
 *    member/snap/<index as 16 hex digits>.snapstream: fsync the file, rename, fsync the dir;
 * 2. the WAL snapshot marker is written;
 * 3. the backend is rewritten from the file (installSnapshotBackend: every key deleted, the
 *    snapshot's pairs written, its consistent index last) and synced; then the file is removed.
 *
 * A crash before 2 leaves the old backend and WAL (the file is stale: removed at start). A
 * crash after 2 leaves a WAL whose latest snapshot is the file's, and a backend in any state
 * between the old and the new one: at start, recoverPendingSnapshot rewrites it from the file
 * again before anything reads the backend.
 */

/** SNAPSTREAM_SUFFIX ends every snapshot stream file in member/snap. */
const SNAPSTREAM_SUFFIX = ".snapstream";
/** PENDING_NAME matches a stream kept under its snapshot index (step 1 above). */
const PENDING_NAME = /^([0-9a-f]{16})\.snapstream$/;
/** INCOMING_NAME matches a stream still being received (peer/server.ts names them so). */
const INCOMING_NAME = /^incoming-.*\.snapstream$/;

/** BATCH_OPS is how many deletes or puts one backend write holds while a backend is rewritten. */
const BATCH_OPS = 1000;

/** pendingSnapshotName is the file name a received snapshot at `index` is kept under until installed. */
export function pendingSnapshotName(index: bigint): string {
  return `${index.toString(16).padStart(16, "0")}${SNAPSTREAM_SUFFIX}`;
}

/**
 * persistPendingSnapshot makes a received stream durable under the name of its snapshot index
 * (fsync the file, rename it, fsync the directory) and returns its new path.
 */
export async function persistPendingSnapshot(received: string, snapDir: string, index: bigint): Promise<string> {
  const fh = await open(received, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  const path = join(snapDir, pendingSnapshotName(index));
  await rename(received, path);
  await syncDir(snapDir);
  return path;
}

/**
 * discardReceivedSnapshot removes a received stream raft will not install (see
 * EtcdServer.stepSnapshot), in the background; a failure is logged (the start removes it).
 */
export function discardReceivedSnapshot(path: string, logger: Logger): void {
  rm(path, { force: true }).catch((err: unknown) => logger.warn("failed to remove received snapshot", { path, error: String(err) }));
}

/** removePendingSnapshots removes the kept streams of snapshots at or below `index` (installed or superseded). */
export async function removePendingSnapshots(snapDir: string, index: bigint): Promise<void> {
  for (const name of await readdir(snapDir)) {
    const m = PENDING_NAME.exec(name);
    if (m !== null && BigInt(`0x${m[1] as string}`) <= index) await rm(join(snapDir, name), { force: true });
  }
}

/** InstalledSnapshot is what a backend holds once rewritten from a snapshot. */
export interface InstalledSnapshot {
  /** metadata is the snapshot's (its index is the backend's consistent index now). */
  metadata: raftpb.SnapshotMetadata;
  /** membership is the member list as of the snapshot. */
  membership: Membership;
  pairs: number;
}

/**
 * installSnapshotBackend replaces the whole content of `backend` with the snapshot kept in
 * `path`, which must be the snapshot at `index` (the WAL's marker), and syncs it. Nothing else
 * may write to the backend meanwhile. The consistent index is deleted first and the
 * snapshot's is written last, after the stream's trailer was checked: until the rewrite is
 * complete the backend reads as behind the WAL's snapshot (consistent index absent: 0).
 */
export async function installSnapshotBackend(backend: Backend, path: string, index: bigint): Promise<InstalledSnapshot> {
  const contents = await readSnapshotFile(path);
  await backend.write([{ type: "del", key: consistentIndexKey }]);
  let batch: WriteOp[] = [];
  for await (const chunk of backend.scanChunks({})) {
    for (const key of chunk.keys) batch.push({ type: "del", key });
    if (batch.length >= BATCH_OPS) {
      await backend.write(batch);
      batch = [];
    }
  }
  await backend.write(batch);
  batch = [];
  if (FP.raftMidApplySnap.armed) await FP.raftMidApplySnap.hit();

  let ci: Buffer | undefined;
  let members: Buffer | undefined;
  let pairs = 0;
  for await (const [key, value] of contents.pairs) {
    pairs++;
    if (key.equals(consistentIndexKey)) {
      ci = value;
      continue;
    }
    if (key.equals(MEMBERSHIP_KEY)) members = value;
    batch.push({ type: "put", key, value });
    if (batch.length >= BATCH_OPS) {
      await backend.write(batch);
      batch = [];
    }
  }
  // The whole stream was read and its trailer checked.
  const metadata = contents.metadata();
  if (metadata.index !== index) {
    throw new Error(`etcdserver: snapshot file ${path} holds the snapshot at index ${metadata.index}, want ${index}`);
  }
  const ciIndex = decodeConsistentIndex(ci);
  if (ciIndex !== index) {
    throw new Error(`etcdserver: snapshot file ${path} holds a backend at consistent index ${ciIndex}, want ${index}`);
  }
  // The member list as of the snapshot (the first frame's, if the pairs had none).
  if (members === undefined) {
    members = contents.membership;
    batch.push({ type: "put", key: MEMBERSHIP_KEY, value: members });
  }
  await backend.write(batch);
  await backend.write([{ type: "put", key: consistentIndexKey, value: ci as Buffer }]);
  await backend.sync();
  return { metadata, membership: Membership.decode(members), pairs };
}

/** PendingSnapshotPlan is what the start does about the snapshot files it finds (planPendingSnapshot). */
export interface PendingSnapshotPlan {
  /** remove are the stale files: streams still being received, kept streams the WAL does not name. */
  remove: string[];
  /** install is the kept stream of the WAL's latest snapshot: the backend is rewritten from it. */
  install: string | undefined;
  /** refuse says why the member must not start: the backend is behind the WAL and nothing can repair it. */
  refuse: string | undefined;
}

/**
 * planPendingSnapshot decides, from the names of the files in member/snap, the WAL's latest
 * snapshot index (0: none) and the backend's consistent index, whether the backend must be
 * rewritten from a kept snapshot before the member starts:
 * - a kept stream for the WAL's latest snapshot means a crash came after its WAL marker and
 *   before (or during) the rewrite: install it, whatever the backend's consistent index says
 *   (the rewrite writes it last, but the file is only removed after the rewrite is synced);
 * - a backend behind the WAL's latest snapshot with no such file cannot be repaired here:
 *   refuse to start;
 * - streams still being received (incoming-*), and kept streams of any other index (older:
 *   installed and superseded; newer: the crash came before their WAL marker) are stale.
 */
export function planPendingSnapshot(names: readonly string[], walSnapshotIndex: bigint, consistentIndex: bigint): PendingSnapshotPlan {
  const remove: string[] = [];
  let install: string | undefined;
  for (const name of names) {
    if (INCOMING_NAME.test(name)) {
      remove.push(name);
      continue;
    }
    const m = PENDING_NAME.exec(name);
    if (m === null) continue;
    if (walSnapshotIndex > 0n && BigInt(`0x${m[1] as string}`) === walSnapshotIndex) install = name;
    else remove.push(name);
  }
  let refuse: string | undefined;
  if (install === undefined && consistentIndex < walSnapshotIndex) {
    refuse =
      `etcdserver: backend consistent index ${consistentIndex} is behind the WAL's latest snapshot index ${walSnapshotIndex}, ` +
      `and the snapshot it was being installed from (${pendingSnapshotName(walSnapshotIndex)}) is not in the snap directory: ` +
      `the backend (member/snap/db) is incomplete; the WAL is not at fault`;
  }
  return { remove, install, refuse };
}

/**
 * recoverPendingSnapshot runs at start, after the backend and the WAL were opened and before
 * anything is loaded from the backend: it removes stale snapshot files and, when a crash
 * interrupted the install of a snapshot from the leader after its WAL marker was written,
 * rewrites the backend from the kept stream (planPendingSnapshot). It throws when the backend
 * is behind the WAL's latest snapshot and cannot be repaired.
 */
export async function recoverPendingSnapshot(backend: Backend, snapDir: string, walSnapshotIndex: bigint, logger: Logger): Promise<void> {
  const names = existsSync(snapDir) ? await readdir(snapDir) : [];
  const consistentIndex = decodeConsistentIndex(await backend.get(consistentIndexKey));
  const plan = planPendingSnapshot(names, walSnapshotIndex, consistentIndex);
  for (const name of plan.remove) await rm(join(snapDir, name), { force: true });
  if (plan.remove.length > 0) logger.info("removed stale snapshot files", { "snap-dir": snapDir, files: plan.remove });
  if (plan.refuse !== undefined) throw new Error(plan.refuse);
  if (plan.install === undefined) return;
  const path = join(snapDir, plan.install);
  logger.info("installing pending snapshot", { index: walSnapshotIndex, path, "backend-consistent-index": consistentIndex });
  const installed = await installSnapshotBackend(backend, path, walSnapshotIndex);
  await rm(path, { force: true });
  logger.info("installed pending snapshot", { index: walSnapshotIndex, pairs: installed.pairs });
}

/**
 * confStateOf is raft's configuration for a member list: its voters and its learners (etcd-ts
 * changes membership one member at a time, so a member list is never a joint configuration).
 */
export function confStateOf(m: Membership): raftpb.ConfState {
  const voters: bigint[] = [];
  const learners: bigint[] = [];
  for (const x of m.members.values()) (x.isLearner ? learners : voters).push(x.id);
  const byId = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
  return raftpb.ConfState.fromPartial({ voters: voters.sort(byId), learners: learners.sort(byId) });
}
