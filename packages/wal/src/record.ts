import { crc32c } from "@node-rs/crc32";

/**
 * Record framing. Every record starts at an 8-byte aligned offset of its segment file:
 *
 *   offset  size  field
 *   0       4     bodyLength  u32 LE, bytes of body (padding excluded)
 *   4       1     type        RecordType
 *   5       1     flags       RecordFlag bits
 *   6       2     reserved    zero
 *   8       4     bodyCrc     u32 LE, crc32c(body)
 *   12      4     headerCrc   u32 LE, crc32c(fileOffset as u64 LE ++ header bytes 0..12)
 *   16      ...   body, then zero padding up to the next multiple of 8 (checked on read)
 *
 * The header checksum covers the length, the type, the body checksum and the record's own
 * file offset, so a record is only valid at the place it was written, a flipped length is
 * caught before it is trusted, and an all-zero region never parses as a record. Records are
 * self-delimiting, which lets the reader look past a bad record for valid data after it
 * (the test that separates a torn tail from corruption).
 */

/** RecordType is the kind of body a record carries. */
export const RecordType = {
  /** Metadata: the opaque bytes given to WAL.create; first record of every segment. */
  Metadata: 1,
  /** Entry: an encoded raftpb.Entry. */
  Entry: 2,
  /** HardState: an encoded raftpb.HardState. */
  HardState: 3,
  /** Snapshot: an encoded walpb.SnapshotMarker. */
  Snapshot: 4,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** RecordFlag holds the bits of a record's flags byte. */
export const RecordFlag = {
  /**
   * HeadEnd marks the last record of a segment's head (the records a segment is created
   * with, synced before the segment file appears). A segment is never torn inside its head.
   */
  HeadEnd: 1,
} as const;
const KNOWN_FLAGS = RecordFlag.HeadEnd;

/** HEADER_SIZE is the size in bytes of a record header. */
export const HEADER_SIZE = 16;
/** ALIGNMENT is the byte alignment of every record start (and of every record's size). */
export const ALIGNMENT = 8;
/** MAX_BODY_SIZE is the largest body a record may carry, in bytes (u32 length field). */
export const MAX_BODY_SIZE = 0xffff_ffff;

function isRecordType(t: number): t is RecordType {
  return t >= RecordType.Metadata && t <= RecordType.Snapshot;
}

/** plausibleHeader reports whether the type, flags and reserved bytes at offset are well-formed. */
function plausibleHeader(buf: Buffer, offset: number): boolean {
  return isRecordType(buf[offset + 4]!) && (buf[offset + 5]! & ~KNOWN_FLAGS) === 0 && buf[offset + 6] === 0 && buf[offset + 7] === 0;
}

/** recordSize is the bytes a record with a body of bodyLength bytes occupies, padding included. */
export function recordSize(bodyLength: number): number {
  return HEADER_SIZE + Math.ceil(bodyLength / ALIGNMENT) * ALIGNMENT;
}

const crcScratch = Buffer.alloc(8 + 12);

/** headerCrc is the checksum of the 12 header bytes at buf[at..] for a record at fileOffset. */
function headerCrc(buf: Buffer, at: number, fileOffset: number): number {
  crcScratch.writeUInt32LE(fileOffset % 0x1_0000_0000, 0);
  crcScratch.writeUInt32LE(Math.floor(fileOffset / 0x1_0000_0000), 4);
  buf.copy(crcScratch, 8, at, at + 12);
  return crc32c(crcScratch);
}

/**
 * RecordBatch collects records and lays them out as one buffer for one write. The layout
 * depends on the file offset the buffer will be written at (it is in the header checksum).
 */
export class RecordBatch {
  private readonly types: RecordType[] = [];
  private readonly flags: number[] = [];
  private readonly bodies: Uint8Array[] = [];
  private size = 0;

  /** add appends a record; body is referenced, not copied, until encode. */
  add(type: RecordType, body: Uint8Array, flags = 0): void {
    if (body.length > MAX_BODY_SIZE) {
      throw new Error(`wal: record body of ${body.length} bytes exceeds ${MAX_BODY_SIZE}`);
    }
    this.types.push(type);
    this.flags.push(flags);
    this.bodies.push(body);
    this.size += recordSize(body.length);
  }

  /** byteLength is the size in bytes of the encoded batch. */
  get byteLength(): number {
    return this.size;
  }

  /** length is the number of records in the batch. */
  get length(): number {
    return this.types.length;
  }

  /** encode returns the batch framed for a write at fileOffset, which must be 8-aligned. */
  encode(fileOffset: number): Buffer {
    if (fileOffset % ALIGNMENT !== 0) {
      throw new Error(`wal: record offset ${fileOffset} is not ${ALIGNMENT}-byte aligned`);
    }
    const out = Buffer.alloc(this.size);
    let at = 0;
    for (let i = 0; i < this.types.length; i++) {
      const body = this.bodies[i]!;
      out.writeUInt32LE(body.length, at);
      out[at + 4] = this.types[i]!;
      out[at + 5] = this.flags[i]!;
      out.writeUInt32LE(crc32c(body), at + 8);
      out.writeUInt32LE(headerCrc(out, at, fileOffset + at), at + 12);
      out.set(body, at + HEADER_SIZE);
      at += recordSize(body.length);
    }
    return out;
  }
}

/** DecodedRecord is a valid record read from a segment. */
export interface DecodedRecord {
  ok: true;
  type: RecordType;
  /** flags is the RecordFlag bits. */
  flags: number;
  /** body is a view into the segment buffer. */
  body: Buffer;
  /** end is the offset just past the record (and its padding). */
  end: number;
}

/** BadRecord describes why no valid record starts at an offset. */
export interface BadRecord {
  ok: false;
  reason: string;
  /**
   * intact is true when the checksums hold but the record is still unusable (an unknown
   * type): a torn write cannot produce that, so it is never cut off as a torn tail.
   */
  intact: boolean;
}

/**
 * decodeRecord reads the record at offset of buf, which holds a whole segment file from its
 * first byte (so buffer offsets are file offsets).
 */
export function decodeRecord(buf: Buffer, offset: number): DecodedRecord | BadRecord {
  if (buf.length - offset < HEADER_SIZE) {
    return { ok: false, reason: `short record header (${buf.length - offset} bytes)`, intact: false };
  }
  if (buf.readUInt32LE(offset + 12) !== headerCrc(buf, offset, offset)) {
    return { ok: false, reason: "record header checksum mismatch", intact: false };
  }
  const bodyLength = buf.readUInt32LE(offset);
  const type = buf[offset + 4]!;
  if (!plausibleHeader(buf, offset)) {
    return { ok: false, reason: `unknown record type ${type} or flags ${buf[offset + 5]}`, intact: true };
  }
  const end = offset + recordSize(bodyLength);
  if (end > buf.length) {
    return {
      ok: false,
      reason: `short record body (${bodyLength} bytes declared, ${buf.length - offset - HEADER_SIZE} present)`,
      intact: false,
    };
  }
  const body = buf.subarray(offset + HEADER_SIZE, offset + HEADER_SIZE + bodyLength);
  if (crc32c(body) !== buf.readUInt32LE(offset + 8)) {
    return { ok: false, reason: "record body checksum mismatch", intact: false };
  }
  for (let i = offset + HEADER_SIZE + bodyLength; i < end; i++) {
    if (buf[i] !== 0) {
      return { ok: false, reason: "non-zero record padding", intact: false };
    }
  }
  return { ok: true, type: type as RecordType, flags: buf[offset + 5]!, body, end };
}

/**
 * findRecordAfter returns the offset of the first valid record that starts at an aligned
 * offset strictly after `after`, or -1 if there is none. Used only on the error path.
 */
export function findRecordAfter(buf: Buffer, after: number): number {
  const first = (Math.floor(after / ALIGNMENT) + 1) * ALIGNMENT;
  for (let p = first; p + HEADER_SIZE <= buf.length; p += ALIGNMENT) {
    // Cheap filter before any checksum.
    if (plausibleHeader(buf, p) && decodeRecord(buf, p).ok) {
      return p;
    }
  }
  return -1;
}

/** isZero reports whether buf[from..] holds only zero bytes. */
export function isZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) {
    if (buf[i] !== 0) {
      return false;
    }
  }
  return true;
}
