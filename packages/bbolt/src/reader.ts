import { BboltCorruptError, showBytes } from "./errors.js";
import { decodeMeta, validateMeta, type Meta } from "./meta.js";
import { findChild, findLeaf, parseBranch, parseLeaf, type BranchNode, type LeafNode, type NodeContext, type TreeNode } from "./node.js";
import {
  BRANCH_PAGE_FLAG,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  FREELIST_COUNT_OVERFLOW,
  FREELIST_PAGE_FLAG,
  LEAF_PAGE_FLAG,
  META_SIZE,
  NO_FREELIST,
  PAGE_HEADER_SIZE,
  pageTypeName,
  readPageHeader,
} from "./page.js";
import { BufferSource, FileSource, type ByteSource } from "./source.js";

/** MAX_DEPTH bounds a tree's height: a B+tree whose branches have two or more children cannot be taller over 2^64 keys. */
const MAX_DEPTH = 64;

/** META_BYTES is how much of a meta page the reader reads: the header and the meta struct. */
const META_BYTES = PAGE_HEADER_SIZE + META_SIZE;

/** PAGE_SIZE_GUESSES are the page sizes tried for meta page 1 when meta page 0 is unreadable (4096 first, bbolt's usual). */
const PAGE_SIZE_GUESSES = [4096, 512, 1024, 2048, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576];

/** A BboltKeyValue is a plain key and its value, both views of the page they were read from. */
export interface BboltKeyValue {
  kind: "value";
  key: Buffer;
  value: Buffer;
}

/** A BboltSubBucket is a key whose value is a nested bucket. */
export interface BboltSubBucket {
  kind: "bucket";
  key: Buffer;
  bucket: BboltBucket;
}

/** BboltEntry is one element of a bucket, in key order: a plain value or a nested bucket. */
export type BboltEntry = BboltKeyValue | BboltSubBucket;

/**
 * BboltReader reads a bbolt database (format version 2, little-endian, as Go's bbolt writes it
 * on amd64 and arm64) from a file or buffer, page by page: nothing but the pages on the current
 * path through a tree is held in memory. It reads the state of one meta page, chosen as bbolt
 * chooses: of the two meta pages, the valid one with the higher txid (page 0 on a tie). Bytes
 * after the high-water mark (a file grown ahead, the SHA-256 trailer of `etcdctl snapshot
 * save`) are ignored.
 *
 * Every page met while walking is checked (id within the high-water mark and the file, header
 * naming the page, page type right for its place, elements inside the page, keys in order);
 * a fault raises a BboltCorruptError naming the page. Pages are read lazily, so a fault in a
 * part of the tree that is never walked goes unnoticed.
 */
export class BboltReader {
  /** pageSize is the database's page size in bytes. */
  readonly pageSize: number;
  /** txid is the transaction id of the meta page in use. */
  readonly txid: bigint;
  /** highWaterPgid is the number of pages in use: every reachable page id is below it. */
  readonly highWaterPgid: number;
  /** freelistPgid is the page id of the freelist, or null when the file stores none (NoFreelistSync). */
  readonly freelistPgid: number | null;
  /** metaPage is which meta page (0 or 1) is in use. */
  readonly metaPage: 0 | 1;
  /** fileSize is the size of the source in bytes (at least highWaterPgid * pageSize). */
  readonly fileSize: number;
  /** root is the root bucket: its entries are the top-level buckets. */
  readonly root: BboltBucket;

  private constructor(
    private readonly src: ByteSource,
    meta: Meta,
    metaPage: 0 | 1,
  ) {
    this.pageSize = meta.pageSize;
    this.txid = meta.txid;
    this.highWaterPgid = Number(meta.pgid);
    this.freelistPgid = meta.freelist === NO_FREELIST ? null : Number(meta.freelist);
    this.metaPage = metaPage;
    this.fileSize = src.size;
    this.root = new BboltBucket(this, [], Number(meta.root), meta.rootSequence, undefined, []);
  }

  /** open opens the bbolt file at path for reading; close() releases it. */
  static async open(path: string): Promise<BboltReader> {
    const src = await FileSource.open(path);
    try {
      return await BboltReader.fromSource(src);
    } catch (e) {
      await src.close();
      throw e;
    }
  }

  /** fromBuffer reads a bbolt database held in memory; entries are views of buf. */
  static fromBuffer(buf: Buffer): Promise<BboltReader> {
    return BboltReader.fromSource(new BufferSource(buf));
  }

  /**
   * fromSource reads the meta pages of src and returns a reader on the meta in use. It throws
   * "bbolt: invalid database: ..." when neither meta page is valid or the file is shorter than
   * the chosen meta's high-water mark, and checks the freelist page's header.
   */
  static async fromSource(src: ByteSource): Promise<BboltReader> {
    const head0 = await src.read(0, META_BYTES);
    const why0 = head0.length < META_BYTES ? `file is only ${src.size} bytes` : validateMeta(head0, 0);
    const meta0 = why0 === undefined ? decodeMeta(head0) : undefined;

    let meta1: Meta | undefined;
    let why1 = "not found";
    const sizes = meta0 !== undefined ? [meta0.pageSize] : PAGE_SIZE_GUESSES;
    for (const ps of sizes) {
      if (src.size < ps + META_BYTES) {
        if (meta0 !== undefined) why1 = `file is only ${src.size} bytes`;
        continue;
      }
      const head1 = await src.read(ps, META_BYTES);
      const why = validateMeta(head1, 1);
      if (why === undefined && decodeMeta(head1).pageSize !== ps) {
        why1 = `page size ${decodeMeta(head1).pageSize} disagrees with its position ${ps}`;
        continue;
      }
      if (why === undefined) {
        meta1 = decodeMeta(head1);
        break;
      }
      if (meta0 !== undefined || ps === 4096) why1 = why;
    }

    let meta: Meta;
    let page: 0 | 1;
    if (meta0 !== undefined && (meta1 === undefined || meta0.txid >= meta1.txid)) {
      meta = meta0;
      page = 0;
    } else if (meta1 !== undefined) {
      meta = meta1;
      page = 1;
    } else {
      throw new BboltCorruptError(`bbolt: invalid database: meta page 0: ${why0 ?? "?"}; meta page 1: ${why1}`);
    }
    const need = meta.pgid * BigInt(meta.pageSize);
    if (BigInt(src.size) < need) {
      throw new BboltCorruptError(
        `bbolt: invalid database: file is ${src.size} bytes but meta page ${page} (txid ${meta.txid}) uses ${meta.pgid} pages of ${meta.pageSize} bytes (${need} bytes): truncated file`,
      );
    }
    const reader = new BboltReader(src, meta, page);
    if (reader.freelistPgid !== null) await reader.readPage(reader.freelistPgid, FREELIST_PAGE_FLAG, "freelist");
    return reader;
  }

  /** close releases the file. */
  close(): Promise<void> {
    return this.src.close();
  }

  /** buckets yields the names of the top-level buckets in byte order. */
  async *buckets(): AsyncGenerator<Buffer> {
    for await (const e of this.root.entries()) if (e.kind === "bucket") yield e.key;
  }

  /** bucket returns the bucket at a path of names (top-level name first), or undefined when there is none. */
  async bucket(...path: Uint8Array[]): Promise<BboltBucket | undefined> {
    let b: BboltBucket | undefined = this.root;
    for (const name of path) {
      if (b === undefined) return undefined;
      b = await b.bucket(name);
    }
    return b;
  }

  /**
   * freePageIds returns the page ids the freelist page lists (empty when the file stores no
   * freelist), each checked to lie in 2 .. highWaterPgid-1.
   */
  async freePageIds(): Promise<number[]> {
    if (this.freelistPgid === null) return [];
    const id = this.freelistPgid;
    const buf = await this.readPage(id, FREELIST_PAGE_FLAG, "freelist");
    let count = buf.readUInt16LE(10);
    let at = PAGE_HEADER_SIZE;
    if (count === FREELIST_COUNT_OVERFLOW) {
      if (buf.length < at + 8) throw new BboltCorruptError(`bbolt: page ${id}: freelist count missing`, id);
      const big = buf.readBigUInt64LE(at);
      if (big > BigInt(this.highWaterPgid)) throw new BboltCorruptError(`bbolt: page ${id}: freelist count ${big} above the high-water mark`, id);
      count = Number(big);
      at += 8;
    }
    if (at + count * 8 > buf.length) throw new BboltCorruptError(`bbolt: page ${id}: ${count} free page ids do not fit in the page`, id);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const v = buf.readBigUInt64LE(at + i * 8);
      if (v < 2n || v >= BigInt(this.highWaterPgid)) throw new BboltCorruptError(`bbolt: page ${id}: free page id ${v} outside pages 2..${this.highWaterPgid - 1}`, id);
      ids.push(Number(v));
    }
    return ids.sort((a, b) => a - b);
  }

  /**
   * readPage reads page id with its overflow pages and checks that it lies below the
   * high-water mark and inside the file, that its header names it, and that its flags are
   * `flags` (one of them, for a node: BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG). `what` names the
   * expected kind in messages.
   */
  async readPage(id: number, flags: number, what: string): Promise<Buffer> {
    const ps = this.pageSize;
    const hw = this.highWaterPgid;
    if (id < 2 || id >= hw) throw new BboltCorruptError(`bbolt: page ${id}: ${what} page outside pages 2..${hw - 1} (high-water mark ${hw})`, id);
    let buf = await this.src.read(id * ps, ps);
    if (buf.length < ps) throw new BboltCorruptError(`bbolt: page ${id}: beyond the end of the ${this.src.size}-byte file`, id);
    const h = readPageHeader(buf);
    if (h.id !== BigInt(id)) throw new BboltCorruptError(`bbolt: page ${id}: header names page ${h.id}`, id);
    const kindOk = flags === (BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG) ? h.flags === BRANCH_PAGE_FLAG || h.flags === LEAF_PAGE_FLAG : h.flags === flags;
    if (!kindOk) throw new BboltCorruptError(`bbolt: page ${id}: ${pageTypeName(h.flags)} page (flags 0x${h.flags.toString(16)}) where a ${what} page belongs`, id);
    if (h.overflow > 0) {
      if (id + h.overflow >= hw) {
        throw new BboltCorruptError(`bbolt: page ${id}: ${h.overflow} overflow pages run past the high-water mark ${hw}`, id);
      }
      const len = (h.overflow + 1) * ps;
      buf = await this.src.read(id * ps, len);
      if (buf.length < len) throw new BboltCorruptError(`bbolt: page ${id}: ${h.overflow} overflow pages run past the end of the ${this.src.size}-byte file`, id);
    }
    return buf;
  }

  /** readNode reads and decodes the branch or leaf page id. */
  async readNode(id: number): Promise<TreeNode> {
    const buf = await this.readPage(id, BRANCH_PAGE_FLAG | LEAF_PAGE_FLAG, "branch or leaf");
    const flags = buf.readUInt16LE(8);
    const count = buf.readUInt16LE(10);
    const ctx: NodeContext = { pgid: id, label: "" };
    return flags === LEAF_PAGE_FLAG ? parseLeaf(buf, count, ctx) : parseBranch(buf, count, this.highWaterPgid, ctx);
  }
}

/** Frame is one branch on the walk's current path, with the index of the child being walked and the key range it covers. */
interface Frame {
  node: BranchNode;
  i: number;
  /** hi is the exclusive upper bound of the keys below node (undefined: none). */
  hi: Buffer | undefined;
}

/**
 * BboltBucket is a bucket of a BboltReader: the root bucket, a top-level bucket or a nested
 * one. A bucket is either stored in pages from `rootPgid` on, or inline (rootPgid 0): its one
 * leaf page is embedded in the value that names it in its parent.
 */
export class BboltBucket {
  /** inline tells whether the bucket is stored inside its parent's value. */
  readonly inline: boolean;

  /** @internal use BboltReader.bucket or BboltBucket.bucket. */
  constructor(
    private readonly reader: BboltReader,
    /** path is the names from the top level down to this bucket (empty for the root bucket). */
    readonly path: readonly Buffer[],
    /** rootPgid is the page id of the bucket's root page, 0 for an inline bucket. */
    readonly rootPgid: number,
    /** sequence is the bucket's sequence number (bbolt's NextSequence counter). */
    readonly sequence: bigint,
    private readonly inlineRoot: LeafNode | undefined,
    /** enclosing are the root page ids of the buckets that contain this one, to refuse a bucket nested in itself. */
    private readonly enclosing: readonly number[],
  ) {
    this.inline = inlineRoot !== undefined;
  }

  /** name is the bucket's own name (empty for the root bucket). */
  get name(): Buffer {
    return this.path[this.path.length - 1] ?? Buffer.alloc(0);
  }

  /**
   * entries yields the bucket's elements in key order, reading one leaf page at a time and
   * holding only the branch pages on the current path. Keys and values are views of their
   * page's buffer, which the reader never reuses.
   */
  async *entries(): AsyncGenerator<BboltEntry> {
    if (this.inlineRoot !== undefined) {
      yield* this.leafEntries(this.inlineRoot);
      return;
    }
    const stack: Frame[] = [];
    let lastKey: Buffer | undefined;
    let leafDepth = -1;
    let node = await this.reader.readNode(this.rootPgid);
    let lo: Buffer | undefined;
    let hi: Buffer | undefined;
    for (;;) {
      // Go down to the leftmost leaf below node.
      while (!node.leaf) {
        if (stack.length + 1 > MAX_DEPTH) throw this.fault(node.pgid, `tree deeper than ${MAX_DEPTH} levels`);
        stack.push({ node, i: 0, hi });
        hi = node.keys[1] ?? hi;
        const child = node.children[0]!;
        this.checkNotOnPath(stack, child);
        node = await this.reader.readNode(child);
      }
      if (leafDepth === -1) leafDepth = stack.length;
      else if (leafDepth !== stack.length) throw this.fault(node.pgid, `leaf at depth ${stack.length}, other leaves of the bucket at depth ${leafDepth}`);
      if (stack.length > 0 && node.keys.length === 0) throw this.fault(node.pgid, "empty leaf page below a branch");
      const first = node.keys[0];
      const last = node.keys[node.keys.length - 1];
      if (first !== undefined && last !== undefined) {
        if (lastKey !== undefined && Buffer.compare(first, lastKey) <= 0) {
          throw this.fault(node.pgid, `first key ${showBytes(first)} not above the previous leaf's last key ${showBytes(lastKey)}`);
        }
        if (lo !== undefined && Buffer.compare(first, lo) < 0) throw this.fault(node.pgid, `key ${showBytes(first)} below its branch key ${showBytes(lo)}`);
        if (hi !== undefined && Buffer.compare(last, hi) >= 0) throw this.fault(node.pgid, `key ${showBytes(last)} not below the next branch key ${showBytes(hi)}`);
        lastKey = last;
      }
      yield* this.leafEntries(node);
      // Climb to the first branch with a child left, then take that child.
      let frame = stack[stack.length - 1];
      while (frame !== undefined && frame.i + 1 >= frame.node.keys.length) {
        stack.pop();
        frame = stack[stack.length - 1];
      }
      if (frame === undefined) return;
      frame.i++;
      lo = frame.node.keys[frame.i];
      hi = frame.node.keys[frame.i + 1] ?? frame.hi;
      const child = frame.node.children[frame.i]!;
      this.checkNotOnPath(stack, child);
      node = await this.reader.readNode(child);
    }
  }

  /** buckets yields the names of the nested buckets in byte order. */
  async *buckets(): AsyncGenerator<Buffer> {
    for await (const e of this.entries()) if (e.kind === "bucket") yield e.key;
  }

  /** get returns the value of a plain key, or undefined when the key is absent or names a nested bucket (as bbolt's Get). */
  async get(key: Uint8Array): Promise<Buffer | undefined> {
    const found = await this.find(key);
    if (found === undefined) return undefined;
    const [leaf, i] = found;
    return (leaf.flags[i]! & BUCKET_LEAF_FLAG) !== 0 ? undefined : leaf.values[i];
  }

  /** bucket returns the nested bucket called name, or undefined when there is none (or name is a plain key). */
  async bucket(name: Uint8Array): Promise<BboltBucket | undefined> {
    const found = await this.find(name);
    if (found === undefined) return undefined;
    const [leaf, i] = found;
    if ((leaf.flags[i]! & BUCKET_LEAF_FLAG) === 0) return undefined;
    return this.openChild(leaf, i);
  }

  /** count returns the number of elements (plain keys and nested buckets) by walking the bucket. */
  async count(): Promise<number> {
    let n = 0;
    for await (const _ of this.entries()) n++;
    return n;
  }

  private async find(key: Uint8Array): Promise<[LeafNode, number] | undefined> {
    if (key.length === 0) return undefined;
    let node: TreeNode;
    if (this.inlineRoot !== undefined) {
      node = this.inlineRoot;
    } else {
      node = await this.reader.readNode(this.rootPgid);
      const path: number[] = [node.pgid];
      while (!node.leaf) {
        if (path.length > MAX_DEPTH) throw this.fault(node.pgid, `tree deeper than ${MAX_DEPTH} levels`);
        const child = node.children[findChild(node, key)]!;
        if (path.includes(child)) throw this.fault(node.pgid, `branch points back to page ${child} on its own path`);
        path.push(child);
        node = await this.reader.readNode(child);
      }
    }
    const i = findLeaf(node, key);
    return i < 0 ? undefined : [node, i];
  }

  private *leafEntries(node: LeafNode): Generator<BboltEntry> {
    for (let i = 0; i < node.keys.length; i++) {
      const key = node.keys[i]!;
      if ((node.flags[i]! & BUCKET_LEAF_FLAG) !== 0) yield { kind: "bucket", key, bucket: this.openChild(node, i) };
      else yield { kind: "value", key, value: node.values[i]! };
    }
  }

  /** openChild decodes the bucket value of element i of leaf: a header, and for an inline bucket its page. */
  private openChild(leaf: LeafNode, i: number): BboltBucket {
    const key = leaf.keys[i]!;
    const value = leaf.values[i]!;
    const label = `bucket ${showBytes(key)}: `;
    const ctx: NodeContext = { pgid: leaf.pgid, label: `${this.inline ? "inline bucket " + showBytes(this.name) + ": " : ""}${label}` };
    const fault = (reason: string): BboltCorruptError => new BboltCorruptError(`bbolt: page ${ctx.pgid}: ${ctx.label}${reason}`, ctx.pgid);
    if (value.length < BUCKET_HEADER_SIZE) throw fault(`bucket value of ${value.length} bytes is shorter than a bucket header`);
    const root = value.readBigUInt64LE(0);
    const sequence = value.readBigUInt64LE(8);
    const path = [...this.path, key];
    if (root === 0n) {
      const page = value.subarray(BUCKET_HEADER_SIZE);
      if (page.length < PAGE_HEADER_SIZE) throw fault(`inline bucket of ${page.length} bytes is shorter than a page header`);
      const flags = page.readUInt16LE(8);
      if (flags !== LEAF_PAGE_FLAG) throw fault(`inline bucket page is a ${pageTypeName(flags)} page, not a leaf`);
      const node = parseLeaf(page, page.readUInt16LE(10), { pgid: leaf.pgid, label: `${ctx.label}inline page: ` });
      return new BboltBucket(this.reader, path, 0, sequence, node, this.enclosingOfChild());
    }
    const hw = this.reader.highWaterPgid;
    if (root < 2n || root >= BigInt(hw)) throw fault(`root page ${root} outside pages 2..${hw - 1} (high-water mark ${hw})`);
    const enclosing = this.enclosingOfChild();
    if (enclosing.includes(Number(root))) throw fault(`root page ${root} is the root of an enclosing bucket`);
    return new BboltBucket(this.reader, path, Number(root), sequence, undefined, enclosing);
  }

  private enclosingOfChild(): number[] {
    return this.rootPgid === 0 ? [...this.enclosing] : [...this.enclosing, this.rootPgid];
  }

  private checkNotOnPath(stack: readonly Frame[], child: number): void {
    for (const f of stack) {
      if (f.node.pgid === child) throw this.fault(stack[stack.length - 1]!.node.pgid, `branch points back to page ${child} on its own path`);
    }
  }

  private fault(pgid: number, reason: string): BboltCorruptError {
    const where = this.path.length === 0 ? "root bucket" : `bucket ${this.path.map((p) => showBytes(p)).join("/")}`;
    return new BboltCorruptError(`bbolt: page ${pgid}: ${where}: ${reason}`, pgid);
  }
}
