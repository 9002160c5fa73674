import type { ScanChunk } from "@etcd-ts/backend";
import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
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
  it("makes the image from two scans: the planned size, messages with the bytes still to come, the digest", async () => {
    const w = new ImageWorker();
    try {
      const size = await w.plan(chunks(backendChunks(3000, 70)));
      const blobs: Buffer[] = [];
      let left = size;
      for await (const m of w.emit(chunks(backendChunks(3000, 333)))) {
        const r = etcdserverpb.SnapshotResponse.decode(m);
        left -= r.blob.length;
        expect(r.remainingBytes).toBe(BigInt(left));
        blobs.push(Buffer.from(r.blob));
      }
      expect(left).toBe(0);
      expect(Buffer.concat(blobs).length).toBe(size);
      expect(w.sha256).toHaveLength(32);
    } finally {
      await w.terminate();
    }
  });

  it("throws the worker's error: a scan out of order, or a second scan that differs from the first", async () => {
    const w = new ImageWorker();
    try {
      const bad: ScanChunk[] = [{ keys: [b("lease/\0\0\0\0\0\0\0\x01"), revKey(1)], values: [b("l"), b("kv")] }];
      await expect(w.plan(chunks(bad))).rejects.toThrow(/backend scan out of order/);
    } finally {
      await w.terminate();
    }
    const w2 = new ImageWorker();
    try {
      await w2.plan(chunks(backendChunks(2000, 100)));
      const drain = async (): Promise<void> => {
        for await (const _ of w2.emit(chunks(backendChunks(2500, 100)))) void _;
      };
      await expect(drain()).rejects.toThrow(/longer than its planned|changed between the two scans/);
    } finally {
      await w2.terminate();
    }
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
      await w.plan(chunks(backendChunks(100, 10)));
      const it = w.emit(slow(), ac.signal);
      await expect(
        (async () => {
          for await (const _ of it) void _;
        })(),
      ).rejects.toThrow(/client went away/);
    } finally {
      await w.terminate();
    }
  });
});
