import { stat } from "node:fs/promises";
import { BboltReader } from "@etcd-ts/bbolt";
import { crc32c } from "@node-rs/crc32";

/** DBStatus is what `snapshot status` reports of a snapshot file (clientv3/snapshot's Status). */
export interface DBStatus {
  /** hash is the CRC-32C (Castagnoli) of every bucket name, key and value in bbolt order. */
  hash: number;
  /** revision is the main revision of the last key of the `key` bucket (0 without one). */
  revision: bigint;
  /** totalKey counts the keys of every bucket. */
  totalKey: number;
  /** totalSize is the bbolt file's size in bytes as its meta page says (pages in use × page size). */
  totalSize: number;
}

/** GO_ERRNO_TEXT is Go's text of the errno values a file operation commonly fails with. */
const GO_ERRNO_TEXT: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EEXIST: "file exists",
  ENOSPC: "no space left on device",
};

/** goPathError renders a Node file error as Go's *PathError ("stat x: no such file or directory"). */
export function goPathError(op: string, path: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const text = code !== undefined ? GO_ERRNO_TEXT[code] : undefined;
  return `${op} ${path}: ${text ?? (e as Error)?.message ?? String(e)}`;
}

/**
 * snapshotStatus reads a snapshot (or backend) file as etcdctl 3.4's `snapshot status` does:
 * it walks every bucket in order, hashing the bucket's name and each key and value with
 * CRC-32C, counting keys, and taking the revision from the `key` bucket. A file that is not a
 * valid bbolt database, or whose pages are damaged, is refused with the reader's error (where
 * the Go etcdctl may crash on a truncated file).
 */
export async function snapshotStatus(path: string): Promise<DBStatus> {
  try {
    await stat(path);
  } catch (e) {
    throw new Error(goPathError("stat", path, e));
  }
  const db = await BboltReader.open(path);
  try {
    let crc = 0;
    let totalKey = 0;
    let revision = 0n;
    for await (const name of db.buckets()) {
      const b = await db.bucket(name);
      if (b === undefined) throw new Error(`cannot get hash of bucket ${name.toString()}`);
      crc = crc32c(name, crc);
      const isKey = name.toString("latin1") === "key";
      for await (const e of b.entries()) {
        crc = crc32c(e.key, crc);
        if (e.kind === "value") crc = crc32c(e.value, crc);
        if (isKey && e.key.length >= 8) revision = e.key.readBigInt64BE(0);
        totalKey++;
      }
    }
    return { hash: crc >>> 0, revision, totalKey, totalSize: db.highWaterPgid * db.pageSize };
  } finally {
    await db.close();
  }
}
