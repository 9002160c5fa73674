import { crc32c } from "@node-rs/crc32";
import { etcdwalpb } from "@etcd-ts/proto";
import { GO_WAL_RECORD_TYPES, type GoWalRecordType } from "./record_types.js";

/**
 * Go etcd 3.4's WAL framing (wal/encoder.go, wal/decoder.go). A file is a sequence of frames
 * from offset 0, each starting at a multiple of 8:
 *
 *   8 bytes   length word, u64 little-endian: bits 0..55 the size in bytes of the marshaled
 *             walpb.Record; when the record size is not a multiple of 8, bit 63 is set and
 *             bits 56..58 hold the number of zero pad bytes (1..7) that follow the record
 *   n bytes   the marshaled walpb.Record {type, crc, data}
 *   p bytes   zero padding to the next multiple of 8
 *
 * A zero length word (or the end of the file) ends the file: Go preallocates files with
 * zeros. Record.crc is CRC-32C (Castagnoli) of the data of every record since the first
 * record of the first file, chained (each update starts from the previous value); crc records
 * carry no data and restart the chain at the value they hold.
 */

/** GO_FRAME_SIZE_BYTES is the size of a frame's length word. */
export const GO_FRAME_SIZE_BYTES = 8;
/** GO_MIN_SECTOR_SIZE is the sector size (bytes) Go's torn-write check splits a record by. */
export const GO_MIN_SECTOR_SIZE = 512;
/** GO_MAX_WAL_ENTRY_SIZE_BYTES is Go's limit on one record (record plus padding must be below it): 10 MiB. */
export const GO_MAX_WAL_ENTRY_SIZE_BYTES = 10 * 1024 * 1024;
/** GO_WAL_SEGMENT_SIZE_BYTES is the size Go preallocates each WAL file to and cuts a new file at: 64,000,000 bytes. */
export const GO_WAL_SEGMENT_SIZE_BYTES = 64 * 1000 * 1000;

/** GoFrameSize is a decoded length word: the record's size and its padding, in bytes. */
export interface GoFrameSize {
  recBytes: number;
  padBytes: number;
}

/**
 * decodeGoFrameSize reads the length word at buf[at..at+8]. recBytes is exact up to 2^53;
 * larger values exceed GO_MAX_WAL_ENTRY_SIZE_BYTES anyway.
 */
export function decodeGoFrameSize(buf: Uint8Array, at: number): GoFrameSize {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const low = view.readUInt32LE(at);
  const high = view.readUInt32LE(at + 4);
  const top = high >>> 24;
  return {
    recBytes: low + (high & 0x00ff_ffff) * 0x1_0000_0000,
    padBytes: (top & 0x80) !== 0 ? top & 0x7 : 0,
  };
}

/** isZeroLengthWord reports whether the 8 bytes at buf[at..] are all zero (Go: end of file). */
export function isZeroLengthWord(buf: Uint8Array, at: number): boolean {
  for (let i = at; i < at + GO_FRAME_SIZE_BYTES; i++) {
    if (buf[i] !== 0) return false;
  }
  return true;
}

/**
 * isGoTornEntry is Go's isTornEntry: data (a record and its padding, read at file offset
 * fileOffset) was torn by a crash when any of its pieces split at 512-byte sector boundaries
 * of the file is all zeros. Go asks it only in the last file, for a record that fails to
 * decode or to match its CRC.
 */
export function isGoTornEntry(data: Uint8Array, fileOffset: number): boolean {
  let fileOff = fileOffset;
  let cur = 0;
  while (cur < data.length) {
    const chunkLen = Math.min(GO_MIN_SECTOR_SIZE - (fileOff % GO_MIN_SECTOR_SIZE), data.length - cur);
    let zero = true;
    for (let i = cur; i < cur + chunkLen; i++) {
      if (data[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return true;
    fileOff += chunkLen;
    cur += chunkLen;
  }
  return false;
}

/** frameGoRecord frames a marshaled walpb.Record: length word, record, zero padding. */
export function frameGoRecord(record: Uint8Array): Buffer {
  const padBytes = (8 - (record.length % 8)) % 8;
  const out = Buffer.alloc(GO_FRAME_SIZE_BYTES + record.length + padBytes);
  out.writeUInt32LE(record.length % 0x1_0000_0000, 0);
  const high = Math.floor(record.length / 0x1_0000_0000) | (padBytes !== 0 ? (0x80 | padBytes) << 24 : 0);
  out.writeUInt32LE(high >>> 0, 4);
  out.set(record, GO_FRAME_SIZE_BYTES);
  return out;
}

/**
 * GoRecordEncoder is Go's encoder without the file: it marshals and frames records while
 * keeping the CRC chain. crc is the running CRC-32C after the last record encoded.
 */
export class GoRecordEncoder {
  /** crc is the running CRC-32C (Castagnoli) over the data of the records encoded so far. */
  crc: number;

  /** The chain starts at prevCrc: 0 for a WAL's first file, else the CRC the previous file ended with. */
  constructor(prevCrc = 0) {
    this.crc = prevCrc;
  }

  /**
   * encode returns the frame of a record of type with data (undefined: no data field, as
   * Go's crc record), after folding data into the running CRC as Go's encoder does. For a
   * crc record the record's crc is the running CRC itself.
   */
  encode(type: GoWalRecordType, data: Uint8Array | undefined): Buffer {
    if (data !== undefined) this.crc = crc32c(data, this.crc);
    const rec: etcdwalpb.Record = { type: BigInt(type), crc: this.crc };
    if (data !== undefined) rec.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return frameGoRecord(etcdwalpb.Record.encode(rec).finish());
  }

  /** encodeCrc returns the frame of the crc record that opens a file: it carries the running CRC. */
  encodeCrc(): Buffer {
    return this.encode(GO_WAL_RECORD_TYPES.crc, undefined);
  }
}
