import { open, unlink, type FileHandle } from "node:fs/promises";
import { BboltInputError, showBytes } from "./errors.js";
import { encodeMetaPage, isPageSize } from "./meta.js";
import { BUCKET_HEADER_SIZE, BUCKET_LEAF_FLAG, FREELIST_PAGE_FLAG, writePageHeader } from "./page.js";
import { PageAllocator, TreeBuilder } from "./tree_builder.js";

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

/** BboltWriteOptions shape the file written. */
export interface BboltWriteOptions {
  /** pageSize in bytes: a power of two in 1024..65536 (default 4096, bbolt's on amd64). */
  pageSize?: number;
  /**
   * txid is the transaction id of the newer meta page (default 2). It sits in meta page
   * txid % 2; the other meta page gets txid - 1 and describes the same tree, so a later bbolt
   * commit (txid + 1) overwrites the older one first. Must be 1 .. 2^64-1.
   */
  txid?: bigint;
  /**
   * inlineBuckets stores a bucket inside its parent's value, as bbolt does, when it has no
   * nested bucket and its leaf page image is at most pageSize / 4 bytes (default true). When
   * false every bucket gets pages of its own.
   */
  inlineBuckets?: boolean;
  /** chunkBytes is the size bboltChunks and writeBboltFile gather pages into before yielding or writing (default 256 KiB); a larger single page goes alone. */
  chunkBytes?: number;
}

/** BboltLayout is what the meta pages say about a written file. */
export interface BboltLayout {
  /** pageSize in bytes. */
  pageSize: number;
  /** rootPgid is the root bucket's root page. */
  rootPgid: number;
  /** freelistPgid is the (empty) freelist page, the last page of the file. */
  freelistPgid: number;
  /** highWaterPgid is the number of pages; the file is highWaterPgid * pageSize bytes. */
  highWaterPgid: number;
  /** txid is the newer meta page's transaction id. */
  txid: bigint;
}

interface Settings {
  pageSize: number;
  txid: bigint;
  inlineMax: number;
  chunkBytes: number;
}

function settings(o: BboltWriteOptions): Settings {
  const pageSize = o.pageSize ?? 4096;
  if (!isPageSize(pageSize) || pageSize < 1024 || pageSize > 65536) throw new BboltInputError(`page size ${pageSize} is not a power of two in 1024..65536`);
  const txid = o.txid ?? 2n;
  if (txid < 1n || txid > 0xffffffffffffffffn) throw new BboltInputError(`txid ${txid} outside 1..2^64-1`);
  const chunkBytes = o.chunkBytes ?? 256 * 1024;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new BboltInputError(`chunkBytes ${chunkBytes} is not a positive integer`);
  return { pageSize, txid, inlineMax: o.inlineBuckets === false ? -1 : pageSize / 4, chunkBytes };
}

function label(path: readonly Uint8Array[]): string {
  return path.length === 0 ? "root bucket" : `bucket ${path.map(showBytes).join("/")}`;
}

/**
 * Assembly runs the input through the tree builders once, yielding the data pages (ids 2 on)
 * in file order as they are written; `layout` is set when the run is over.
 */
class Assembly {
  readonly alloc: PageAllocator;
  layout: BboltLayout | undefined;

  constructor(
    private readonly s: Settings,
    dry: boolean,
  ) {
    this.alloc = new PageAllocator(s.pageSize, dry);
  }

  async *run(source: BboltSource): AsyncGenerator<Buffer> {
    const root = new TreeBuilder(this.alloc, -1, "root bucket");
    for await (const b of source) {
      if (Array.isArray(b) || typeof b !== "object" || b === null || !(b.name instanceof Uint8Array)) {
        throw new BboltInputError("root bucket: every top-level element must be a bucket ({ name, entries })");
      }
      yield* this.bucket(b, root, [b.name]);
    }
    const res = root.finish();
    yield* this.alloc.take();
    if (res.root === undefined) throw new Error("bbolt writer: root bucket came out inline");
    const freelistPgid = this.alloc.write(this.s.pageSize, (page, id) => writePageHeader(page, id, FREELIST_PAGE_FLAG, 0, 0));
    yield* this.alloc.take();
    this.layout = { pageSize: this.s.pageSize, rootPgid: res.root, freelistPgid, highWaterPgid: this.alloc.nextPgid, txid: this.s.txid };
  }

  /** bucket writes bucket b (whose path is `path`) and puts its value into parent. */
  private async *bucket(b: BboltBucketInput, parent: TreeBuilder, path: Uint8Array[]): AsyncGenerator<Buffer> {
    parent.checkNext(b.name);
    const sequence = b.sequence ?? 0n;
    if (typeof sequence !== "bigint" || sequence < 0n || sequence > 0xffffffffffffffffn) {
      throw new BboltInputError(`${label(path)}: sequence ${String(sequence)} is not a bigint in 0..2^64-1`);
    }
    const tree = new TreeBuilder(this.alloc, this.s.inlineMax, label(path));
    const out = this.alloc;
    for await (const e of b.entries) {
      if (Array.isArray(e)) {
        const [k, v] = e as readonly [Uint8Array, Uint8Array];
        if (!(k instanceof Uint8Array) || !(v instanceof Uint8Array)) throw new BboltInputError(`${label(path)}: an entry is not a [Uint8Array, Uint8Array] pair`);
        tree.put(k, v, 0);
        if (out.out.length > 0) yield* out.take();
      } else {
        const child = e as BboltBucketInput;
        if (typeof child !== "object" || child === null || !(child.name instanceof Uint8Array)) {
          throw new BboltInputError(`${label(path)}: an entry is neither a [key, value] pair nor a bucket`);
        }
        yield* this.bucket(child, tree, [...path, child.name]);
      }
    }
    const res = tree.finish();
    yield* out.take();
    let value: Buffer;
    if (res.inline !== undefined) {
      value = Buffer.alloc(BUCKET_HEADER_SIZE + res.inline.length);
      value.writeBigUInt64LE(sequence, 8);
      res.inline.copy(value, BUCKET_HEADER_SIZE);
    } else {
      value = Buffer.alloc(BUCKET_HEADER_SIZE);
      value.writeBigUInt64LE(BigInt(res.root), 0);
      value.writeBigUInt64LE(sequence, 8);
    }
    parent.put(b.name, value, BUCKET_LEAF_FLAG);
    yield* out.take();
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
  const s = settings(options);
  if (planned.pageSize !== s.pageSize || planned.txid !== s.txid) {
    throw new BboltInputError(`the planned layout (page size ${planned.pageSize}, txid ${planned.txid}) was made with other options`);
  }
  const [m0, m1] = metaPages(planned);
  const real = new Assembly(s, false);
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
  const a = new Assembly(settings(options), true);
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
  const s = settings(options);
  const fh = await open(path, "w");
  let ok = false;
  try {
    const a = new Assembly(s, false);
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
