import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Backend, type WriteOp } from "./index.js";

const b = (s: string): Buffer => Buffer.from(s);
const str = (buf: Buffer | undefined): string | undefined => buf?.toString();

let dir: string;
let be: Backend;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "backend-test-"));
  be = await Backend.open(join(dir, "db"));
});

afterEach(async () => {
  await be.close();
  await rm(dir, { recursive: true, force: true });
});

async function collect(opts: Parameters<Backend["scan"]>[0]): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of be.scan(opts)) out.push(`${k.toString()}=${v.toString()}`);
  return out;
}

async function putAll(keys: string[]): Promise<void> {
  await be.write(keys.map((k) => ({ type: "put", key: b(k), value: b(k.toUpperCase()) })));
}

describe("Backend", () => {
  it("puts, gets and deletes", async () => {
    expect(await be.get(b("a"))).toBeUndefined();
    await be.write([{ type: "put", key: b("a"), value: b("1") }]);
    expect(str(await be.get(b("a")))).toBe("1");
    await be.write([{ type: "put", key: b("a"), value: b("2") }]);
    expect(str(await be.get(b("a")))).toBe("2");
    await be.write([{ type: "del", key: b("a") }]);
    expect(await be.get(b("a"))).toBeUndefined();
  });

  it("stores binary keys and empty values", async () => {
    const key = Buffer.from([0, 255, 0, 1]);
    await be.write([{ type: "put", key, value: Buffer.alloc(0) }]);
    const got = await be.get(key);
    expect(got).toBeInstanceOf(Buffer);
    expect(got?.length).toBe(0);
  });

  it("applies a batch as a whole, later ops winning on the same key", async () => {
    await be.write([{ type: "put", key: b("x"), value: b("old") }]);
    const batch: WriteOp[] = [
      { type: "put", key: b("a"), value: b("1") },
      { type: "del", key: b("x") },
      { type: "put", key: b("b"), value: b("1") },
      { type: "put", key: b("b"), value: b("2") },
      { type: "put", key: b("c"), value: b("3") },
      { type: "del", key: b("c") },
    ];
    await be.write(batch, { sync: true });
    expect(await collect({})).toEqual(["a=1", "b=2"]);
  });

  it("gets many keys in one call", async () => {
    await putAll(["a", "c"]);
    const got = await be.getMany([b("a"), b("b"), b("c")]);
    expect(got.map(str)).toEqual(["A", undefined, "C"]);
    expect(await be.getMany([])).toEqual([]);
  });

  it("scans in key order with gte/lt bounds, reverse and limit", async () => {
    await putAll(["d", "a", "c", "b", "e"]);
    expect(await collect({})).toEqual(["a=A", "b=B", "c=C", "d=D", "e=E"]);
    expect(await collect({ gte: b("b"), lt: b("d") })).toEqual(["b=B", "c=C"]);
    expect(await collect({ gte: b("bb") })).toEqual(["c=C", "d=D", "e=E"]);
    expect(await collect({ lt: b("c") })).toEqual(["a=A", "b=B"]);
    expect(await collect({ reverse: true })).toEqual(["e=E", "d=D", "c=C", "b=B", "a=A"]);
    expect(await collect({ reverse: true, gte: b("b"), lt: b("e") })).toEqual(["d=D", "c=C", "b=B"]);
    expect(await collect({ limit: 2 })).toEqual(["a=A", "b=B"]);
    expect(await collect({ reverse: true, limit: 1 })).toEqual(["e=E"]);
    expect(await collect({ limit: 0 })).toEqual([]);
    expect(await collect({ gte: b("x") })).toEqual([]);
  });

  it("scans large ranges across many native chunks", async () => {
    const n = 5000;
    const batch: WriteOp[] = [];
    for (let i = 0; i < n; i++) {
      const key = Buffer.alloc(4);
      key.writeUInt32BE(i);
      batch.push({ type: "put", key, value: Buffer.alloc(512, i & 0xff) });
    }
    await be.write(batch);
    let count = 0;
    let chunks = 0;
    for await (const chunk of be.scanChunks({})) {
      chunks++;
      for (let i = 0; i < chunk.keys.length; i++) {
        expect(chunk.keys[i]!.readUInt32BE()).toBe(count);
        expect(chunk.values[i]![0]).toBe(count & 0xff);
        count++;
      }
    }
    expect(count).toBe(n);
    expect(chunks).toBeGreaterThan(1);
    expect(chunks).toBeLessThan(n / 10);
  });

  it("ends a scan that the caller leaves early", async () => {
    await putAll(["a", "b", "c"]);
    for await (const [k] of be.scan({})) {
      expect(k.toString()).toBe("a");
      break;
    }
    expect(await collect({})).toHaveLength(3);
  });

  it("scans a snapshot taken when the scan starts", async () => {
    await putAll(["a", "b"]);
    const seen: string[] = [];
    for await (const [k] of be.scan({})) {
      seen.push(k.toString());
      if (seen.length === 1) await putAll(["c"]);
    }
    expect(seen).toEqual(["a", "b"]);
  });

  it("opens scans that all read the state after the writes in flight, whenever they are read", async () => {
    await putAll(["a", "b"]);
    // A write handed to RocksDB, not yet done: the scans wait for it, then see it.
    const inFlight = be.write([{ type: "put", key: b("c"), value: b("C") }]);
    const [one, two, three] = (await be.openScans(3, { readAhead: true })) ?? [];
    await inFlight;
    await putAll(["d"]);
    await be.write([{ type: "del", key: b("a") }]);
    const keys = async (scan: typeof one): Promise<string[]> => {
      const out: string[] = [];
      for await (const chunk of scan!.chunks()) for (const k of chunk.keys) out.push(k.toString());
      return out;
    };
    expect(await keys(one)).toEqual(["a", "b", "c"]);
    expect(await keys(two)).toEqual(["a", "b", "c"]);
    expect(() => one!.chunks()).toThrow(/read once/);
    // A scan never read is released by end(); ending twice is once.
    await three!.end();
    await three!.end();
    expect(await collect({})).toEqual(["b=B", "c=C", "d=D"]);
  });

  it("opens no scan when the caller's readiness check, asked in the step that would make them, says no", async () => {
    await putAll(["a"]);
    let ready = false;
    expect(await be.openScans(2, {}, () => ready)).toBeUndefined();
    ready = true;
    const scans = await be.openScans(2, {}, () => ready);
    expect(scans).toHaveLength(2);
    for (const s of scans ?? []) await s.end();
  });

  it("syncs completed writes without storing anything", async () => {
    await putAll(["a"]);
    await be.sync();
    expect(await collect({})).toEqual(["a=A"]);
  });

  it("persists data across reopen", async () => {
    await putAll(["a", "b"]);
    await be.write([{ type: "del", key: b("a") }]);
    await be.close();
    be = await Backend.open(join(dir, "db"));
    expect(await collect({})).toEqual(["b=B"]);
  });

  it("reports size and compacts", async () => {
    const batch: WriteOp[] = [];
    for (let i = 0; i < 200; i++) batch.push({ type: "put", key: b(`k${i}`), value: Buffer.alloc(1000, 7) });
    await be.write(batch);
    await be.compactRange();
    const full = await be.sizeBytes();
    expect(full).toBeGreaterThan(0);
    await be.write(batch.map((op) => ({ type: "del", key: op.key })));
    await be.compactRange(b("k"), b("l"));
    expect(await collect({})).toEqual([]);
    expect(await be.sizeBytes()).toBeGreaterThan(0);
  });

  it("fails with a backend error after close", async () => {
    await be.close();
    await be.close();
    expect(() => be.get(b("a"))).toThrow("backend: database is closed");
    expect(() => be.write([{ type: "del", key: b("a") }])).toThrow("backend: database is closed");
    be = await Backend.open(join(dir, "db"));
  });

  it("refuses to open a missing database without createIfMissing", async () => {
    await expect(Backend.open(join(dir, "missing"), { createIfMissing: false })).rejects.toThrow(/^backend: open /);
  });
});
