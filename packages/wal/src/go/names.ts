import { readdir } from "node:fs/promises";
import { GoWalError } from "./errors.js";

/**
 * Go etcd 3.4's file names: WAL files are "%016x-%016x.wal" (sequence number from 0, then
 * the raft index the file's first entry was expected at: last index + 1 when it was cut, 0
 * for the first file); snapshot files are "%016x-%016x.snap" (term, index). Lower-case hex,
 * so name order is numeric order.
 */

/** GoWalFileName is a parsed WAL file name. */
export interface GoWalFileName {
  /** name is the base name of the file. */
  name: string;
  seq: bigint;
  /** index is the raft index the file starts at (see above). */
  index: bigint;
}

const WAL_NAME = /^([0-9a-fA-F]{16})-([0-9a-fA-F]{16})\.wal$/;

/** goWalFileName is the name of WAL file seq starting at index. */
export function goWalFileName(seq: bigint, index: bigint): string {
  return `${hex16(seq)}-${hex16(index)}.wal`;
}

/** goSnapFileName is the name of the .snap file of a snapshot at (term, index). */
export function goSnapFileName(term: bigint, index: bigint): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

function hex16(v: bigint): string {
  return v.toString(16).padStart(16, "0");
}

/** parseGoWalFileName parses a WAL file name, or returns undefined for any other name. */
export function parseGoWalFileName(name: string): GoWalFileName | undefined {
  const m = WAL_NAME.exec(name);
  if (m === null) return undefined;
  return { name, seq: BigInt(`0x${m[1]!}`), index: BigInt(`0x${m[2]!}`) };
}

/**
 * listGoWalFiles returns the WAL files of dir in name order, as Go's readWALNames does
 * (other files, such as leftover "0.tmp" files, are ignored). It throws GoWalError
 * "file-not-found" when there are none.
 */
export async function listGoWalFiles(dir: string): Promise<GoWalFileName[]> {
  const names = (await readdir(dir)).sort();
  const out: GoWalFileName[] = [];
  for (const n of names) {
    const p = parseGoWalFileName(n);
    if (p !== undefined) out.push(p);
  }
  if (out.length === 0) throw new GoWalError("file-not-found", "wal: file not found", dir);
  return out;
}

/**
 * selectGoWalFiles returns the files Go's wal.Open reads for a start snapshot index: from
 * the last file whose start index is at or below snapIndex to the end. The sequence numbers
 * of the selected files must follow each other without a gap (Go 3.4's isValidSeq skips the
 * check right after a file with sequence 0; this one does not).
 */
export function selectGoWalFiles(dir: string, files: readonly GoWalFileName[], snapIndex: bigint): GoWalFileName[] {
  let from = -1;
  for (let i = files.length - 1; i >= 0; i--) {
    if (snapIndex >= files[i]!.index) {
      from = i;
      break;
    }
  }
  if (from < 0) throw new GoWalError("file-not-found", "wal: file not found", dir);
  const selected = files.slice(from);
  for (let i = 1; i < selected.length; i++) {
    if (selected[i]!.seq !== selected[i - 1]!.seq + 1n) {
      throw new GoWalError(
        "bad-sequence",
        `wal: file not found (sequence jumps from ${selected[i - 1]!.name} to ${selected[i]!.name})`,
        dir,
      );
    }
  }
  return selected;
}
