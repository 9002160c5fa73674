import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Backend, BackendScan } from "@etcd-ts/backend";
import type { Logger } from "../log.js";
import { ImageWorker } from "./image_worker.js";

/**
 * CLIENT_SNAPSHOT_PREFIX and _SUFFIX name the temporary files earlier versions of etcd-ts
 * wrote behind a Maintenance.Snapshot call (removeStaleClientSnapshots still removes them).
 */
const CLIENT_SNAPSHOT_PREFIX = "client-snapshot-";
const CLIENT_SNAPSHOT_SUFFIX = ".db.tmp";

/**
 * ClientSnapshot is one consistent image of the backend in etcd's format (a bbolt file) for a
 * Maintenance.Snapshot call, produced as it is read: nothing is written to disk.
 */
export interface ClientSnapshot {
  /** sizeBytes is the image's size (a multiple of the page size). */
  sizeBytes: number;
  /**
   * messages yields the image as encoded SnapshotResponses, in order: 1 MiB blobs with the
   * bytes still to come in remaining_bytes (the SHA-256 trailer is not among them). Read it once.
   */
  messages: AsyncGenerator<Buffer, void, undefined>;
  /** sha256 is the image's SHA-256, once messages has been read to its end. */
  sha256(): Buffer;
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
 * twice: the first scan plans the layout (sizeBytes, known when this returns), the second
 * produces the pages as `messages` is read, at the reader's pace. The conversion runs on a
 * worker thread (ImageWorker); this thread reads the scans and hands the messages on. An
 * abort of signal (the client went away) stops either pass. The scans and the worker are
 * ended when the image is released (or fails).
 */
export async function makeClientSnapshot(scans: readonly BackendScan[], signal?: AbortSignal): Promise<ClientSnapshot> {
  const [plan, emit] = scans;
  if (plan === undefined || emit === undefined) throw new Error("snapshot: an image needs two scans of the backend");
  let worker: ImageWorker | undefined;
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    try {
      await worker?.terminate();
    } finally {
      await plan.end();
      await emit.end();
    }
  };
  try {
    const w = (worker = new ImageWorker());
    const sizeBytes = await w.plan(plan.chunks(), signal);
    await plan.end();
    const messages = w.emit(emit.chunks(), signal);
    return {
      sizeBytes,
      messages,
      sha256: () => {
        if (w.sha256 === undefined) throw new Error("snapshot: the image's digest is known once every message was read");
        return w.sha256;
      },
      release: async () => {
        // Ends the pass's generator (and so its scan) if the image was not read to its end.
        await messages.return(undefined).catch(() => undefined);
        await release();
      },
    };
  } catch (err) {
    await release();
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
