import { randomUUID } from "node:crypto";
import { open, readdir, rm, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Backend, BackendScan } from "@etcd-ts/backend";
import type { Logger } from "../log.js";
import { SNAPSHOT_SEND_BYTES, snapshotResponseBuffer } from "../grpc/snapshot_messages.js";
import { ImageWorker } from "./image_worker.js";

/**
 * CLIENT_SNAPSHOT_PREFIX and _SUFFIX name the file a Maintenance.Snapshot image is written
 * to. It is removed from its directory as soon as it is created (the member keeps it open),
 * so only a crash in between can leave one behind, which removeStaleClientSnapshots removes
 * at the next start.
 */
const CLIENT_SNAPSHOT_PREFIX = "client-snapshot-";
const CLIENT_SNAPSHOT_SUFFIX = ".db.tmp";

/**
 * ClientSnapshot is one consistent image of the backend in etcd's format (a bbolt file) for a
 * Maintenance.Snapshot call.
 */
export interface ClientSnapshot {
  /** sizeBytes is the image's size (a multiple of the page size). */
  sizeBytes: number;
  /**
   * messages yields the image as encoded SnapshotResponses, in order: 1 MiB blobs with the
   * bytes still to come in remaining_bytes (the SHA-256 trailer is not among them). Read it once.
   */
  messages: AsyncGenerator<Buffer, void, undefined>;
  /** sha256 resolves with the image's SHA-256 (computed on the image's worker thread while the messages are read). */
  sha256(): Promise<Buffer>;
  /** release stops the image and lets go of what it holds (call it however the call ends). */
  release(): Promise<void>;
}

/** CLIENT_SNAPSHOT_SCAN is how the image reads the backend: everything, a chunk ahead. */
const CLIENT_SNAPSHOT_SCAN = { readAhead: true };

/**
 * openClientSnapshotScan opens the scan of one backend state an image reads (see
 * makeClientSnapshot), or undefined when `ready` says the backend is not in a state to image
 * (it is asked in the same step the scan is made).
 */
export async function openClientSnapshotScan(backend: Backend, ready?: () => boolean): Promise<BackendScan | undefined> {
  return (await backend.openScans(1, CLIENT_SNAPSHOT_SCAN, ready))?.[0];
}

/**
 * makeClientSnapshot makes the image of a backend state for one Maintenance.Snapshot call
 * from one scan of it (openClientSnapshotScan). bbolt's meta pages, which come first, name
 * the root page and the page count, known only once every key was seen, so nothing can be
 * sent before the whole state was read: the image is written to a file in `dir` first, which
 * is unlinked at once and read back as `messages` is read. The conversion, the writing and
 * the hashing run on a worker thread (ImageWorker); this thread reads the scan, then the
 * file. An abort of signal (the client went away) stops the image. The scan (and its RocksDB
 * snapshot) ends once the file is written; the file, and the disk space it takes, is held
 * until the image is released (or fails).
 */
export async function makeClientSnapshot(scan: BackendScan, dir: string, signal?: AbortSignal): Promise<ClientSnapshot> {
  let worker: ImageWorker | undefined;
  let file: FileHandle | undefined;
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    try {
      // The worker is stopped before the file it writes is closed (its descriptor number could be reused).
      await worker?.terminate();
    } finally {
      try {
        await scan.end();
      } finally {
        await file?.close();
      }
    }
  };
  try {
    const path = join(dir, `${CLIENT_SNAPSHOT_PREFIX}${randomUUID()}${CLIENT_SNAPSHOT_SUFFIX}`);
    file = await open(path, "wx+", 0o600);
    await rm(path, { force: true });
    const w = (worker = new ImageWorker());
    const sizeBytes = await w.build(scan.chunks(), file.fd, dir, signal);
    await scan.end();
    // The worker reads the file back and hashes it while this thread sends it.
    const digest = w.sha256(signal);
    digest.catch(() => undefined); // awaited by whoever asks; a failure shows there
    const messages = readImage(file, sizeBytes);
    return {
      sizeBytes,
      messages,
      sha256: () => digest,
      release: async () => {
        // Ends the generator if the image was not read to its end.
        await messages.return(undefined).catch(() => undefined);
        await release();
      },
    };
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * readImage yields the image file's bytes as encoded SnapshotResponses of SNAPSHOT_SEND_BYTES
 * blobs, each read straight into its message, with the bytes still to come in
 * remaining_bytes.
 */
async function* readImage(file: FileHandle, size: number): AsyncGenerator<Buffer, void, undefined> {
  for (let at = 0; at < size; ) {
    const n = Math.min(SNAPSHOT_SEND_BYTES, size - at);
    const m = snapshotResponseBuffer(size - at - n, n);
    for (let got = 0; got < n; ) {
      const { bytesRead } = await file.read(m.blob, got, n - got, at + got);
      if (bytesRead === 0) throw new Error(`snapshot: the image file ended at ${at + got} of its ${size} bytes`);
      got += bytesRead;
    }
    at += n;
    yield m.message;
  }
}

/** removeStaleClientSnapshots removes the image files a member that crashed while making one left in dir. */
export async function removeStaleClientSnapshots(dir: string, logger: Logger): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.startsWith(CLIENT_SNAPSHOT_PREFIX) || !name.endsWith(CLIENT_SNAPSHOT_SUFFIX)) continue;
    await rm(join(dir, name), { force: true });
    logger.info("removed a temporary client snapshot file left by an earlier run", { path: join(dir, name) });
  }
}
