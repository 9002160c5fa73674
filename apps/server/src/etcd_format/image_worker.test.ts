import type { ScanChunk } from "@etcd-ts/backend";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BboltReader } from "@etcd-ts/bbolt";
import { afterAll, describe, expect, it } from "vitest";
import { ImageWorker } from "./image_worker.js";
import { packScanChunk, unpackScanChunk } from "./image_worker_protocol.js";

const b = (s: string): Buffer => Buffer.from(s);

function revKey(main: number): Buffer {
  const k = Buffer.alloc(20);
  k.write("key/");
  k.writeBigUInt64BE(BigInt(main), 4);
  return k;
}

async function* chunks(list: ScanChunk[]): AsyncGenerator<ScanChunk> {
  for (const c of list) yield c;
}

/** backendChunks is a small backend's scan: a consistent index and n revisions, in chunks of per. */
function backendChunks(n: number, per: number): ScanChunk[] {
  const out: ScanChunk[] = [];
  const ci = Buffer.alloc(8);
  ci.writeBigUInt64BE(5n);
  const recs: [Buffer, Buffer][] = [];
  for (let i = 1; i <= n; i++) recs.push([revKey(i), Buffer.alloc(300, i % 251)]);
  recs.push([b("meta/consistent_index"), ci]);
  for (let i = 0; i < recs.length; i += per) {
    const part = recs.slice(i, i + per);
    out.push({ keys: part.map((r) => r[0]), values: part.map((r) => r[1]) });
  }
  return out;
}

describe("the image worker's chunk packing", () => {
  it("packs and unpacks a chunk, refilling a buffer handed back when it is large enough", () => {
    const c: ScanChunk = { keys: [b("a"), b(""), b("ccc")], values: [b("1"), b("22"), Buffer.alloc(5000, 7)] };
    const first = packScanChunk(c);
    const got = unpackScanChunk(first.buf, first.len);
    expect(got.keys.map((k) => k.toString())).toEqual(["a", "", "ccc"]);
    expect(got.values.map((v) => v.length)).toEqual([1, 2, 5000]);
    expect(got.values[2]!.every((x) => x === 7)).toBe(true);
    // A buffer large enough is filled again; a smaller one is not.
    expect(packScanChunk(c, first.buf).buf).toBe(first.buf);
    const small = new ArrayBuffer(16);
    expect(packScanChunk(c, small).buf).not.toBe(small);
    const empty = packScanChunk({ keys: [], values: [] });
    expect(unpackScanChunk(empty.buf, empty.len)).toEqual({ keys: [], values: [] });
  });

  it("refuses a packed chunk that does not add up", () => {
    const { buf, len } = packScanChunk({ keys: [b("key")], values: [b("value")] });
    expect(() => unpackScanChunk(buf, 2)).toThrow(/shorter|of 2 bytes/);
    expect(() => unpackScanChunk(buf, len - 1)).toThrow(/runs past its end/);
    expect(() => unpackScanChunk(buf, len + 1)).toThrow(/bytes after its entries/);
    new Uint32Array(buf, 0, 1)[0] = 1_000_000;
    expect(() => unpackScanChunk(buf, len)).toThrow(/cannot hold 1000000 entries/);
  });
});

describe("ImageWorker", () => {
  const dir = mkdtempSync(join(tmpdir(), "etcd-ts-image-worker-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  /**
   * withFile runs fn on a new file in dir opened with flags, then ends the worker and only then
   * closes the file (as makeClientSnapshot does: the worker may still hold its descriptor).
   */
  const withFile = async <T>(w: ImageWorker, flags: string, fn: (fd: number, path: string) => Promise<T>): Promise<T> => {
    const path = join(dir, `image-${files++}`);
    if (flags === "r") writeFileSync(path, "");
    const fh = await open(path, flags);
    try {
      return await fn(fh.fd, path);
    } finally {
      await w.terminate();
      await fh.close();
    }
  };

  it("writes the image of one scan into a file: etcd's buckets, every revision, the meta pages naming its size", async () => {
    const w = new ImageWorker();
    try {
      await withFile(w, "w+", async (fd, path) => {
        const size = await w.build(chunks(backendChunks(3000, 70)), fd, dir);
        const image = readFileSync(path);
        expect(image.length).toBe(size);
        expect((await w.sha256()).equals(createHash("sha256").update(image).digest())).toBe(true);
        expect(size % 4096).toBe(0);
        const reader = await BboltReader.fromBuffer(image);
        try {
          expect(await (await reader.bucket(b("key")))?.count()).toBe(3000);
          expect((await (await reader.bucket(b("meta")))?.get(b("consistent_index")))?.readBigUInt64BE(0)).toBe(5n);
          // etcd's revision key: main revision, "_", sub revision.
          const rev1700 = Buffer.concat([revKey(1700).subarray(4, 12), b("_"), Buffer.alloc(8)]);
          expect((await (await reader.bucket(b("key")))?.get(rev1700))?.equals(Buffer.alloc(300, 1700 % 251))).toBe(true);
        } finally {
          await reader.close();
        }
      });
    } finally {
      await w.terminate();
    }
  });

  it("throws the worker's error: a scan out of order, a file it cannot write", async () => {
    const w = new ImageWorker();
    try {
      const bad: ScanChunk[] = [{ keys: [b("lease/\0\0\0\0\0\0\0\x01"), revKey(1)], values: [b("l"), b("kv")] }];
      await withFile(w, "w+", (fd) => expect(w.build(chunks(bad), fd, dir)).rejects.toThrow(/backend scan out of order/));
    } finally {
      await w.terminate();
    }
    const w2 = new ImageWorker();
    try {
      await withFile(w2, "r", (fd) => expect(w2.build(chunks(backendChunks(2000, 100)), fd, dir)).rejects.toThrow(/EBADF/));
    } finally {
      await w2.terminate();
    }
  });

  it("gives the image up when its disk has less free space than the member keeps for itself", async () => {
    const w = new ImageWorker();
    await withFile(w, "w+", (fd) =>
      expect(w.build(chunks(backendChunks(100, 10)), fd, dir, undefined, Number.MAX_SAFE_INTEGER)).rejects.toThrow(
        /gave up writing the image after 0 MiB: \d+ MiB left free on the disk of .*, which keeps \d+ MiB for the member's own files/,
      ),
    );
  });

  it("stops when the call's signal aborts between two chunks of the scan", async () => {
    const w = new ImageWorker();
    const ac = new AbortController();
    try {
      async function* slow(): AsyncGenerator<ScanChunk> {
        const [first, second] = backendChunks(100, 10);
        yield first!;
        ac.abort(new Error("client went away"));
        await new Promise((resolve) => setTimeout(resolve, 200));
        yield second!;
      }
      await withFile(w, "w+", (fd) => expect(w.build(slow(), fd, dir, ac.signal)).rejects.toThrow(/client went away/));
    } finally {
      await w.terminate();
    }
  });
});
