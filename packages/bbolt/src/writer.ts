import { open, unlink, type FileHandle } from "node:fs/promises";
import { BboltInputError } from "./errors.js";
import { encodeMetaPage } from "./meta.js";
import { BboltPushWriter, bucketLabel, writeSettings, type BboltLayout, type BboltWriteOptions } from "./push_writer.js";

export type { BboltLayout, BboltWriteOptions } from "./push_writer.js";

/** BboltEntryInput is one element of a bucket to write: a [key, value] pair or a nested bucket. */
export type BboltEntryInput = readonly [key: Uint8Array, value: Uint8Array] | BboltBucketInput;

/**
 * BboltBucketInput is a bucket to write: its name, its sequence (default 0) and its elements
 * in strictly increasing byte order of their keys (a nested bucket's key is its name).
 */
export interface BboltBucketInput {
  name: Uint8Array;
  sequence?: bigint;
  entries: Iterable<BboltEntryInput> | AsyncIterable<BboltEntryInput>;
}

/** BboltSource is the top-level buckets to write, in strictly increasing byte order of their names. */
export type BboltSource = Iterable<BboltBucketInput> | AsyncIterable<BboltBucketInput>;

/**
 * Assembly runs the input through a BboltPushWriter once, yielding the data pages (ids 2 on)
 * in file order as they are written; `layout` is set when the run is over.
 */
class Assembly {
  private readonly w: BboltPushWriter;
  layout: BboltLayout | undefined;

  constructor(options: BboltWriteOptions, dry: boolean) {
    this.w = new BboltPushWriter(options, dry);
  }

  async *run(source: BboltSource): AsyncGenerator<Buffer> {
    for await (const b of source) {
      if (Array.isArray(b) || typeof b !== "object" || b === null || !(b.name instanceof Uint8Array)) {
        throw new BboltInputError("root bucket: every top-level element must be a bucket ({ name, entries })");
      }
      yield* this.bucket(b, [b.name]);
    }
    this.layout = this.w.finish();
    yield* this.w.take();
  }

  /** bucket writes bucket b (whose path is `path`) into the bucket open around it. */
  private async *bucket(b: BboltBucketInput, path: Uint8Array[]): AsyncGenerator<Buffer> {
    const w = this.w;
    w.openBucket(b.name, b.sequence ?? 0n);
    for await (const e of b.entries) {
      if (Array.isArray(e)) {
        const [k, v] = e as readonly [Uint8Array, Uint8Array];
        if (!(k instanceof Uint8Array) || !(v instanceof Uint8Array)) throw new BboltInputError(`${bucketLabel(path)}: an entry is not a [Uint8Array, Uint8Array] pair`);
        w.put(k, v);
        if (w.pending) yield* w.take();
      } else {
        const child = e as BboltBucketInput;
        if (typeof child !== "object" || child === null || !(child.name instanceof Uint8Array)) {
          throw new BboltInputError(`${bucketLabel(path)}: an entry is neither a [key, value] pair nor a bucket`);
        }
        yield* this.bucket(child, [...path, child.name]);
      }
    }
    w.closeBucket();
    yield* w.take();
  }
}

/** metaPages returns pages 0 and 1 for a layout: the newer meta (txid) in page txid % 2, txid - 1 in the other. */
export function metaPages(layout: BboltLayout): [Buffer, Buffer] {
  const fields = (txid: bigint) => ({ pageSize: layout.pageSize, root: layout.rootPgid, freelist: layout.freelistPgid, pgid: layout.highWaterPgid, txid });
  const newer = Number(layout.txid % 2n) as 0 | 1;
  const older = (1 - newer) as 0 | 1;
  const pages: Buffer[] = [];
  pages[newer] = encodeMetaPage(newer, fields(layout.txid));
  pages[older] = encodeMetaPage(older, fields(layout.txid - 1n));
  return [pages[0]!, pages[1]!];
}

/** gather groups buffers into chunks of at least `bytes` bytes (the last may be smaller); a larger buffer goes alone. */
async function* gather(src: AsyncIterable<Buffer>, bytes: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let size = 0;
  for await (const b of src) {
    if (b.length >= bytes) {
      if (size > 0) yield Buffer.concat(pending, size);
      pending = [];
      size = 0;
      yield b;
      continue;
    }
    pending.push(b);
    size += b.length;
    if (size >= bytes) {
      yield Buffer.concat(pending, size);
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(pending, size);
}

/**
 * bboltChunks yields a whole bbolt file, in file order, as the source is read: pages 0 and 1
 * (the metas) first, then the data pages, then the freelist page. Since the metas name the root
 * page and the high-water mark, which are known only once every key has been seen, it reads
 * the source twice: `source()` is called once for a dry run that only counts pages (nothing is
 * yielded, and input errors surface before the first byte), and once more to produce the
 * pages. Both calls must yield the same buckets and keys (a consistent snapshot); if the second
 * run ends with a different layout it throws a BboltInputError after the bytes already yielded,
 * and the consumer must discard the output. Memory stays bounded by a few pages per tree level
 * and nesting depth plus one chunk; the consumer sets the pace (async iteration, so
 * `stream.Readable.from(bboltChunks(...))` honours backpressure).
 */
export async function* bboltChunks(source: () => BboltSource, options: BboltWriteOptions = {}): AsyncGenerator<Buffer> {
  const planned = await planBbolt(source(), options);
  yield* bboltChunksPlanned(source(), planned, options);
}

/**
 * bboltChunksPlanned is bboltChunks' second pass: it yields the file of source in file order,
 * metas first, given the layout planBbolt computed for the same buckets and keys (with the
 * same options). A source that turns out to differ from the planned one makes it throw a
 * BboltInputError after the bytes already yielded; the consumer must discard the output.
 */
export async function* bboltChunksPlanned(source: BboltSource, planned: BboltLayout, options: BboltWriteOptions = {}): AsyncGenerator<Buffer> {
  const s = writeSettings(options);
  if (planned.pageSize !== s.pageSize || planned.txid !== s.txid) {
    throw new BboltInputError(`the planned layout (page size ${planned.pageSize}, txid ${planned.txid}) was made with other options`);
  }
  const [m0, m1] = metaPages(planned);
  const real = new Assembly(options, false);
  async function* all(): AsyncGenerator<Buffer> {
    yield m0;
    yield m1;
    yield* real.run(source);
    const got = real.layout!;
    if (got.rootPgid !== planned.rootPgid || got.highWaterPgid !== planned.highWaterPgid || got.freelistPgid !== planned.freelistPgid) {
      throw new BboltInputError(
        `the source changed between the two passes (first pass: root page ${planned.rootPgid}, ${planned.highWaterPgid} pages; second: root page ${got.rootPgid}, ${got.highWaterPgid} pages); the bytes produced are not a valid file`,
      );
    }
  }
  yield* gather(all(), s.chunkBytes);
}

/**
 * planBbolt runs the source through the writer without producing pages and returns the layout
 * the file would have (its size is highWaterPgid * pageSize bytes). It validates the input.
 */
export async function planBbolt(source: BboltSource, options: BboltWriteOptions = {}): Promise<BboltLayout> {
  const a = new Assembly(options, true);
  for await (const _ of a.run(source)) {
    // Nothing is yielded in a dry run.
  }
  return a.layout!;
}

/**
 * writeBboltFile writes the source as a bbolt file at path in a single pass: the data pages
 * go out in order from byte 2 * pageSize as they fill, and pages 0 and 1 (the metas) are
 * written last, once the root page and high-water mark are known. The file is created or
 * truncated; with `sync` (default true) it is fsync'ed before the metas and again after them,
 * so a crash never leaves metas pointing at unwritten pages. On any error the partial file is
 * removed.
 */
export async function writeBboltFile(path: string, source: BboltSource, options: BboltWriteOptions & { sync?: boolean } = {}): Promise<BboltLayout> {
  const s = writeSettings(options);
  const fh = await open(path, "w");
  let ok = false;
  try {
    const a = new Assembly(options, false);
    let pos = 2 * s.pageSize;
    // One write in flight while the next chunk is built (chunks are fresh buffers).
    let writing: Promise<void> | undefined;
    try {
      for await (const chunk of gather(a.run(source), s.chunkBytes)) {
        if (writing !== undefined) await writing;
        writing = writeAll(fh, chunk, pos);
        writing.catch(() => undefined);
        pos += chunk.length;
      }
    } finally {
      if (writing !== undefined) await writing.catch(() => undefined);
    }
    if (writing !== undefined) await writing;
    const layout = a.layout!;
    if (options.sync !== false) await fh.datasync();
    const [m0, m1] = metaPages(layout);
    await writeAll(fh, Buffer.concat([m0, m1]), 0);
    if (options.sync !== false) await fh.datasync();
    ok = true;
    return layout;
  } finally {
    await fh.close();
    if (!ok) await unlink(path).catch(() => {});
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}
