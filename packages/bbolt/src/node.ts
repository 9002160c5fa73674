import { BboltCorruptError } from "./errors.js";
import { BRANCH_ELEMENT_SIZE, LEAF_ELEMENT_SIZE, PAGE_HEADER_SIZE } from "./page.js";

/**
 * LeafNode is a decoded leaf page: its elements in page order. keys[i] and values[i] are views
 * of the page's buffer; flags[i] is the element's flags (BUCKET_LEAF_FLAG for a bucket).
 */
export interface LeafNode {
  leaf: true;
  /** pgid is the page the node was read from (for an inline bucket: the page holding its value). */
  pgid: number;
  keys: Buffer[];
  values: Buffer[];
  flags: number[];
}

/** BranchNode is a decoded branch page: children[i] holds the keys from keys[i] up to keys[i+1]. */
export interface BranchNode {
  leaf: false;
  pgid: number;
  keys: Buffer[];
  children: number[];
}

export type TreeNode = LeafNode | BranchNode;

/**
 * NodeContext says where a node's bytes come from, for error messages: `pgid` is the page,
 * `label` is prepended to the reason (e.g. "inline bucket 6b6579: ").
 */
export interface NodeContext {
  pgid: number;
  label: string;
}

function fault(ctx: NodeContext, reason: string): BboltCorruptError {
  return new BboltCorruptError(`bbolt: page ${ctx.pgid}: ${ctx.label}${reason}`, ctx.pgid);
}

/**
 * parseLeaf decodes `count` leaf elements of the page image in buf (header included). Every
 * element's key and value must lie inside buf, keys must be non-empty and strictly increasing.
 */
export function parseLeaf(buf: Buffer, count: number, ctx: NodeContext): LeafNode {
  const table = PAGE_HEADER_SIZE + count * LEAF_ELEMENT_SIZE;
  if (table > buf.length) throw fault(ctx, `${count} leaf elements do not fit in ${buf.length} bytes`);
  const node: LeafNode = { leaf: true, pgid: ctx.pgid, keys: [], values: [], flags: [] };
  let prev: Buffer | undefined;
  for (let i = 0; i < count; i++) {
    const at = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
    const flags = buf.readUInt32LE(at);
    const pos = buf.readUInt32LE(at + 4);
    const ksize = buf.readUInt32LE(at + 8);
    const vsize = buf.readUInt32LE(at + 12);
    const start = at + pos;
    const end = start + ksize + vsize;
    if (end > buf.length) throw fault(ctx, `leaf element ${i} (offset ${start}, ${ksize}+${vsize} bytes) lies outside the ${buf.length}-byte page`);
    if (ksize === 0) throw fault(ctx, `leaf element ${i} has an empty key`);
    const key = buf.subarray(start, start + ksize);
    if (prev !== undefined && Buffer.compare(prev, key) >= 0) throw fault(ctx, `leaf element ${i}: keys out of order`);
    node.keys.push(key);
    node.values.push(buf.subarray(start + ksize, end));
    node.flags.push(flags);
    prev = key;
  }
  return node;
}

/**
 * parseBranch decodes `count` branch elements of the page in buf. Keys must be non-empty,
 * strictly increasing and inside buf; child ids must lie in 2 .. highWater-1.
 */
export function parseBranch(buf: Buffer, count: number, highWater: number, ctx: NodeContext): BranchNode {
  if (count === 0) throw fault(ctx, "branch page without elements");
  const table = PAGE_HEADER_SIZE + count * BRANCH_ELEMENT_SIZE;
  if (table > buf.length) throw fault(ctx, `${count} branch elements do not fit in ${buf.length} bytes`);
  const node: BranchNode = { leaf: false, pgid: ctx.pgid, keys: [], children: [] };
  let prev: Buffer | undefined;
  for (let i = 0; i < count; i++) {
    const at = PAGE_HEADER_SIZE + i * BRANCH_ELEMENT_SIZE;
    const pos = buf.readUInt32LE(at);
    const ksize = buf.readUInt32LE(at + 4);
    const child = buf.readBigUInt64LE(at + 8);
    const start = at + pos;
    if (start + ksize > buf.length) throw fault(ctx, `branch element ${i} (offset ${start}, ${ksize} bytes) lies outside the ${buf.length}-byte page`);
    if (ksize === 0) throw fault(ctx, `branch element ${i} has an empty key`);
    if (child < 2n || child >= BigInt(highWater)) {
      throw fault(ctx, `branch element ${i} points to page ${child}, outside pages 2..${highWater - 1} (high-water mark ${highWater})`);
    }
    if (Number(child) === ctx.pgid) throw fault(ctx, `branch element ${i} points to its own page`);
    const key = buf.subarray(start, start + ksize);
    if (prev !== undefined && Buffer.compare(prev, key) >= 0) throw fault(ctx, `branch element ${i}: keys out of order`);
    node.keys.push(key);
    node.children.push(Number(child));
    prev = key;
  }
  return node;
}

/** findLeaf returns the index of key among a leaf's keys, or -1 (binary search). */
export function findLeaf(node: LeafNode, key: Uint8Array): number {
  let lo = 0;
  let hi = node.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = Buffer.compare(node.keys[mid]!, key);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/**
 * findChild returns the index of the child of a branch that may hold key: the last element
 * whose key is <= key, or 0 when key sorts before them all (bbolt's cursor does the same).
 */
export function findChild(node: BranchNode, key: Uint8Array): number {
  let lo = 0;
  let hi = node.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(node.keys[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : lo - 1;
}
