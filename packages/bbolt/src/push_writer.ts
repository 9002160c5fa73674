import { BboltInputError, showBytes } from "./errors.js";
import { isPageSize } from "./meta.js";
import { BUCKET_HEADER_SIZE, BUCKET_LEAF_FLAG, FREELIST_PAGE_FLAG, writePageHeader } from "./page.js";
import { PageAllocator, TreeBuilder } from "./tree_builder.js";

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

/** WriteSettings are BboltWriteOptions checked, with their defaults. */
export interface WriteSettings {
  pageSize: number;
  txid: bigint;
  inlineMax: number;
  chunkBytes: number;
}

/** writeSettings checks options and fills in the defaults. */
export function writeSettings(o: BboltWriteOptions): WriteSettings {
  const pageSize = o.pageSize ?? 4096;
  if (!isPageSize(pageSize) || pageSize < 1024 || pageSize > 65536) throw new BboltInputError(`page size ${pageSize} is not a power of two in 1024..65536`);
  const txid = o.txid ?? 2n;
  if (txid < 1n || txid > 0xffffffffffffffffn) throw new BboltInputError(`txid ${txid} outside 1..2^64-1`);
  const chunkBytes = o.chunkBytes ?? 256 * 1024;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new BboltInputError(`chunkBytes ${chunkBytes} is not a positive integer`);
  return { pageSize, txid, inlineMax: o.inlineBuckets === false ? -1 : pageSize / 4, chunkBytes };
}

/** bucketLabel names a bucket by its path in error messages. */
export function bucketLabel(path: readonly Uint8Array[]): string {
  return path.length === 0 ? "root bucket" : `bucket ${path.map(showBytes).join("/")}`;
}

interface OpenBucket {
  name: Uint8Array;
  sequence: bigint;
  tree: TreeBuilder;
}

/**
 * BboltPushWriter builds a bbolt file from buckets and keys pushed to it in file order, with
 * no promise or generator per key: openBucket, put (keys in strictly increasing byte order),
 * closeBucket, nested as the buckets nest, and finish once the top-level buckets (in
 * strictly increasing order of their names) are closed. take() hands out the data pages
 * written so far (ids 2 on, in file order) and forgets them; finish() writes the freelist
 * page, whose page take() then returns, and gives the layout the meta pages describe. In a
 * dry run (dry true) pages are only counted: take() returns nothing, and finish() gives the
 * layout a real run of the same input gives. Memory stays bounded by a few pages per tree
 * level and nesting depth plus what take() has not handed out. With reusePages the pages
 * are written into one buffer that take() starts over: the pages take() returns are views,
 * valid until the next call that writes (put, closeBucket, finish), so the caller copies them
 * out at once; no memory is allocated per page. Errors are BboltInputErrors naming the bucket.
 */
export class BboltPushWriter {
  private readonly s: WriteSettings;
  private readonly alloc: PageAllocator;
  private readonly root: TreeBuilder;
  private readonly open: OpenBucket[] = [];
  private done: BboltLayout | undefined;

  constructor(options: BboltWriteOptions = {}, dry = false, reusePages = false) {
    this.s = writeSettings(options);
    this.alloc = new PageAllocator(this.s.pageSize, dry, reusePages);
    this.root = new TreeBuilder(this.alloc, -1, bucketLabel([]));
  }

  /** settings are the options the writer was made with, checked. */
  get settings(): WriteSettings {
    return this.s;
  }

  /** openBucket starts bucket name inside the open bucket (at the top level when none is open). */
  openBucket(name: Uint8Array, sequence: bigint = 0n): void {
    this.checkNotFinished();
    const path = [...this.open.map((b) => b.name), name];
    this.parentTree().checkNext(name);
    if (typeof sequence !== "bigint" || sequence < 0n || sequence > 0xffffffffffffffffn) {
      throw new BboltInputError(`${bucketLabel(path)}: sequence ${String(sequence)} is not a bigint in 0..2^64-1`);
    }
    // The name is kept until closeBucket puts it into the parent: copied, the caller may reuse its buffer.
    this.open.push({ name: Uint8Array.from(name), sequence, tree: new TreeBuilder(this.alloc, this.s.inlineMax, bucketLabel(path)) });
  }

  /** put appends key and value to the open bucket. */
  put(key: Uint8Array, value: Uint8Array): void {
    const b = this.open[this.open.length - 1];
    if (b === undefined) throw new BboltInputError(`${bucketLabel([])}: every top-level element must be a bucket ({ name, entries })`);
    b.tree.put(key, value, 0);
  }

  /** closeBucket finishes the open bucket and puts its value (inline page or root page id) into its parent. */
  closeBucket(): void {
    const b = this.open.pop();
    if (b === undefined) throw new Error("bbolt writer: closeBucket with no bucket open");
    const res = b.tree.finish();
    let value: Buffer;
    if (res.inline !== undefined) {
      value = Buffer.alloc(BUCKET_HEADER_SIZE + res.inline.length);
      value.writeBigUInt64LE(b.sequence, 8);
      res.inline.copy(value, BUCKET_HEADER_SIZE);
    } else {
      value = Buffer.alloc(BUCKET_HEADER_SIZE);
      value.writeBigUInt64LE(BigInt(res.root), 0);
      value.writeBigUInt64LE(b.sequence, 8);
    }
    this.parentTree().put(b.name, value, BUCKET_LEAF_FLAG);
  }

  /** finish writes the root bucket and the freelist page and returns the file's layout (once; every bucket must be closed). */
  finish(): BboltLayout {
    this.checkNotFinished();
    if (this.open.length > 0) throw new Error(`bbolt writer: finish with ${bucketLabel(this.open.map((b) => b.name))} still open`);
    const res = this.root.finish();
    if (res.root === undefined) throw new Error("bbolt writer: root bucket came out inline");
    const freelistPgid = this.alloc.write(this.s.pageSize, (page, id) => writePageHeader(page, id, FREELIST_PAGE_FLAG, 0, 0));
    this.done = { pageSize: this.s.pageSize, rootPgid: res.root, freelistPgid, highWaterPgid: this.alloc.nextPgid, txid: this.s.txid };
    return this.done;
  }

  /** take returns the pages written since the last call, in file order (none in a dry run), and forgets them (see reusePages). */
  take(): Buffer[] {
    return this.alloc.take();
  }

  /** pending tells whether take() has pages to hand out. */
  get pending(): boolean {
    return this.alloc.out.length > 0;
  }

  private parentTree(): TreeBuilder {
    return this.open[this.open.length - 1]?.tree ?? this.root;
  }

  private checkNotFinished(): void {
    if (this.done !== undefined) throw new Error("bbolt writer: the file is finished");
  }
}
