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

/** spyWrites records the operations of every backend write (which still goes to the backend). */
function spyWrites(): WriteOp[][] {
  const writes: WriteOp[][] = [];
  const real = be.write.bind(be);
  vi.spyOn(be, "write").mockImplementation((ops, opts) => {
    writes.push([...ops]);
    return real(ops, opts);
  });
  return writes;
}

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

  it("starts a write at most once per interval; idle() does not wait for it", async () => {
    const writes = spyWrites();
    const tx = new BatchTx(be, { intervalMs: 50 });
    tx.put(b("a"), b("1"));
    await tx.commit(); // the first write goes at once
    const t0 = performance.now();
    tx.put(b("b"), b("2"), "ob");
    const second = tx.commit();
    tx.put(b("c"), b("3"));
    const third = tx.commit();
    await Promise.all([second, third]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(40);
    expect(writes.length).toBe(2); // the two waited for the interval and went together
    tx.put(b("d"), b("4"), "od");
    const fourth = tx.commit();
    const t1 = performance.now();
    await tx.idle();
    expect(performance.now() - t1).toBeLessThan(40);
    await fourth;
    expect(writes.length).toBe(3);
    expect((await be.get(b("d")))?.toString()).toBe("4");
  });

  it("writes at once when the waiting operations reach the limit", async () => {
    const writes = spyWrites();
    const tx = new BatchTx(be, { intervalMs: 60_000, limitOps: 3 });
    tx.put(b("a"), b("1"));
    await tx.commit();
    tx.put(b("b"), b("2"));
    const second = tx.commit(); // waits for the interval
    tx.put(b("c"), b("3"));
    tx.put(b("d"), b("4"));
    const third = tx.commit(); // three operations wait now: no more waiting
    const t0 = performance.now();
    await Promise.all([second, third]);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(writes.length).toBe(2);
    expect((await be.get(b("d")))?.toString()).toBe("4");
  });

  it("refuses a negative interval and a limit below 1", () => {
    expect(() => new BatchTx(be, { intervalMs: -1 })).toThrow(/batch interval/);
    expect(() => new BatchTx(be, { limitOps: 0 })).toThrow(/batch limit/);
  });
});
