import { open, type FileHandle } from "node:fs/promises";

/**
 * ByteSource is where the reader takes a bbolt file's bytes from: positional reads, so a
 * large file is never loaded whole. Positions and lengths are in bytes.
 */
export interface ByteSource {
  /** size is the length of the source in bytes, fixed when it was opened. */
  readonly size: number;
  /**
   * read returns the `length` bytes at `position`, or fewer when the source ends first. The
   * buffer is the caller's: the source never reuses or changes it.
   */
  read(position: number, length: number): Promise<Buffer>;
  /** close releases the source; reads after it fail. */
  close(): Promise<void>;
}

/**
 * FileSource reads a file through a FileHandle with positional reads. Reads go through one
 * read-ahead block (default 256 KiB, aligned): a walk over pages that lie near each other costs
 * one read per block instead of one per page. Every read returns a copy, so a buffer kept by a
 * caller never pins a block.
 */
export class FileSource implements ByteSource {
  private block: Buffer = Buffer.alloc(0);
  private blockPos = 0;

  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly blockSize: number,
  ) {}

  /** open opens path read-only and records its size; blockSize is the read-ahead block in bytes (0: none). */
  static async open(path: string, blockSize = 256 * 1024): Promise<FileSource> {
    const fh = await open(path, "r");
    try {
      const st = await fh.stat();
      return new FileSource(fh, st.size, blockSize);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async read(position: number, length: number): Promise<Buffer> {
    const want = Math.max(0, Math.min(length, this.size - position));
    if (want === 0) return Buffer.alloc(0);
    if (want <= this.blockSize / 2) {
      if (position < this.blockPos || position + want > this.blockPos + this.block.length) {
        const start = position - (position % this.blockSize);
        const end = Math.min(this.size, Math.max(start + this.blockSize, position + want));
        this.block = await this.readRaw(start, end - start);
        this.blockPos = start;
      }
      const off = position - this.blockPos;
      return Buffer.from(this.block.subarray(off, Math.min(this.block.length, off + want)));
    }
    return this.readRaw(position, want);
  }

  private async readRaw(position: number, want: number): Promise<Buffer> {
    const buf = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(buf, got, want - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === want ? buf : buf.subarray(0, got);
  }

  async close(): Promise<void> {
    this.block = Buffer.alloc(0);
    await this.fh.close();
  }
}

/** BufferSource serves reads from a Buffer in memory (tests, small files); reads are views of it. */
export class BufferSource implements ByteSource {
  readonly size: number;

  constructor(private readonly buf: Buffer) {
    this.size = buf.length;
  }

  read(position: number, length: number): Promise<Buffer> {
    return Promise.resolve(this.buf.subarray(position, Math.min(this.buf.length, position + length)));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
