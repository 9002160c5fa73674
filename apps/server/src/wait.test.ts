import { describe, expect, it } from "vitest";
import { IdGenerator, Wait } from "./wait.js";

describe("Wait", () => {
  it("resolves a triggered waiter once and ignores unknown IDs", async () => {
    const w = new Wait<string>();
    const p = w.register(1n);
    w.trigger(2n, "other");
    w.trigger(1n, "done");
    w.trigger(1n, "again");
    await expect(p).resolves.toBe("done");
    expect(w.size).toBe(0);
  });

  it("rejects waiters that outlive the timeout with the timeout error", async () => {
    const timeout = new Error("timed out");
    const w = new Wait<string>(50, timeout);
    const slow = w.register(1n);
    const fast = w.register(2n);
    w.trigger(2n, "ok");
    await expect(fast).resolves.toBe("ok");
    await expect(slow).rejects.toBe(timeout);
    w.failAll(new Error("stop"));
  });

  it("fails everything on failAll", async () => {
    const w = new Wait<string>(10_000);
    const stop = new Error("stopped");
    const ps = [w.register(1n), w.register(2n)];
    w.failAll(stop);
    for (const p of ps) await expect(p).rejects.toBe(stop);
  });
});

describe("IdGenerator", () => {
  it("makes distinct IDs carrying the member's low bits", () => {
    const g = new IdGenerator(0xabcdn, 1_700_000_000_000);
    const a = g.id();
    const b = g.id();
    expect(a).not.toBe(b);
    expect(a >> 48n).toBe(0xabcdn);
  });
});
