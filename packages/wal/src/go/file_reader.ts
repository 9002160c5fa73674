import { open, type FileHandle } from "node:fs/promises";

/** CHUNK_BYTES is how much SequentialFileReader reads from disk at a time. */
const CHUNK_BYTES = 1 << 20;

/**
 * SequentialFileReader reads a file front to back in 1 MiB chunks, so a 64 MB preallocated
 * WAL file whose records end early is not read whole. position is the file offset of the
 * next byte read returns.
 */
export class SequentialFileReader {
  private buf = Buffer.alloc(0);
  private at = 0;
  private filePos = 0;
  private eof = false;

  private constructor(private readonly fh: FileHandle) {}

  /** open opens path for reading. */
  static async open(path: string): Promise<SequentialFileReader> {
    return new SequentialFileReader(await open(path, "r"));
  }

  /** position is the file offset of the next unread byte. */
  get position(): number {
    return this.filePos - (this.buf.length - this.at);
  }

  /**
   * read returns the next n bytes, or fewer only when the file ends first (none at its end).
   * The result is a view that stays valid until the next read.
   */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length - this.at < n && !this.eof) {
      const want = Math.max(CHUNK_BYTES, n - (this.buf.length - this.at));
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await this.fh.read(chunk, 0, want, this.filePos);
      if (bytesRead === 0) {
        this.eof = true;
        break;
      }
      this.filePos += bytesRead;
      this.buf = Buffer.concat([this.buf.subarray(this.at), chunk.subarray(0, bytesRead)]);
      this.at = 0;
    }
    const end = Math.min(this.at + n, this.buf.length);
    const out = this.buf.subarray(this.at, end);
    this.at = end;
    return out;
  }

  /** close closes the file. */
  async close(): Promise<void> {
    await this.fh.close();
  }
}
