import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backend, BatchTx, type WriteOp } from "./index.js";

const b = (s: string): Buffer => Buffer.from(s);

let dir: string;
let be: Backend;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "batch-tx-test-"));
  be = await Backend.open(join(dir, "db"));
});

afterEach(async () => {
  await be.close();
  await rm(dir, { recursive: true, force: true });
});

describe("BatchTx", () => {
  it("writes the batches committed while a write is in flight together, in commit order", async () => {
    const writes: WriteOp[][] = [];
    const real = be.write.bind(be);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => (started = r));
    vi.spyOn(be, "write").mockImplementation((ops, opts) => {
      writes.push([...ops]);
      if (writes.length > 1) return real(ops, opts);
      started();
      return gate.then(() => real(ops, opts));
    });
    const tx = new BatchTx(be);
    tx.put(b("k"), b("1"), "o1");
    const first = tx.commit();
    await firstStarted;
    // The first write is in flight: these three go in one write after it.
    const rest: Promise<void>[] = [];
    for (const v of ["2", "3", "4"]) {
      tx.put(b("k"), b(v), `o${v}`);
      tx.put(b(`k${v}`), b(v));
      rest.push(tx.commit());
    }
    expect(tx.lookup("o4")?.toString()).toBe("4"); // readable before it is written
    release();
    await Promise.all([first, ...rest]);
    expect(writes.map((w) => w.length)).toEqual([1, 6]);
    expect((await be.get(b("k")))?.toString()).toBe("4"); // the last commit wins
    expect((await be.get(b("k2")))?.toString()).toBe("2");
    expect(tx.lookup("o1")).toBeUndefined();
    expect(tx.lookup("o4")).toBeUndefined();
    expect(tx.unflushed()).toEqual([]);
  });

  it("fails every batch of a failed group and every later one", async () => {
    const tx = new BatchTx(be);
    tx.put(b("a"), b("1"));
    await tx.commit();
    vi.spyOn(be, "write").mockRejectedValue(new Error("disk on fire"));
    tx.put(b("b"), b("2"));
    const second = tx.commit();
    tx.put(b("c"), b("3"));
    const third = tx.commit();
    await expect(second).rejects.toThrow(/batch write failed: disk on fire/);
    await expect(third).rejects.toThrow(/batch write failed: disk on fire/);
    tx.put(b("d"), b("4"));
    await expect(tx.commit()).rejects.toThrow(/disk on fire/);
    expect(tx.failed?.message).toMatch(/disk on fire/);
  });
});
