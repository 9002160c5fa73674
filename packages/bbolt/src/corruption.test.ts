import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BboltCorruptError } from "./errors.js";
import { BboltReader, type BboltBucket } from "./reader.js";
import { Rng } from "./testing/model.js";
import { bboltChunks, type BboltSource } from "./writer.js";

const dir = mkdtempSync(join(tmpdir(), "bbolt-corrupt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(8, "0")}-padding`);

/** The base file: a two-level bucket "a", a bucket "big" with an overflow page, a nested bucket and an inline one. */
function baseSource(): BboltSource {
  return [
    { name: Buffer.from("a"), entries: Array.from({ length: 3000 }, (_, i) => [key(i), Buffer.from(`value-${i}`)] as const) },
    { name: Buffer.from("big"), entries: [[Buffer.from("k"), Buffer.alloc(10_000, 0x61)]] },
    { name: Buffer.from("nested"), entries: [{ name: Buffer.from("child"), entries: Array.from({ length: 400 }, (_, i) => [key(i), Buffer.alloc(20, i)] as const) }] },
    { name: Buffer.from("small"), entries: [[Buffer.from("x"), Buffer.from("y")]] },
  ];
}

/** readAll walks every bucket, nested ones included, and returns the number of elements seen. */
async function readAll(reader: BboltReader): Promise<number> {
  let n = 0;
  const walk = async (b: BboltBucket): Promise<void> => {
    for await (const e of b.entries()) {
      n++;
      if (e.kind === "bucket") await walk(e.bucket);
    }
  };
  await walk(reader.root);
  await reader.freePageIds();
  return n;
}

/** caught returns the error a promise rejects with (or fails the test when it resolves). */
async function caught(p: Promise<unknown>): Promise<BboltCorruptError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BboltCorruptError);
    return e as BboltCorruptError;
  }
  throw new Error("expected an error");
}

let base: Buffer;
const PS = 4096;
let elements: number;
/** bucketA is the root page (a branch) of bucket "a" in the base file. */
let rootA: number;

beforeAll(async () => {
  base = await collect(bboltChunks(baseSource));
  const r = await BboltReader.fromBuffer(base);
  elements = await readAll(r);
  rootA = (await r.bucket(Buffer.from("a")))!.rootPgid;
  const node = await r.readNode(rootA);
  expect(node.leaf).toBe(false);
});

function flip(b: Buffer, i: number, mask: number): void {
  b.writeUInt8(b.readUInt8(i) ^ mask, i);
}

function patched(fn: (b: Buffer) => void): Buffer {
  const b = Buffer.from(base);
  fn(b);
  return b;
}

describe("meta pages", () => {
  it("falls back to meta page 1 when the newer meta page 0 is damaged", async () => {
    const r = await BboltReader.fromBuffer(patched((b) => flip(b, 16 + 20, 0x01)));
    expect(r.metaPage).toBe(1);
    expect(r.txid).toBe(1n);
    expect(await readAll(r)).toBe(elements);
  });

  it("keeps meta page 0 when meta page 1 is damaged", async () => {
    const r = await BboltReader.fromBuffer(patched((b) => flip(b, PS + 16 + 50, 0x80)));
    expect(r.metaPage).toBe(0);
    expect(r.txid).toBe(2n);
  });

  it("refuses a file whose two meta pages are both damaged, saying why for each", async () => {
    const e = await caught(
      BboltReader.fromBuffer(
        patched((b) => {
          flip(b, 16 + 40, 0x01);
          b.writeUInt32LE(0xdeadbeef, PS + 16);
        }),
      ),
    );
    expect(e.message).toMatch(/^bbolt: invalid database: meta page 0: checksum 0x[0-9a-f]+ does not match 0x[0-9a-f]+; meta page 1: bad magic 0xdeadbeef/);
  });

  it("refuses a wrong version", async () => {
    const e = await caught(
      BboltReader.fromBuffer(
        patched((b) => {
          b.writeUInt32LE(3, 16 + 4);
          b.writeUInt32LE(1, PS + 16 + 4);
        }),
      ),
    );
    expect(e.message).toMatch(/meta page 0: version 3 \(want 2\); meta page 1: version 1/);
  });

  it("finds meta page 1 of a 1024-byte-page file when meta page 0 is unreadable", async () => {
    const small = await collect(bboltChunks(baseSource, { pageSize: 1024 }));
    small.fill(0, 0, 1024);
    const r = await BboltReader.fromBuffer(small);
    expect(r.metaPage).toBe(1);
    expect(r.pageSize).toBe(1024);
    expect(await readAll(r)).toBe(elements);
  });

  it("refuses a meta page whose root lies beyond its high-water mark", async () => {
    // Re-checksummed, so only the range check can catch it: meta page 0 falls back to page 1.
    const { metaChecksum } = await import("./meta.js");
    const b = patched((b) => {
      b.writeBigUInt64LE(1_000_000n, 16 + 16);
      b.writeBigUInt64LE(metaChecksum(b), 16 + 56);
    });
    const r = await BboltReader.fromBuffer(b);
    expect(r.metaPage).toBe(1);
  });
});

describe("file size", () => {
  it("refuses a truncated file", async () => {
    const e = await caught(BboltReader.fromBuffer(base.subarray(0, base.length / 2)));
    expect(e.message).toMatch(/^bbolt: invalid database: file is \d+ bytes but meta page 0 \(txid 2\) uses \d+ pages of 4096 bytes .*truncated file/);
    const path = join(dir, "truncated");
    writeFileSync(path, base.subarray(0, base.length - 100));
    await expect(BboltReader.open(path)).rejects.toThrow(/truncated file/);
  });

  it("refuses files too short for meta pages", async () => {
    for (const len of [0, 10, 100, 4096]) {
      const e = await caught(BboltReader.fromBuffer(base.subarray(0, len)));
      expect(e.message).toMatch(/^bbolt: invalid database: /);
    }
  });

  it("ignores bytes after the high-water mark (a snapshot's SHA-256 trailer)", async () => {
    const r = await BboltReader.fromBuffer(Buffer.concat([base, Buffer.alloc(32, 0xee)]));
    expect(await readAll(r)).toBe(elements);
  });
});

describe("pages met while walking", () => {
  const at = (pgid: number, off: number): number => pgid * PS + off;

  it("names the branch page whose child lies beyond the high-water mark", async () => {
    const r0 = await BboltReader.fromBuffer(base);
    const hw = r0.highWaterPgid;
    const r = await BboltReader.fromBuffer(patched((b) => b.writeBigUInt64LE(BigInt(hw + 5), at(rootA, 16 + 16 + 8))));
    const e = await caught(readAll(r));
    expect(e.pgid).toBe(rootA);
    expect(e.message).toBe(`bbolt: page ${rootA}: branch element 1 points to page ${hw + 5}, outside pages 2..${hw - 1} (high-water mark ${hw})`);
    // A point read through the same branch fails the same way.
    await expect((await r.bucket(Buffer.from("a")))!.get(key(5))).rejects.toThrow(`bbolt: page ${rootA}: branch element 1`);
  });

  it("names a page whose flags are wrong for its place", async () => {
    const r0 = await BboltReader.fromBuffer(base);
    const leaf = (await r0.readNode(rootA)) as { children: number[] };
    const victim = leaf.children[2]!;
    const r = await BboltReader.fromBuffer(patched((b) => b.writeUInt16LE(0x10, at(victim, 8))));
    const e = await caught(readAll(r));
    expect(e.pgid).toBe(victim);
    expect(e.message).toBe(`bbolt: page ${victim}: freelist page (flags 0x10) where a branch or leaf page belongs`);
  });

  it("names a leaf page whose element lies outside the page", async () => {
    const r0 = await BboltReader.fromBuffer(base);
    const victim = ((await r0.readNode(rootA)) as { children: number[] }).children[0]!;
    const r = await BboltReader.fromBuffer(patched((b) => b.writeUInt32LE(PS, at(victim, 16 + 4))));
    const e = await caught(readAll(r));
    expect(e.pgid).toBe(victim);
    expect(e.message).toMatch(new RegExp(`^bbolt: page ${victim}: leaf element 0 \\(offset \\d+, \\d+\\+\\d+ bytes\\) lies outside the 4096-byte page`));
  });

  it("names a page whose element count does not fit", async () => {
    const r0 = await BboltReader.fromBuffer(base);
    const victim = ((await r0.readNode(rootA)) as { children: number[] }).children[1]!;
    const r = await BboltReader.fromBuffer(patched((b) => b.writeUInt16LE(0xfff0, at(victim, 10))));
    const e = await caught(readAll(r));
    expect(e.message).toBe(`bbolt: page ${victim}: 65520 leaf elements do not fit in 4096 bytes`);
  });

  it("names a page whose overflow runs past the high-water mark", async () => {
    const r0 = await BboltReader.fromBuffer(base);
    const bigRoot = (await r0.bucket(Buffer.from("big")))!.rootPgid;
    const r = await BboltReader.fromBuffer(patched((b) => b.writeUInt32LE(0xffffffff, at(bigRoot, 12))));
    const e = await caught(readAll(r));
    expect(e.pgid).toBe(bigRoot);
    expect(e.message).toMatch(new RegExp(`^bbolt: page ${bigRoot}: 4294967295 overflow pages run past the high-water mark`));
  });

  it("names a page whose header names another page", async () => {
    const r0 = await BboltReader.fromBuffer(base);
    const victim = ((await r0.readNode(rootA)) as { children: number[] }).children[3]!;
    const r = await BboltReader.fromBuffer(patched((b) => b.writeBigUInt64LE(BigInt(victim + 1), at(victim, 0))));
    const e = await caught(readAll(r));
    expect(e.message).toBe(`bbolt: page ${victim}: header names page ${victim + 1}`);
  });

  it("names a bucket whose root page lies beyond the high-water mark", async () => {
    const r0 = await BboltReader.fromBuffer(base);
    const rootPage = r0.root.rootPgid;
    // Element 0 of the root bucket's leaf is bucket "a"; its value starts with the root pgid.
    const pos = base.readUInt32LE(at(rootPage, 16 + 4));
    const valueAt = at(rootPage, 16) + pos + 1;
    const r = await BboltReader.fromBuffer(patched((b) => b.writeBigUInt64LE(123_456_789n, valueAt)));
    const e = await caught(r.bucket(Buffer.from("a")));
    expect(e.pgid).toBe(rootPage);
    expect(e.message).toMatch(new RegExp(`^bbolt: page ${rootPage}: bucket "a": root page 123456789 outside pages 2\\.\\.`));
  });

  it("stops on a branch that points back up its own path instead of looping", async () => {
    // Page size 1024 and 24-byte keys: four levels, so a grandchild can point at the root.
    const deep = await collect(
      bboltChunks(() => [{ name: Buffer.from("d"), entries: Array.from({ length: 20_000 }, (_, i) => [Buffer.from(`${String(i).padStart(24, "0")}`), Buffer.from("v")] as const) }], {
        pageSize: 1024,
      }),
    );
    const r0 = await BboltReader.fromBuffer(deep);
    const root = (await r0.bucket(Buffer.from("d")))!.rootPgid;
    const child = ((await r0.readNode(root)) as { children: number[] }).children[0]!;
    const grandchild = (await r0.readNode(child)) as { leaf: boolean; children: number[] };
    expect(grandchild.leaf).toBe(false);
    const b = Buffer.from(deep);
    b.writeBigUInt64LE(BigInt(root), child * 1024 + 16 + 8);
    const r = await BboltReader.fromBuffer(b);
    const e = await caught(readAll(r));
    expect(e.message).toBe(`bbolt: page ${child}: bucket "d": branch points back to page ${root} on its own path`);
    await expect((await r.bucket(Buffer.from("d")))!.get(Buffer.from("0".repeat(24)))).rejects.toThrow(`branch points back to page ${root}`);
  });

  it("stops on a subtree referenced twice (keys would repeat)", async () => {
    const r0 = await BboltReader.fromBuffer(base);
    const node = (await r0.readNode(rootA)) as { children: number[] };
    const r = await BboltReader.fromBuffer(patched((b) => b.writeBigUInt64LE(BigInt(node.children[0]!), at(rootA, 16 + 16 + 8))));
    const e = await caught(readAll(r));
    expect(e.message).toMatch(/not above the previous leaf's last key|below its branch key/);
  });

  it("never crashes or hangs on random byte damage: every read ends or throws BboltCorruptError", async () => {
    const r = new Rng(20240601);
    const hw = base.length / PS;
    let failures = 0;
    for (let round = 0; round < 300; round++) {
      const b = Buffer.from(base);
      const flips = 1 + r.int(6);
      for (let i = 0; i < flips; i++) {
        // Aim at headers and element tables most of the time: they carry the structure.
        const page = 2 + r.int(hw - 2);
        const off = r.chance(0.7) ? r.int(16 + 16 * 8) : r.int(PS);
        b[page * PS + off] = r.u32() & 0xff;
      }
      try {
        const reader = await BboltReader.fromBuffer(b);
        await readAll(reader);
        for (const name of ["a", "big", "nested", "small"]) await (await reader.bucket(Buffer.from(name)))?.get(key(1234));
      } catch (e) {
        if (!(e instanceof BboltCorruptError)) throw new Error(`round ${round}: ${String(e)}`);
        expect(e.message).toMatch(/^bbolt: /);
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(50);
  });
});
