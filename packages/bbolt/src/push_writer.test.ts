import { describe, expect, it } from "vitest";
import { BboltInputError } from "./errors.js";
import { BboltPushWriter } from "./push_writer.js";
import { randomDatabase, source, type ModelBucket } from "./testing/model.js";
import { bboltChunks, metaPages } from "./writer.js";

/** push writes a model database through the push API, reusing one scratch buffer for every key, value and name it passes. */
function push(db: ModelBucket[], w: BboltPushWriter): Buffer[] {
  const pages: Buffer[] = [];
  const scratch = Buffer.alloc(1 << 20);
  const reused = (b: Buffer): Buffer => {
    const view = scratch.subarray(0, b.length);
    b.copy(view);
    return view;
  };
  const bucket = (b: ModelBucket): void => {
    w.openBucket(reused(b.name), b.sequence);
    for (const e of b.entries) {
      if ("bucket" in e) bucket(e.bucket);
      else {
        // The key and value share the scratch buffer's memory with whatever came before.
        const k = Buffer.from(e.key);
        w.put(k, reused(e.value));
      }
      pages.push(...w.take().map((p) => Buffer.from(p)));
    }
    w.closeBucket();
    pages.push(...w.take().map((p) => Buffer.from(p)));
  };
  for (const b of db) bucket(b);
  return pages;
}

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

describe("BboltPushWriter", () => {
  for (const seed of [11, 4242, 90001]) {
    it(`writes the very file the streaming writer writes, from buffers the caller reuses (seed ${seed})`, async () => {
      const pageSize = seed % 2 === 0 ? 1024 : 4096;
      const db = randomDatabase(seed, pageSize);
      const want = await collect(bboltChunks(() => source(db), { pageSize }));

      const dry = new BboltPushWriter({ pageSize }, true);
      expect(push(db, dry)).toEqual([]);
      const planned = dry.finish();

      // Pages in buffers of their own, and pages written into one reused buffer (copied at once).
      for (const reuse of [false, true]) {
        const w = new BboltPushWriter({ pageSize }, false, reuse);
        const pages = push(db, w);
        const layout = w.finish();
        pages.push(...w.take().map((p) => Buffer.from(p)));
        expect(layout).toEqual(planned);
        const got = Buffer.concat([...metaPages(layout), ...pages]);
        expect(got.length).toBe(layout.highWaterPgid * pageSize);
        expect(got.equals(want), `reusePages ${reuse}`).toBe(true);
      }
    });
  }

  it("refuses misuse with the bucket named", () => {
    const w = new BboltPushWriter();
    expect(() => w.put(Buffer.from("k"), Buffer.from("v"))).toThrow(BboltInputError);
    expect(() => w.put(Buffer.from("k"), Buffer.from("v"))).toThrow(/root bucket: every top-level element must be a bucket/);
    expect(() => w.closeBucket()).toThrow(/no bucket open/);
    w.openBucket(Buffer.from("b"));
    w.put(Buffer.from("b"), Buffer.from("1"));
    expect(() => w.put(Buffer.from("a"), Buffer.from("2"))).toThrow(/bucket "b": key "a" sorts before the previous key "b"/);
    expect(() => w.finish()).toThrow(/still open/);
    w.closeBucket();
    expect(() => w.openBucket(Buffer.from("a"))).toThrow(/root bucket: key "a" sorts before/);
    expect(() => w.openBucket(Buffer.from("c"), -1n)).toThrow(/sequence -1/);
    w.finish();
    expect(() => w.openBucket(Buffer.from("d"))).toThrow(/finished/);
  });
});
