import { crc32c } from "@node-rs/crc32";
import { basename } from "node:path";
import { etcdwalpb } from "@etcd-ts/proto";
import { GoWalError } from "./errors.js";
import { SequentialFileReader } from "./file_reader.js";
import { GO_FRAME_SIZE_BYTES, GO_MAX_WAL_ENTRY_SIZE_BYTES, decodeGoFrameSize, isGoTornEntry, isZeroLengthWord } from "./frame.js";
import { GO_WAL_RECORD_TYPES } from "./record_types.js";

/** GoDecodedRecord is one valid record of a Go WAL, with where it was found. */
export interface GoDecodedRecord {
  /** type is the record's type (one of GO_WAL_RECORD_TYPES for a valid WAL; not checked here). */
  type: number;
  /** crc is the record's crc field. */
  crc: number;
  /** data is the record's data field, undefined when absent (a crc record). */
  data: Buffer | undefined;
  /** path is the file the record is in. */
  path: string;
  /** offset is the byte offset of the record's length word in that file. */
  offset: number;
}

/**
 * GoWalDecoder is Go's wal decoder over a list of files read in order. next() returns each
 * valid record, or undefined at the end of the last file; a file ends at its end or at a
 * zero length word (preallocated space). A record whose data does not match the running
 * CRC throws "crc-mismatch" ("walpb: crc mismatch"); crc records are not checked here (the
 * caller compares them and sets crc, as Go's ReadAll does). A record cut short throws
 * "unexpected-eof"; so does one in the last file that fails to decode or to match its CRC
 * while one of its 512-byte sectors is all zeros (Go's torn-write rule). onLastFile tells
 * whether such an error came from the last file, where it marks a torn tail.
 */
export class GoWalDecoder {
  /** crc is the running CRC-32C: of the data of every record since the last crc record, chained from its value. */
  crc = 0;
  /** lastValidOffset is the offset in the current file just past its last valid record. */
  lastValidOffset = 0;
  private i = 0;
  private reader: SequentialFileReader | undefined;

  constructor(private readonly paths: readonly string[]) {}

  /** onLastFile is true while the decoder reads the last file (Go: one reader left). */
  get onLastFile(): boolean {
    return this.i >= this.paths.length - 1;
  }

  /** currentPath is the file being read (the last one once all are read). */
  get currentPath(): string {
    return this.paths[Math.min(this.i, this.paths.length - 1)] ?? "";
  }

  /** next returns the next valid record, or undefined after the last one. */
  async next(): Promise<GoDecodedRecord | undefined> {
    for (;;) {
      if (this.i >= this.paths.length) return undefined;
      const path = this.paths[this.i]!;
      this.reader ??= await SequentialFileReader.open(path);
      const r = this.reader;
      const offset = this.lastValidOffset;
      const word = await r.read(GO_FRAME_SIZE_BYTES);
      if (word.length === 0 || (word.length === GO_FRAME_SIZE_BYTES && isZeroLengthWord(word, 0))) {
        // End of file or preallocated space: on to the next file.
        await r.close();
        this.reader = undefined;
        this.i++;
        if (this.i < this.paths.length) this.lastValidOffset = 0;
        continue;
      }
      if (word.length < GO_FRAME_SIZE_BYTES) {
        throw new GoWalError("unexpected-eof", "unexpected EOF: length word cut short", basename(path), offset);
      }
      const { recBytes, padBytes } = decodeGoFrameSize(word, 0);
      if (recBytes >= GO_MAX_WAL_ENTRY_SIZE_BYTES - padBytes) {
        throw new GoWalError("max-entry-size", "wal: max entry size limit exceeded", basename(path), offset);
      }
      const data = await r.read(recBytes + padBytes);
      if (data.length < recBytes + padBytes) {
        throw new GoWalError("unexpected-eof", "unexpected EOF: record cut short", basename(path), offset);
      }
      const torn = (): boolean => this.onLastFile && isGoTornEntry(data, offset + GO_FRAME_SIZE_BYTES);
      let rec: etcdwalpb.Record;
      try {
        rec = etcdwalpb.Record.decode(data.subarray(0, recBytes));
      } catch (err) {
        if (torn()) throw new GoWalError("unexpected-eof", "unexpected EOF: torn record", basename(path), offset);
        throw new GoWalError("bad-record", `wal: record does not decode: ${(err as Error).message}`, basename(path), offset);
      }
      const type = Number(rec.type ?? 0n);
      const crc = rec.crc ?? 0;
      if (type !== GO_WAL_RECORD_TYPES.crc) {
        this.crc = crc32c(rec.data ?? Buffer.alloc(0), this.crc);
        if (crc !== this.crc) {
          if (torn()) throw new GoWalError("unexpected-eof", "unexpected EOF: torn record", basename(path), offset);
          throw new GoWalError("crc-mismatch", "walpb: crc mismatch", basename(path), offset);
        }
      }
      this.lastValidOffset = offset + GO_FRAME_SIZE_BYTES + recBytes + padBytes;
      return { type, crc, data: rec.data, path, offset };
    }
  }

  /** close closes the file being read, if any. */
  async close(): Promise<void> {
    await this.reader?.close();
    this.reader = undefined;
  }
}
