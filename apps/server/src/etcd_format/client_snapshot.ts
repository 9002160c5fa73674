import { randomBytes } from "node:crypto";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Backend } from "@etcd-ts/backend";
import type { Logger } from "../log.js";
import { writeEtcdSnapshotFile } from "./snapshot_file.js";

/** CLIENT_SNAPSHOT_PREFIX starts the name of the temporary file behind a Maintenance.Snapshot call. */
const CLIENT_SNAPSHOT_PREFIX = "client-snapshot-";
const CLIENT_SNAPSHOT_SUFFIX = ".db.tmp";

/** ClientSnapshot is one consistent image of the backend in etcd's format, in a file of its own until released. */
export interface ClientSnapshot {
  path: string;
  /** sizeBytes is the file's size (a multiple of the page size). */
  sizeBytes: number;
  /** release removes the file. */
  release(): Promise<void>;
}

/**
 * makeClientSnapshot writes the backend's data as of now as an etcd 3.4 bbolt file in dir
 * (the member's snap directory), for one Maintenance.Snapshot call. Each call has its own
 * file, so snapshots may run side by side; files left by a crash are removed at start
 * (removeStaleClientSnapshots). An abort of signal (the client went away) stops the write and
 * removes the partial file.
 */
export async function makeClientSnapshot(backend: Backend, dir: string, signal?: AbortSignal): Promise<ClientSnapshot> {
  const path = join(dir, `${CLIENT_SNAPSHOT_PREFIX}${randomBytes(6).toString("hex")}${CLIENT_SNAPSHOT_SUFFIX}`);
  // Not fsync'ed: the file is read back at once by this process and never outlives it.
  const layout = await writeEtcdSnapshotFile(backend, path, { sync: false, ...(signal !== undefined ? { signal } : {}) });
  return { path, sizeBytes: layout.highWaterPgid * layout.pageSize, release: () => rm(path, { force: true }) };
}

/** removeStaleClientSnapshots removes the temporary snapshot files a stopped member left in dir. */
export async function removeStaleClientSnapshots(dir: string, logger: Logger): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.startsWith(CLIENT_SNAPSHOT_PREFIX) || !name.endsWith(CLIENT_SNAPSHOT_SUFFIX)) continue;
    await rm(join(dir, name), { force: true });
    logger.info("removed a temporary client snapshot file left by an earlier run", { path: join(dir, name) });
  }
}
