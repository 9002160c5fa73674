import { constants, readdirSync, writeSync } from "node:fs";
import { open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { WalCorruptError } from "./errors.js";
import { RecordFlag, decodeRecord, findRecordAfter, isZero, type RecordType } from "./record.js";

/**
 * Segment files are named "<seq>-<firstIndex>.wal", both 16 lower-case hex digits. seq counts
 * segments from 0 without gaps; firstIndex is the raft index the log expected next when the
 * segment was started (last index + 1). A segment may still hold entries below firstIndex
 * (a follower's log overwritten after a conflict), but every entry that was live in the
 * segments before it has an index below firstIndex, which is what releaseTo relies on.
 */
export interface SegmentName {
  seq: number;
  firstIndex: bigint;
  /** file is the base name of the segment file. */
  file: string;
}

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
/** TMP_SUFFIX marks a segment being created; such files are deleted on open. */
export const TMP_SUFFIX = ".tmp";

/** segmentFileName is the file name of segment seq starting at firstIndex. */
export function segmentFileName(seq: number, firstIndex: bigint): string {
  return `${seq.toString(16).padStart(16, "0")}-${firstIndex.toString(16).padStart(16, "0")}.wal`;
}

/** parseSegmentName returns the parts of a segment file name, or undefined for other files. */
export function parseSegmentName(file: string): SegmentName | undefined {
  const m = SEGMENT_RE.exec(file);
  if (m === null) {
    return undefined;
  }
  return { seq: Number.parseInt(m[1]!, 16), firstIndex: BigInt(`0x${m[2]!}`), file };
}

function sortSegments(files: string[]): SegmentName[] {
  const out: SegmentName[] = [];
  for (const f of files) {
    const s = parseSegmentName(f);
    if (s !== undefined) {
      out.push(s);
    }
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** listSegmentsSync returns the segments in dir by sequence; none if dir does not exist. */
export function listSegmentsSync(dir: string): SegmentName[] {
  try {
    return sortSegments(readdirSync(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") {
      return [];
    }
    throw err;
  }
}

/**
 * listSegments returns the segments in dir by sequence after deleting leftover temporary
 * segment files (a crash while a segment was being started). It throws WalCorruptError when
 * the sequence numbers have a gap.
 */
export async function listSegments(dir: string): Promise<SegmentName[]> {
  const files = await readdir(dir);
  for (const f of files) {
    if (f.endsWith(TMP_SUFFIX)) {
      await unlink(join(dir, f));
    }
  }
  const segs = sortSegments(files);
  for (let i = 1; i < segs.length; i++) {
    const prev = segs[i - 1]!;
    const cur = segs[i]!;
    if (cur.seq !== prev.seq + 1) {
      throw new WalCorruptError(join(dir, cur.file), 0, `segment sequence jumps from ${prev.seq} to ${cur.seq} (missing segment)`);
    }
  }
  return segs;
}

/** syncDir fsyncs a directory so that entries created, renamed or deleted in it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** writeAll writes buf at position of fh, looping over short writes. */
export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten === 0) throw new Error("wal: a write wrote nothing");
    done += bytesWritten;
  }
}

/** writeAllSync writes buf at position of fd on the calling thread, looping over short writes. */
export function writeAllSync(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = writeSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error("wal: a write wrote nothing");
    done += n;
  }
}

/**
 * SYNC_WRITE_FLAGS open a segment for appending with O_DSYNC: every write returns once its
 * data (and the metadata needed to read it back, such as the file size) is on stable storage,
 * as a write followed by fdatasync would, but in one system call and so in one trip through
 * Node's thread pool instead of two. That trip is most of a single put's latency beyond the
 * disk's own flush.
 */
export const SYNC_WRITE_FLAGS = constants.O_RDWR | constants.O_DSYNC;

/**
 * createSegment durably creates segment file `name` in dir holding `head` and returns it open
 * for synchronous appends (SYNC_WRITE_FLAGS). The file is written under a temporary name and
 * then renamed, so a crash never leaves a segment without its complete head records; the
 * directory is synced after the rename.
 */
export async function createSegment(dir: string, name: string, head: Buffer): Promise<FileHandle> {
  const tmp = join(dir, name + TMP_SUFFIX);
  const fh = await open(tmp, SYNC_WRITE_FLAGS | constants.O_CREAT | constants.O_EXCL, 0o666);
  try {
    await writeAll(fh, head, 0);
    await fh.sync();
    await rename(tmp, join(dir, name));
    await syncDir(dir);
    return fh;
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** SECTOR_BYTES is the unit a disk writes atomically (and so the unit a torn write loses). */
const SECTOR_BYTES = 512;
/** MIN_ZERO_PART: a zero part shorter than this may be a record's padding (under 8 bytes). */
const MIN_ZERO_PART = 8;

/**
 * hasZeroSectorPart reports whether [from, to) of the segment, cut at sector boundaries, has
 * a part of at least MIN_ZERO_PART bytes that is all zeros: what a torn write into
 * preallocated (zero-filled) space leaves where a sector did not reach the disk, with the
 * write's later records intact after it (etcd's isTornEntry makes the same test). Saves are
 * written one after another, each durable before the next starts, so only the last write can
 * be torn, and everything from the bad record on belongs to it. The cost, as in etcd: a
 * record of an acknowledged write that the disk itself lost (zeroed) is taken for a torn
 * tail and cut with everything after it, instead of being reported as corruption.
 */
export function hasZeroSectorPart(buf: Buffer, from: number, to: number): boolean {
  let start = from;
  while (start < to) {
    const end = Math.min(to, (Math.floor(start / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    if (end - start >= MIN_ZERO_PART) {
      let zero = true;
      for (let i = start; i < end; i++) {
        if (buf[i] !== 0) {
          zero = false;
          break;
        }
      }
      if (zero) return true;
    }
    start = end;
  }
  return false;
}

/** RecordVisitor receives each valid record of a segment in file order. */
export type RecordVisitor = (type: RecordType, body: Buffer, offset: number) => void;

/**
 * scanSegment passes every valid record of the segment held in buf (read from path) to visit
 * and returns the offset just past the last valid record. When isLast is true a torn tail
 * (a bad record past the segment's head with no valid record after it, including trailing
 * zeros, or with a zeroed sector before the next valid one: see hasZeroSectorPart) ends the
 * scan and its offset is returned, so the caller can truncate there; any
 * other bad record, and a segment whose head is incomplete, throws WalCorruptError.
 */
export function scanSegment(buf: Buffer, path: string, isLast: boolean, visit: RecordVisitor): number {
  let offset = 0;
  let headDone = false;
  while (offset < buf.length) {
    const rec = decodeRecord(buf, offset);
    if (!rec.ok) {
      if (rec.intact) {
        throw new WalCorruptError(path, offset, rec.reason);
      }
      if (!headDone) {
        throw new WalCorruptError(path, offset, `${rec.reason} in the segment head`);
      }
      if (!isLast) {
        throw new WalCorruptError(path, offset, `${rec.reason} in a segment that is not the last`);
      }
      if (!isZero(buf, offset)) {
        const next = findRecordAfter(buf, offset);
        if (next >= 0 && !hasZeroSectorPart(buf, offset, next)) {
          throw new WalCorruptError(path, offset, `${rec.reason}, followed by a valid record at offset ${next}`);
        }
      }
      return offset;
    }
    visit(rec.type, rec.body, offset);
    if ((rec.flags & RecordFlag.HeadEnd) !== 0) {
      headDone = true;
    }
    offset = rec.end;
  }
  if (!headDone) {
    throw new WalCorruptError(path, offset, "segment head is incomplete");
  }
  return offset;
}
