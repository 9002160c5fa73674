/**
 * WalCorruptError reports acknowledged data in the write-ahead log that cannot be read back:
 * a bad record that is not the torn tail of the last segment, a missing segment, or records
 * that contradict each other. The message starts with "wal: " and names the file and the byte
 * offset of the offending record. A server that sees it must stop rather than serve a log
 * with holes in it.
 */
export class WalCorruptError extends Error {
  /** file is the path of the segment holding the bad record. */
  readonly file: string;
  /** offset is the byte offset of the bad record within file. */
  readonly offset: number;

  constructor(file: string, offset: number, reason: string) {
    super(`wal: ${file}: offset ${offset}: ${reason}`);
    this.name = "WalCorruptError";
    this.file = file;
    this.offset = offset;
  }
}
