import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, describe, expect, it } from "vitest";
import { BboltReader } from "./reader.js";
import { Rng, expectDatabase, randomDatabase, source, walkPages, type ModelBucket } from "./testing/model.js";
import { bboltChunks, planBbolt, writeBboltFile, type BboltSource, type BboltWriteOptions } from "./writer.js";

const dir = mkdtempSync(join(tmpdir(), "bbolt-roundtrip-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

/** expectCompact checks bbolt's tx.Check rules: every page below the high-water mark is reachable exactly once (the freelist is empty). */
async function expectCompact(reader: BboltReader): Promise<Awaited<ReturnType<typeof walkPages>>> {
  const census = await walkPages(reader);
  for (let id = 0; id < reader.highWaterPgid; id++) if (census.pages.get(id) !== 1) expect(census.pages.get(id), `references to page ${id}`).toBe(1);
  expect(census.pages.size).toBe(reader.highWaterPgid);
  expect(census.singleChildBranches).toBe(0);
  expect(await reader.freePageIds()).toEqual([]);
  return census;
}

describe("round trip: seeded random databases", () => {
  const seen = { nested: 0, inline: 0, paged: 0, overflowPages: 0, maxDepth: 0, emptyBuckets: 0 };
  const seeds = Array.from({ length: 14 }, (_, i) => 1000 + i * 7919);
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      const pageSize = seed % 3 === 0 ? 1024 : 4096;
      const db = randomDatabase(seed, pageSize);
      const opts: BboltWriteOptions = { pageSize, ...(seed % 5 === 0 ? { inlineBuckets: false } : {}) };
      const path = join(dir, `db-${seed}`);
      const layout = await writeBboltFile(path, source(db), { ...opts, sync: false });
      expect(statSync(path).size).toBe(layout.highWaterPgid * pageSize);

      // The stream yields the very bytes of the file, metas first.
      const streamed = await collect(bboltChunks(() => source(db, true), { ...opts, chunkBytes: 10_000 }));
      expect(streamed.equals(readFileSync(path))).toBe(true);
      expect(await planBbolt(source(db), opts)).toEqual(layout);

      const reader = await BboltReader.open(path);
      try {
        expect(reader.pageSize).toBe(pageSize);
        expect(reader.txid).toBe(2n);
        expect(reader.metaPage).toBe(0);
        expect(reader.highWaterPgid).toBe(layout.highWaterPgid);
        expect(reader.freelistPgid).toBe(layout.freelistPgid);
        await expectDatabase(reader, db);
        const census = await expectCompact(reader);
        if (opts.inlineBuckets === false) expect(census.inlineBuckets).toBe(0);
        seen.inline += census.inlineBuckets;
        seen.paged += census.pagedBuckets;
        seen.overflowPages += census.overflowPages;
        seen.maxDepth = Math.max(seen.maxDepth, census.maxDepth);
        const tally = (b: ModelBucket): void => {
          if (b.entries.length === 0) seen.emptyBuckets++;
          for (const e of b.entries) if ("bucket" in e) (seen.nested++, tally(e.bucket));
        };
        db.forEach(tally);

        // Point reads: present keys, absent keys, bucket names are not values.
        const r = new Rng(seed);
        for (const b of db) {
          const got = (await reader.bucket(b.name))!;
          for (let i = 0; i < 20 && b.entries.length > 0; i++) {
            const e = b.entries[r.int(b.entries.length)]!;
            if ("value" in e) expect((await got.get(e.key))?.equals(e.value)).toBe(true);
            else {
              expect(await got.get(e.key)).toBeUndefined();
              expect((await got.bucket(e.key))?.sequence).toBe(e.bucket.sequence);
            }
          }
          // Longer than any key the model makes (48 bytes), so absent; sorts after nearly all keys.
          expect(await got.get(Buffer.alloc(60, 0xff))).toBeUndefined();
          expect(await got.get(Buffer.alloc(60, 0x00))).toBeUndefined();
        }
        expect(await reader.bucket(Buffer.from("no such bucket"))).toBeUndefined();
      } finally {
        await reader.close();
      }
    });
  }

  it("the seeds covered nested, inline, paged and empty buckets, overflow pages and branch levels", () => {
    expect(seen.nested).toBeGreaterThan(3);
    expect(seen.inline).toBeGreaterThan(3);
    expect(seen.paged).toBeGreaterThan(3);
    expect(seen.emptyBuckets).toBeGreaterThan(1);
    expect(seen.overflowPages).toBeGreaterThan(3);
    expect(seen.maxDepth).toBeGreaterThanOrEqual(3);
  });
});

describe("writer shapes", () => {
  it("an empty database has an empty root leaf and a freelist", async () => {
    const buf = await collect(bboltChunks(() => []));
    expect(buf.length).toBe(4 * 4096);
    const reader = await BboltReader.fromBuffer(buf);
    expect(reader.highWaterPgid).toBe(4);
    expect(reader.root.rootPgid).toBe(2);
    expect(reader.freelistPgid).toBe(3);
    await expectDatabase(reader, []);
    await expectCompact(reader);
  });

  it("inlines a bucket exactly when bbolt would: no nested bucket and a page image of at most pageSize / 4 bytes", async () => {
    // One element of 16 + k + v bytes after a 16-byte page header: 1024 bytes is the limit at page size 4096.
    const db: ModelBucket[] = [
      { name: Buffer.from("at-limit"), sequence: 5n, entries: [{ key: Buffer.from("k"), value: Buffer.alloc(1024 - 32 - 1, 7) }] },
      { name: Buffer.from("empty"), sequence: 0n, entries: [] },
      { name: Buffer.from("nested"), sequence: 0n, entries: [{ key: Buffer.from("child"), bucket: { name: Buffer.from("child"), sequence: 9n, entries: [] } }] },
      { name: Buffer.from("over-limit"), sequence: 0n, entries: [{ key: Buffer.from("k"), value: Buffer.alloc(1024 - 32, 7) }] },
    ];
    const reader = await BboltReader.fromBuffer(await collect(bboltChunks(() => source(db))));
    expect((await reader.bucket(Buffer.from("at-limit")))!.inline).toBe(true);
    expect((await reader.bucket(Buffer.from("empty")))!.inline).toBe(true);
    expect((await reader.bucket(Buffer.from("nested")))!.inline).toBe(false);
    expect((await reader.bucket(Buffer.from("nested"), Buffer.from("child")))!.inline).toBe(true);
    expect((await reader.bucket(Buffer.from("nested"), Buffer.from("child")))!.sequence).toBe(9n);
    expect((await reader.bucket(Buffer.from("over-limit")))!.inline).toBe(false);
    await expectDatabase(reader, db);
    await expectCompact(reader);
  });

  it("builds four levels at page size 1024 and keeps every branch at two children or more", async () => {
    // 24-byte keys: 24 per leaf, 25 per branch, so 20000 keys need three levels of branches.
    const n = 20_000;
    const keys = function* (): Generator<[Buffer, Buffer]> {
      for (let i = 0; i < n; i++) {
        const k = Buffer.alloc(24);
        k.writeUInt32BE(i * 3, 4);
        yield [k, Buffer.from([i & 0xff])];
      }
    };
    const path = join(dir, "deep");
    await writeBboltFile(path, [{ name: Buffer.from("b"), entries: keys() }], { pageSize: 1024, sync: false });
    const reader = await BboltReader.open(path);
    try {
      const census = await expectCompact(reader);
      expect(census.maxDepth).toBeGreaterThanOrEqual(4);
      const b = (await reader.bucket(Buffer.from("b")))!;
      let i = 0;
      for await (const e of b.entries()) {
        if (e.key.readUInt32BE(4) !== i * 3) expect(e.key.readUInt32BE(4)).toBe(i * 3);
        i++;
      }
      expect(i).toBe(n);
      for (const j of [0, 1, 777, 12345, n - 1]) {
        const k = Buffer.alloc(24);
        k.writeUInt32BE(j * 3, 4);
        expect(await b.get(k)).toEqual(Buffer.from([j & 0xff]));
        k.writeUInt32BE(j * 3 + 1, 4);
        expect(await b.get(k)).toBeUndefined();
      }
    } finally {
      await reader.close();
    }
  });

  it("gives a value larger than a page a page with overflow pages", async () => {
    const big = Buffer.alloc(3 * 4096 + 5, 0x5a);
    const buf = await collect(bboltChunks(() => [{ name: Buffer.from("b"), entries: [[Buffer.from("a"), Buffer.from("x")], [Buffer.from("big"), big], [Buffer.from("c"), Buffer.from("y")]] }]));
    const reader = await BboltReader.fromBuffer(buf);
    const census = await expectCompact(reader);
    expect(census.overflowPages).toBe(3);
    const b = (await reader.bucket(Buffer.from("b")))!;
    expect((await b.get(Buffer.from("big")))!.equals(big)).toBe(true);
    expect(await b.get(Buffer.from("c"))).toEqual(Buffer.from("y"));
  });

  it("places the newer meta at page txid % 2", async () => {
    for (const txid of [1n, 2n, 7n, 0xffffffffffffffffn]) {
      const reader = await BboltReader.fromBuffer(await collect(bboltChunks(() => [], { txid })));
      expect(reader.txid).toBe(txid);
      expect(reader.metaPage).toBe(Number(txid % 2n));
    }
  });

  it("streams through a slow Writable with backpressure, byte for byte the file", async () => {
    const db = randomDatabase(42, 4096);
    const path = join(dir, "piped-ref");
    await writeBboltFile(path, source(db), { sync: false });
    const parts: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        parts.push(chunk);
        setImmediate(cb);
      },
    });
    await pipeline(Readable.from(bboltChunks(() => source(db), { chunkBytes: 64 * 1024 })), slow);
    expect(Buffer.concat(parts).equals(readFileSync(path))).toBe(true);
  });
});

describe("writer input checks", () => {
  const b = (name: string, entries: [string, string][]) => ({ name: Buffer.from(name), entries: entries.map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as const) });

  const cases: [string, () => BboltSource, RegExp][] = [
    ["keys out of order", () => [b("a", [["2", ""], ["1", ""]])], /bbolt writer: bucket "a": key "1" sorts before the previous key "2"/],
    ["a repeated key", () => [b("a", [["1", ""], ["1", ""]])], /bbolt writer: bucket "a": key "1" repeats the previous key "1"/],
    ["buckets out of order", () => [b("b", []), b("a", [])], /bbolt writer: root bucket: key "a" sorts before the previous key "b"/],
    ["a repeated bucket", () => [b("a", []), b("a", [])], /root bucket: key "a" repeats/],
    ["an empty key", () => [b("a", [["", "v"]])], /bucket "a": empty key/],
    ["an empty bucket name", () => [b("", [])], /root bucket: empty key/],
    ["a key above 32768 bytes", () => [{ name: Buffer.from("a"), entries: [[Buffer.alloc(32769, 1), Buffer.alloc(0)]] }], /is 32769 bytes, above bbolt's limit of 32768/],
    [
      "a nested bucket out of order with a key",
      () => [{ name: Buffer.from("a"), entries: [[Buffer.from("k2"), Buffer.from("")], { name: Buffer.from("k1"), entries: [] }] }],
      /bucket "a": key "k1" sorts before the previous key "k2"/,
    ],
    ["a binary key out of order", () => [{ name: Buffer.from("a"), entries: [[Buffer.from([0xff]), Buffer.alloc(0)], [Buffer.from([0x00, 0x01]), Buffer.alloc(0)]] }], /key 0001 sorts before the previous key ff/],
  ];
  for (const [what, src, msg] of cases) {
    it(`refuses ${what}, before the stream yields a byte, and removes a partial file`, async () => {
      let yielded = 0;
      await expect(
        (async () => {
          for await (const _ of bboltChunks(src)) yielded++;
        })(),
      ).rejects.toThrow(msg);
      expect(yielded).toBe(0);
      const path = join(dir, "refused");
      await expect(writeBboltFile(path, src(), { sync: false })).rejects.toThrow(msg);
      expect(() => statSync(path)).toThrow(/ENOENT/);
    });
  }

  it("refuses bad options", async () => {
    await expect(planBbolt([], { pageSize: 3000 })).rejects.toThrow(/page size 3000/);
    await expect(planBbolt([], { txid: 0n })).rejects.toThrow(/txid 0/);
  });

  it("throws when the source differs between the two passes", async () => {
    let calls = 0;
    const src = (): BboltSource => {
      calls++;
      const n = calls === 1 ? 10 : 5000;
      return [{ name: Buffer.from("a"), entries: Array.from({ length: n }, (_, i) => [Buffer.from(`k${String(i).padStart(6, "0")}`), Buffer.from("v")] as const) }];
    };
    await expect(collect(bboltChunks(src))).rejects.toThrow(/source changed between the two passes/);
  });
});
