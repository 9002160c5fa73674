import { expect } from "vitest";
import type { BboltBucket, BboltReader } from "../reader.js";
import type { BboltBucketInput, BboltEntryInput, BboltSource } from "../writer.js";

/** ModelBucket is a bucket as a test holds it in memory: entries sorted by key. */
export interface ModelBucket {
  name: Buffer;
  sequence: bigint;
  entries: ModelEntry[];
}

export type ModelEntry = { key: Buffer; value: Buffer } | { key: Buffer; bucket: ModelBucket };

/** Rng is a seeded xorshift32 generator, so every failure replays from its seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** u32 returns the next 32-bit value. */
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** int returns an integer in [0, n). */
  int(n: number): number {
    return this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** sortUnique sorts buffers by bytes and drops repeats. */
export function sortUnique(keys: Buffer[]): Buffer[] {
  const s = [...keys].sort(Buffer.compare);
  return s.filter((k, i) => i === 0 || !k.equals(s[i - 1]!));
}

/** randomKey is a binary key of 1..maxLen bytes, biased towards shared prefixes and the bytes 0x00 and 0xff. */
export function randomKey(r: Rng, maxLen: number): Buffer {
  const len = 1 + r.int(maxLen);
  const b = r.bytes(len);
  if (r.chance(0.3)) b.fill(r.chance(0.5) ? 0x00 : 0xff, 0, Math.min(len, 1 + r.int(4)));
  if (r.chance(0.3)) b.fill(0x61, 0, Math.min(len, 3));
  return b;
}

/**
 * randomBucket makes a bucket of a random shape: empty, tiny (inline), medium, wide (thousands
 * of keys, so branch levels; top level only), or with big values; buckets above the last level
 * may hold up to three nested buckets.
 */
export function randomBucket(r: Rng, name: Buffer, depth: number, pageSize: number, top = true): ModelBucket {
  let shape = r.int(10);
  if (shape === 7 && !top) shape = 8;
  const n = shape === 0 ? 0 : shape <= 3 ? 1 + r.int(6) : shape <= 6 ? r.int(300) : shape === 7 ? 2000 + r.int(4000) : r.int(80);
  const bigValues = shape === 9 || r.chance(0.2);
  const keys = sortUnique(Array.from({ length: n }, () => randomKey(r, shape === 7 ? 24 : 48)));
  const entries: ModelEntry[] = [];
  let nested = 0;
  for (const key of keys) {
    if (depth > 0 && nested < 3 && r.chance(0.04)) {
      nested++;
      entries.push({ key, bucket: randomBucket(r, key, depth - 1, pageSize, false) });
      continue;
    }
    let vlen = r.int(shape === 7 ? 16 : 100);
    if (bigValues && r.chance(0.15)) vlen = pageSize + r.int(3 * pageSize);
    if (r.chance(0.05)) vlen = 0;
    entries.push({ key, value: r.bytes(vlen) });
  }
  return { name, sequence: r.chance(0.3) ? BigInt(r.u32()) * 4294967296n + BigInt(r.u32()) : 0n, entries };
}

/** toInput turns a model bucket into writer input; entries come from a generator, the way a database iterator hands them out. */
export function toInput(b: ModelBucket, async = false): BboltBucketInput {
  function* sync(): Generator<BboltEntryInput> {
    for (const e of b.entries) yield "value" in e ? [e.key, e.value] : toInput(e.bucket, async);
  }
  async function* asyncGen(): AsyncGenerator<BboltEntryInput> {
    yield* sync();
  }
  return { name: b.name, sequence: b.sequence, entries: async ? asyncGen() : sync() };
}

/** randomDatabase is up to eight top-level buckets of random shapes, nested two levels deep, from a seed. */
export function randomDatabase(seed: number, pageSize: number): ModelBucket[] {
  const r = new Rng(seed);
  const names = sortUnique(Array.from({ length: r.int(9) }, () => randomKey(r, 12)));
  return names.map((n) => randomBucket(r, n, 2, pageSize));
}

/** source is writer input for a model database. */
export function source(db: ModelBucket[], async = false): BboltSource {
  return db.map((b) => toInput(b, async));
}

/** expectBucket checks that a bucket read back holds exactly the model's entries, in order, nested buckets included (plain comparisons: a bucket can hold many thousand keys). */
export async function expectBucket(got: BboltBucket, want: ModelBucket): Promise<void> {
  const where = got.path.map((p) => p.toString("hex")).join("/");
  if (got.sequence !== want.sequence) expect(got.sequence, `sequence of ${where}`).toBe(want.sequence);
  let i = 0;
  for await (const e of got.entries()) {
    const w = want.entries[i++];
    if (w === undefined) throw new Error(`${where}: unexpected extra key ${e.key.toString("hex")}`);
    if (!e.key.equals(w.key)) throw new Error(`${where}: key ${i - 1}: ${e.key.toString("hex")} != ${w.key.toString("hex")}`);
    if ("value" in w) {
      if (e.kind !== "value" || !e.value.equals(w.value)) throw new Error(`${where}: value of ${w.key.toString("hex")} differs (kind ${e.kind})`);
    } else {
      if (e.kind !== "bucket") throw new Error(`${where}: ${w.key.toString("hex")} is not a bucket`);
      await expectBucket(e.bucket, w.bucket);
    }
  }
  expect(i, `entries of ${where}`).toBe(want.entries.length);
}

/** expectDatabase checks the top-level buckets of a reader against the model. */
export async function expectDatabase(reader: BboltReader, want: ModelBucket[]): Promise<void> {
  const names: Buffer[] = [];
  for await (const n of reader.buckets()) names.push(n);
  expect(names.map((n) => n.toString("hex"))).toEqual(want.map((b) => b.name.toString("hex")));
  for (const b of want) {
    const got = await reader.bucket(b.name);
    expect(got).toBeDefined();
    await expectBucket(got!, b);
  }
}

/** PageCensus is what walkPages saw: every page used, and the shape facts the writer promises. */
export interface PageCensus {
  /** pages maps each page id in use (overflow pages included) to how often it is referenced. */
  pages: Map<number, number>;
  inlineBuckets: number;
  pagedBuckets: number;
  maxDepth: number;
  /** singleChildBranches counts branch pages with one child (the writer avoids them). */
  singleChildBranches: number;
  overflowPages: number;
}

/** walkPages visits every page reachable from the meta in use, as bbolt's tx.Check does, counting references per page. */
export async function walkPages(reader: BboltReader): Promise<PageCensus> {
  const c: PageCensus = { pages: new Map(), inlineBuckets: 0, pagedBuckets: 0, maxDepth: 0, singleChildBranches: 0, overflowPages: 0 };
  const mark = (id: number, overflow: number): void => {
    for (let i = 0; i <= overflow; i++) c.pages.set(id + i, (c.pages.get(id + i) ?? 0) + 1);
    c.overflowPages += overflow;
  };
  const walkTree = async (id: number, depth: number): Promise<void> => {
    c.maxDepth = Math.max(c.maxDepth, depth);
    const buf = await reader.readPage(id, 3, "branch or leaf");
    mark(id, buf.readUInt32LE(12));
    const node = await reader.readNode(id);
    if (!node.leaf) {
      if (node.children.length === 1) c.singleChildBranches++;
      for (const ch of node.children) await walkTree(ch, depth + 1);
    }
  };
  const walkBucket = async (b: BboltBucket): Promise<void> => {
    if (b.inline) c.inlineBuckets++;
    else {
      c.pagedBuckets++;
      await walkTree(b.rootPgid, 1);
    }
    for await (const e of b.entries()) if (e.kind === "bucket") await walkBucket(e.bucket);
  };
  mark(0, 0);
  mark(1, 0);
  if (reader.freelistPgid !== null) {
    const buf = await reader.readPage(reader.freelistPgid, 0x10, "freelist");
    mark(reader.freelistPgid, buf.readUInt32LE(12));
  }
  await walkBucket(reader.root);
  c.pagedBuckets--; // the root bucket
  return c;
}
