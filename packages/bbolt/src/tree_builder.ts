import { BboltInputError, showBytes } from "./errors.js";
import {
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE_FLAG,
  BUCKET_LEAF_FLAG,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE_FLAG,
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE,
  PAGE_HEADER_SIZE,
  pagesFor,
  writePageHeader,
} from "./page.js";

/** MAX_COUNT is the most elements a page holds: its header's count is a u16 and bbolt refuses 0xFFFF. */
const MAX_COUNT = 0xfffe;

/** ARENA_BYTES is the least size of the buffer a reusing PageAllocator writes pages into. */
const ARENA_BYTES = 2 * 1024 * 1024;

/**
 * PageAllocator hands out page ids in file order and collects the pages written since the
 * last drain. Page ids start at 2 (0 and 1 are the meta pages). In a dry run it only counts:
 * ids advance exactly as in a real run, but no page is serialized. With reuse, pages are
 * written into one buffer that take() starts over: the pages it returns are views, valid
 * until the next page is written (no memory is allocated per page).
 */
export class PageAllocator {
  /** nextPgid is the id the next page gets; at the end it is the high-water mark. */
  nextPgid = 2;
  /** out holds the pages written since the last drain, in file order (always empty in a dry run). */
  out: Buffer[] = [];
  private arena: Buffer | undefined;
  private used = 0;

  constructor(
    /** pageSize is the page size in bytes. */
    readonly pageSize: number,
    /** dry is true when pages are only counted. */
    readonly dry: boolean,
    /** reuse writes pages into a buffer take() starts over (see the class comment). */
    private readonly reuse = false,
  ) {}

  /** take returns the pages written since the last call and forgets them. */
  take(): Buffer[] {
    const o = this.out;
    this.out = [];
    this.used = 0;
    return o;
  }

  /** write allocates the pages a `bytes`-byte node needs, lets fill serialize it (unless dry), and returns its id. */
  write(bytes: number, fill: (page: Buffer, id: number, overflow: number) => void): number {
    const id = this.nextPgid;
    const n = pagesFor(bytes, this.pageSize);
    this.nextPgid += n;
    if (!this.dry) {
      const page = this.reuse ? this.slot(n * this.pageSize) : Buffer.alloc(n * this.pageSize);
      fill(page, id, n - 1);
      this.out.push(page);
    }
    return id;
  }

  /** slot is a zeroed view of size bytes in the arena; a full arena is left to the views already out and a larger one started. */
  private slot(size: number): Buffer {
    if (this.arena === undefined || this.used + size > this.arena.length) {
      this.arena = Buffer.allocUnsafe(Math.max(ARENA_BYTES, size));
      this.used = 0;
    }
    const page = this.arena.subarray(this.used, this.used + size);
    page.fill(0);
    this.used += size;
    return page;
  }
}

/**
 * NodeBuffer accumulates the elements of one page being built: their sizes and flags (leaf)
 * or child ids (branch), and their key (and value) bytes back to back in `data`. The bytes are
 * copied in, so the caller may reuse its buffers once put returns.
 */
class NodeBuffer {
  count = 0;
  /** size is the serialized size of the node in bytes: header, element table and data. */
  size = PAGE_HEADER_SIZE;
  hasBucket = false;
  ksizes: number[] = [];
  vsizes: number[] = [];
  flags: number[] = [];
  pgids: number[] = [];
  offs: number[] = [];
  data: Buffer;
  dataLen = 0;

  constructor(
    readonly leaf: boolean,
    private readonly pageSize: number,
    /** storeValues is false in a dry run: values are counted, not copied (keys still are, for branch keys and order checks). */
    private readonly storeValues: boolean,
  ) {
    this.data = Buffer.alloc(pageSize);
  }

  get elementSize(): number {
    return this.leaf ? LEAF_ELEMENT_SIZE : BRANCH_ELEMENT_SIZE;
  }

  /** add appends an element; value is empty for a branch element. */
  add(key: Uint8Array, value: Uint8Array, flags: number, pgid: number): void {
    const stored = this.storeValues ? value.length : 0;
    const need = this.dataLen + key.length + stored;
    if (need > this.data.length) {
      let cap = this.data.length * 2;
      while (cap < need) cap *= 2;
      const grown = Buffer.alloc(cap);
      this.data.copy(grown, 0, 0, this.dataLen);
      this.data = grown;
    }
    this.offs.push(this.dataLen);
    this.data.set(key, this.dataLen);
    if (stored > 0) this.data.set(value, this.dataLen + key.length);
    this.dataLen = need;
    this.ksizes.push(key.length);
    this.vsizes.push(value.length);
    this.flags.push(flags);
    this.pgids.push(pgid);
    if ((flags & BUCKET_LEAF_FLAG) !== 0) this.hasBucket = true;
    this.count++;
    this.size += this.elementSize + key.length + value.length;
  }

  /** key returns a view of element i's key (valid until the node changes). */
  key(i: number): Buffer {
    const off = this.offs[i]!;
    return this.data.subarray(off, off + this.ksizes[i]!);
  }

  /** firstKey returns a copy of the first element's key. */
  firstKey(): Buffer {
    return Buffer.from(this.key(0));
  }

  /** popLast removes the last element and returns a copy of its key and its child id (branch nodes). */
  popLast(): [Buffer, number] {
    const i = this.count - 1;
    const key = Buffer.from(this.key(i));
    const pgid = this.pgids[i]!;
    this.dataLen = this.offs[i]!;
    this.size -= this.elementSize + this.ksizes[i]! + this.vsizes[i]!;
    this.count--;
    this.offs.pop();
    this.ksizes.pop();
    this.vsizes.pop();
    this.flags.pop();
    this.pgids.pop();
    return [key, pgid];
  }

  /** serialize writes the node as a page image into page (zero-filled, at least size bytes). */
  serialize(page: Buffer, id: number, overflow: number): void {
    if (!this.storeValues) throw new Error("bbolt writer: a dry run's node cannot be serialized");
    writePageHeader(page, id, this.leaf ? LEAF_PAGE_FLAG : BRANCH_PAGE_FLAG, this.count, overflow);
    const dataStart = PAGE_HEADER_SIZE + this.count * this.elementSize;
    for (let i = 0; i < this.count; i++) {
      const at = PAGE_HEADER_SIZE + i * this.elementSize;
      const pos = dataStart + this.offs[i]! - at;
      if (this.leaf) {
        page.writeUInt32LE(this.flags[i]!, at);
        page.writeUInt32LE(pos, at + 4);
        page.writeUInt32LE(this.ksizes[i]!, at + 8);
        page.writeUInt32LE(this.vsizes[i]!, at + 12);
      } else {
        page.writeUInt32LE(pos, at);
        page.writeUInt32LE(this.ksizes[i]!, at + 4);
        page.writeBigUInt64LE(BigInt(this.pgids[i]!), at + 8);
      }
    }
    this.data.copy(page, dataStart, 0, this.dataLen);
  }

  /** reset empties the node, dropping a data buffer that grew for a large value. */
  reset(): void {
    this.count = 0;
    this.size = PAGE_HEADER_SIZE;
    this.hasBucket = false;
    this.ksizes.length = 0;
    this.vsizes.length = 0;
    this.flags.length = 0;
    this.pgids.length = 0;
    this.offs.length = 0;
    this.dataLen = 0;
    if (this.data.length > 4 * this.pageSize) this.data = Buffer.alloc(this.pageSize);
  }
}

/** Level is one level of a tree being built: the node filling up, and for branch levels the full node before it, held back so the last node of the level never ends up with a single child. */
interface Level {
  cur: NodeBuffer;
  held: NodeBuffer | undefined;
  /** wrote tells whether a node of this level was written already. */
  wrote: boolean;
}

/** TreeResult is a finished bucket tree: the id of its root page, or, for a bucket small enough, its inline page image. */
export type TreeResult = { root: number; inline?: undefined } | { root?: undefined; inline: Buffer };

/**
 * TreeBuilder builds one bucket's B+tree bottom-up from elements given in strictly increasing
 * key order. A leaf page is filled up to the page size (bbolt's compaction fill, FillPercent
 * 1.0) and written as soon as the next element does not fit; an element larger than a page gets
 * a page of its own with overflow pages. A branch element (the child's first key and id) goes
 * up as each child is written. Only one node per level (two for branch levels) is in memory.
 */
export class TreeBuilder {
  private readonly levels: Level[];
  private lastKey: Buffer;
  private lastLen = -1;

  constructor(
    private readonly alloc: PageAllocator,
    /** inlineMax is the largest inline page image in bytes (bbolt: pageSize / 4); -1 never inlines. */
    private readonly inlineMax: number,
    /** label names the bucket in error messages. */
    private readonly label: string,
  ) {
    this.levels = [{ cur: new NodeBuffer(true, alloc.pageSize, !alloc.dry), held: undefined, wrote: false }];
    this.lastKey = Buffer.alloc(64);
  }

  /** checkNext throws unless key may come next: non-empty, at most MAX_KEY_SIZE bytes, above the previous key. */
  checkNext(key: Uint8Array): void {
    if (key.length === 0) throw new BboltInputError(`${this.label}: empty key`);
    if (key.length > MAX_KEY_SIZE) throw new BboltInputError(`${this.label}: key ${showBytes(key)} is ${key.length} bytes, above bbolt's limit of ${MAX_KEY_SIZE}`);
    if (this.lastLen >= 0 && Buffer.compare(key, this.lastKey.subarray(0, this.lastLen)) <= 0) {
      const prev = this.lastKey.subarray(0, this.lastLen);
      const what = Buffer.compare(key, prev) === 0 ? "repeats" : "sorts before";
      throw new BboltInputError(`${this.label}: key ${showBytes(key)} ${what} the previous key ${showBytes(prev)} (keys must come in strictly increasing byte order)`);
    }
  }

  /** put appends a leaf element (flags BUCKET_LEAF_FLAG for a nested bucket's value) after checking its order and size. */
  put(key: Uint8Array, value: Uint8Array, flags: number): void {
    this.checkNext(key);
    if (value.length > MAX_VALUE_SIZE) throw new BboltInputError(`${this.label}: value of key ${showBytes(key)} is ${value.length} bytes, above bbolt's limit of ${MAX_VALUE_SIZE}`);
    if (key.length > this.lastKey.length) this.lastKey = Buffer.alloc(Math.max(key.length, this.lastKey.length * 2));
    this.lastKey.set(key, 0);
    this.lastLen = key.length;
    const leaf = this.levels[0]!.cur;
    const size = LEAF_ELEMENT_SIZE + key.length + value.length;
    if (leaf.count > 0 && (leaf.size + size > this.alloc.pageSize || leaf.count >= MAX_COUNT)) this.writeNode(0, leaf);
    leaf.add(key, value, flags, 0);
  }

  /** finish writes what is left, bottom-up, and returns the root page id, or the inline image when the bucket is inlined. */
  finish(): TreeResult {
    const leafLevel = this.levels[0]!;
    const leaf = leafLevel.cur;
    if (this.levels.length === 1 && !leafLevel.wrote && !leaf.hasBucket && leaf.size <= this.inlineMax) {
      const image = Buffer.alloc(leaf.size);
      // A dry run only needs the image's size (its parent counts it, never reads it).
      if (!this.alloc.dry) leaf.serialize(image, 0, 0);
      return { inline: image };
    }
    for (let l = 0; ; l++) {
      const level = this.levels[l]!;
      const { cur } = level;
      const held = level.held;
      // A last branch node with one child takes the last child of the full node before it.
      if (held !== undefined && cur.count === 1 && held.count >= 2) {
        const [k0, p0] = cur.popLast();
        const [k1, p1] = held.popLast();
        cur.add(k1, new Uint8Array(0), 0, p1);
        cur.add(k0, new Uint8Array(0), 0, p0);
      }
      const top = this.levels.length === l + 1;
      if (top && !level.wrote && held === undefined) {
        if (l > 0 && cur.count === 1) return { root: cur.pgids[0]! };
        return { root: this.writeNodeOnly(cur) };
      }
      if (held !== undefined) {
        this.writeNode(l, held);
        level.held = undefined;
      }
      if (cur.count > 0) this.writeNode(l, cur);
    }
  }

  /** writeNode writes node (of level l), hands its first key and id to level l+1, and empties it. */
  private writeNode(l: number, node: NodeBuffer): void {
    const key = node.firstKey();
    const id = this.writeNodeOnly(node);
    this.levels[l]!.wrote = true;
    this.addBranch(l + 1, key, id);
  }

  private writeNodeOnly(node: NodeBuffer): number {
    const id = this.alloc.write(node.size, (page, pid, overflow) => node.serialize(page, pid, overflow));
    node.reset();
    return id;
  }

  /** addBranch appends a child to branch level l; a full node is held back until the one after it fills too. */
  private addBranch(l: number, key: Buffer, pgid: number): void {
    let level = this.levels[l];
    if (level === undefined) {
      level = { cur: new NodeBuffer(false, this.alloc.pageSize, !this.alloc.dry), held: undefined, wrote: false };
      this.levels.push(level);
    }
    const cur = level.cur;
    if (cur.count > 0 && (cur.size + BRANCH_ELEMENT_SIZE + key.length > this.alloc.pageSize || cur.count >= MAX_COUNT)) {
      const spare = level.held;
      if (spare !== undefined) this.writeNode(l, spare);
      level.held = cur;
      level.cur = spare ?? new NodeBuffer(false, this.alloc.pageSize, !this.alloc.dry);
    }
    level.cur.add(key, new Uint8Array(0), 0, pgid);
  }
}
