import { copyFile, open } from "node:fs/promises";
import { join } from "node:path";
import { GoWalDecoder } from "./decoder.js";
import { GoWalError } from "./errors.js";
import { listGoWalFiles } from "./names.js";
import { GO_WAL_RECORD_TYPES } from "./record_types.js";

/** GoWalRepair is what repairGoWal did to the last WAL file. */
export type GoWalRepair =
  | { status: "clean"; file: string }
  | {
      status: "repaired";
      /** file is the path of the last WAL file, now truncated. */
      file: string;
      /** offset is the file's new length in bytes: the end of its last valid record. */
      offset: number;
      /** brokenCopy is the path of the copy of the file as it was, "<file>.broken". */
      brokenCopy: string;
    };

/**
 * repairGoWal is Go etcd 3.4's wal.Repair, which etcd runs when ReadAll fails with
 * io.ErrUnexpectedEOF: it reads the last WAL file of dir on its own and, if it ends in a
 * torn record (cut short, or failing to decode or match its CRC with a zeroed 512-byte
 * sector), copies the whole file to "<file>.broken" (replacing an older copy), truncates the
 * file at the end of its last valid record (dropping the preallocated zeros after it too)
 * and fsyncs it. A file that reads cleanly to its end is left alone ("clean"). Any other
 * error (a CRC mismatch before the tail, ...) is thrown as GoWalError: Go's Repair returns
 * false and etcd stops. Like Go it reads only the last file, so a torn record in an earlier
 * file is not repaired (readGoWal still rejects it). No lock is taken: the WAL must not be in use.
 */
export async function repairGoWal(dir: string): Promise<GoWalRepair> {
  const files = await listGoWalFiles(dir);
  const path = join(dir, files[files.length - 1]!.name);
  const decoder = new GoWalDecoder([path]);
  let tornAt: number | undefined;
  try {
    for (;;) {
      const lastOffset = decoder.lastValidOffset;
      let rec;
      try {
        rec = await decoder.next();
      } catch (err) {
        if (err instanceof GoWalError && err.code === "unexpected-eof") {
          tornAt = lastOffset;
          break;
        }
        throw err;
      }
      if (rec === undefined) break;
      if (rec.type === GO_WAL_RECORD_TYPES.crc) {
        if (decoder.crc !== 0 && rec.crc !== decoder.crc) {
          throw new GoWalError("crc-mismatch", "walpb: crc mismatch", path, rec.offset);
        }
        decoder.crc = rec.crc;
      }
    }
  } finally {
    await decoder.close();
  }
  if (tornAt === undefined) return { status: "clean", file: path };
  const brokenCopy = `${path}.broken`;
  await copyFile(path, brokenCopy);
  const fh = await open(path, "r+");
  try {
    await fh.truncate(tornAt);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { status: "repaired", file: path, offset: tornAt, brokenCopy };
}
