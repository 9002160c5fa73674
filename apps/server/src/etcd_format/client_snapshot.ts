import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Backend, BackendScan } from "@etcd-ts/backend";
import { bboltChunksPlanned, planBbolt } from "@etcd-ts/bbolt";
import type { Logger } from "../log.js";
import { toEtcdEntries } from "./layout.js";
import { etcdBuckets } from "./snapshot_file.js";

/**
 * CLIENT_SNAPSHOT_PREFIX and _SUFFIX name the temporary files earlier versions of etcd-ts
 * wrote behind a Maintenance.Snapshot call (removeStaleClientSnapshots still removes them).
 */
const CLIENT_SNAPSHOT_PREFIX = "client-snapshot-";
const CLIENT_SNAPSHOT_SUFFIX = ".db.tmp";

/** CLIENT_SNAPSHOT_CHUNK_BYTES is the size of the pieces the image is produced in. */
const CLIENT_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/**
 * ClientSnapshot is one consistent image of the backend in etcd's format (a bbolt file),
 * produced as it is read: nothing is written to disk.
 */
export interface ClientSnapshot {
  /** sizeBytes is the image's size (a multiple of the page size). */
  sizeBytes: number;
  /** chunks yields the image in file order, in pieces; read it once. */
  chunks: AsyncGenerator<Buffer, void, undefined>;
  /** release stops the image and lets go of the backend state it reads (call it however the call ends). */
  release(): Promise<void>;
}

/** CLIENT_SNAPSHOT_SCAN is how the image reads the backend: everything, a chunk ahead. */
const CLIENT_SNAPSHOT_SCAN = { readAhead: true };

/**
 * openClientSnapshotScans opens the two scans of one backend state an image reads (see
 * makeClientSnapshot), or undefined when `ready` says the backend is not in a state to image
 * (it is asked in the same step the scans are made).
 */
export function openClientSnapshotScans(backend: Backend, ready?: () => boolean): Promise<BackendScan[] | undefined> {
  return backend.openScans(2, CLIENT_SNAPSHOT_SCAN, ready);
}

/**
 * makeClientSnapshot makes the image of a backend state for one Maintenance.Snapshot call
 * from two scans of it (openClientSnapshotScans). bbolt's meta pages, which come first, name
 * the root page and the page count, known only once every key was seen, so the state is read
 * twice: the first scan plans the layout (sizeBytes), the second produces the pages as
 * `chunks` is read, at the reader's pace. An abort of signal (the client went away) stops
 * either pass. The scans are ended when the image is released (or fails).
 */
export async function makeClientSnapshot(scans: readonly BackendScan[], signal?: AbortSignal): Promise<ClientSnapshot> {
  const [plan, emit] = scans;
  if (plan === undefined || emit === undefined) throw new Error("snapshot: an image needs two scans of the backend");
  const endAll = async (): Promise<void> => {
    await plan.end();
    await emit.end();
  };
  try {
    const layout = await planBbolt(etcdBuckets(toEtcdEntries(plan.chunks()), signal));
    await plan.end();
    const chunks = bboltChunksPlanned(etcdBuckets(toEtcdEntries(emit.chunks()), signal), layout, { chunkBytes: CLIENT_SNAPSHOT_CHUNK_BYTES });
    let released = false;
    return {
      sizeBytes: layout.highWaterPgid * layout.pageSize,
      chunks,
      release: async () => {
        if (released) return;
        released = true;
        // Ends the passes' generators (and so the scan) if the image was not read to its end.
        await chunks.return(undefined).catch(() => undefined);
        await endAll();
      },
    };
  } catch (err) {
    await endAll();
    throw err;
  }
}

/** removeStaleClientSnapshots removes the temporary snapshot files an earlier version of etcd-ts left in dir. */
export async function removeStaleClientSnapshots(dir: string, logger: Logger): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.startsWith(CLIENT_SNAPSHOT_PREFIX) || !name.endsWith(CLIENT_SNAPSHOT_SUFFIX)) continue;
    await rm(join(dir, name), { force: true });
    logger.info("removed a temporary client snapshot file left by an earlier run", { path: join(dir, name) });
  }
}
