/**
 * GoWalErrorCode names what went wrong reading a Go etcd WAL. Each matches an error of Go
 * etcd 3.4's wal package (the message starts with Go's text):
 * - "file-not-found": no .wal file, or none at or below the snapshot index (wal.ErrFileNotFound).
 * - "bad-sequence": the file sequence numbers have a gap (Go's isValidSeq, reported as ErrFileNotFound).
 * - "crc-mismatch": a record's data does not match the running CRC (walpb.ErrCRCMismatch), or a
 *   crc record does not carry the CRC the previous file ended with (wal.ErrCRCMismatch).
 * - "unexpected-eof": a record is cut short or torn (io.ErrUnexpectedEOF) where that is not a
 *   clean end: in a file that is not the last one, or in the length word itself.
 * - "max-entry-size": a record longer than 10 MiB (wal.ErrMaxWALEntrySizeLimitExceeded).
 * - "bad-record": a record or its body does not decode as protobuf, or has an unknown type.
 * - "metadata-conflict": two metadata records differ (wal.ErrMetadataConflict).
 * - "snapshot-mismatch": the snapshot record at the start index has another term (wal.ErrSnapshotMismatch).
 * - "snapshot-not-found": no snapshot record at the start index (wal.ErrSnapshotNotFound).
 * - "slice-out-of-range": an entry's index leaves a gap after the entries read so far (wal.ErrSliceOutOfRange).
 * - "exists": GoWalWriter.create on a directory that already holds .wal files (os.ErrExist).
 */
export type GoWalErrorCode =
  | "file-not-found"
  | "bad-sequence"
  | "crc-mismatch"
  | "unexpected-eof"
  | "max-entry-size"
  | "bad-record"
  | "metadata-conflict"
  | "snapshot-mismatch"
  | "snapshot-not-found"
  | "slice-out-of-range"
  | "exists";

/**
 * GoWalError reports a Go etcd WAL that cannot be read (or created) as Go etcd 3.4 would
 * refuse it. The message is Go's error text, then the file and the byte offset of the
 * record when one is to blame.
 */
export class GoWalError extends Error {
  /** code is the kind of failure. */
  readonly code: GoWalErrorCode;
  /** file is the path of the file holding the bad record, when there is one. */
  readonly file: string | undefined;
  /** offset is the byte offset of the bad record's length word in file, when known. */
  readonly offset: number | undefined;

  constructor(code: GoWalErrorCode, goMessage: string, file?: string, offset?: number) {
    super(file === undefined ? goMessage : `${goMessage} (${file}${offset === undefined ? "" : ` at offset ${offset}`})`);
    this.name = "GoWalError";
    this.code = code;
    this.file = file;
    this.offset = offset;
  }
}

/**
 * GoSnapErrorCode names why a Go etcd .snap file was refused, as Go etcd 3.4's snap package:
 * "empty" (snap.ErrEmptySnapshot: empty file, no data or a zero crc), "crc-mismatch"
 * (snap.ErrCRCMismatch), "bad-snapshot" (the body or the raftpb.Snapshot does not decode).
 */
export type GoSnapErrorCode = "empty" | "crc-mismatch" | "bad-snapshot";

/** GoSnapError reports a .snap file Go etcd would refuse; the message starts with Go's text and names the file. */
export class GoSnapError extends Error {
  /** code is the kind of failure. */
  readonly code: GoSnapErrorCode;
  /** file is the path of the refused file. */
  readonly file: string;

  constructor(code: GoSnapErrorCode, goMessage: string, file: string) {
    super(`${goMessage} (${file})`);
    this.name = "GoSnapError";
    this.code = code;
    this.file = file;
  }
}
