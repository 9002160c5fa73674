import { describe, expect, it } from "vitest";
import { ClosedLoop, RandomSource, SequentialSource, type UnaryCaller } from "./loop.js";

/** fakeClock is a manual clock: each completion advances it by `step` ms. */
function fakeCaller(clock: { t: number }, step: number, fail?: (req: Buffer) => boolean): { caller: UnaryCaller; seen: Buffer[]; maxInFlight: () => number } {
  const seen: Buffer[] = [];
  let inFlight = 0;
  let max = 0;
  const caller: UnaryCaller = (req, done) => {
    seen.push(req);
    inFlight++;
    max = Math.max(max, inFlight);
    setImmediate(() => {
      inFlight--;
      clock.t += step;
      done(fail?.(req) === true ? new Error("boom") : null);
    });
  };
  return { caller, seen, maxInFlight: () => max };
}

const reqs = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.from([i]));

describe("ClosedLoop", () => {
  it("sends every request of a sequential source once and keeps `clients` in flight", async () => {
    const clock = { t: 0 };
    const f = fakeCaller(clock, 1);
    const loop = new ClosedLoop({
      callers: [f.caller, f.caller],
      clients: 5,
      source: new SequentialSource(reqs(100)),
      now: () => clock.t,
      maxRequests: 1e6,
      errorBackoffMs: 1,
    });
    loop.start();
    const r = await loop.done;
    expect(r.totalOk).toBe(100);
    expect(r.totalErrors).toBe(0);
    expect(f.seen.map((b) => b[0])).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(f.maxInFlight()).toBe(5);
    expect(r.ok).toBe(0); // never measured
    expect(r.hitMaxRequests).toBe(false);
  });

  it("counts and records only completions inside the measured window", async () => {
    const clock = { t: 0 };
    const f = fakeCaller(clock, 2);
    const loop = new ClosedLoop({
      callers: [f.caller],
      clients: 1,
      source: new SequentialSource(reqs(30)),
      now: () => clock.t,
      maxRequests: 1e6,
      errorBackoffMs: 1,
    });
    loop.start();
    while (f.seen.length < 10) await new Promise((r) => setImmediate(r));
    loop.measure();
    while (f.seen.length < 20) await new Promise((r) => setImmediate(r));
    const r = await loop.stop();
    expect(r.ok).toBeGreaterThanOrEqual(9);
    expect(r.ok).toBeLessThanOrEqual(11);
    expect(r.histogram.count).toBe(r.ok);
    // each request took exactly 2 ms of fake time
    expect(r.histogram.min).toBe(2000);
    expect(r.histogram.max).toBe(2000);
    expect(r.measuredMs).toBe(r.ok * 2);
    expect(r.totalOk).toBeLessThan(30);
  });

  it("with countDrain also counts the requests outstanding at stop, but not in the window's length", async () => {
    const clock = { t: 0 };
    const held: (() => void)[] = [];
    let sent = 0;
    // every request after the 5th is held until released, as a server blocked by a defrag would
    const caller: UnaryCaller = (_req, done) => {
      sent++;
      if (sent <= 5) setImmediate(() => done(null));
      else held.push(() => done(null));
    };
    const loop = new ClosedLoop({
      callers: [caller],
      clients: 3,
      source: new RandomSource(reqs(10), 1),
      now: () => clock.t,
      maxRequests: 1e6,
      errorBackoffMs: 1,
      countDrain: true,
    });
    loop.start();
    loop.measure();
    while (held.length < 3) await new Promise((r) => setImmediate(r));
    clock.t = 100;
    const done = loop.stop();
    clock.t = 400;
    for (const h of held.splice(0)) h();
    const r = await done;
    expect(r.ok).toBe(8);
    expect(r.histogram.count).toBe(8);
    expect(r.histogram.max).toBe(400_000);
    expect(r.measuredMs).toBe(100);
  });

  it("counts failures, keeps the first error and backs off instead of spinning", async () => {
    const clock = { t: 0 };
    const f = fakeCaller(clock, 1, (req) => req[0]! % 2 === 1);
    const loop = new ClosedLoop({
      callers: [f.caller],
      clients: 2,
      source: new SequentialSource(reqs(10)),
      now: () => clock.t,
      maxRequests: 1e6,
      errorBackoffMs: 1,
    });
    loop.start();
    loop.measure();
    const r = await loop.done;
    expect(r.totalOk).toBe(5);
    expect(r.totalErrors).toBe(5);
    expect(r.ok).toBe(5);
    expect(r.errors).toBe(5);
    expect(r.firstError).toBe("boom");
  });

  it("stops at maxRequests", async () => {
    const clock = { t: 0 };
    const f = fakeCaller(clock, 1);
    const loop = new ClosedLoop({
      callers: [f.caller],
      clients: 3,
      source: new RandomSource(reqs(50), 7),
      now: () => clock.t,
      maxRequests: 40,
      errorBackoffMs: 1,
    });
    loop.start();
    const r = await loop.done;
    expect(f.seen.length).toBe(40);
    expect(r.totalOk).toBe(40);
    expect(r.hitMaxRequests).toBe(true);
  });

  it("rejects a second start and empty configurations", () => {
    const clock = { t: 0 };
    const f = fakeCaller(clock, 1);
    const loop = new ClosedLoop({ callers: [f.caller], clients: 1, source: new SequentialSource([]), now: () => 0, maxRequests: 1, errorBackoffMs: 1 });
    loop.start();
    expect(() => loop.start()).toThrow(/already started/);
    expect(() => new ClosedLoop({ callers: [], clients: 1, source: new SequentialSource([]), now: () => 0, maxRequests: 1, errorBackoffMs: 1 })).toThrow();
  });
});

describe("RandomSource", () => {
  it("is deterministic for a seed and covers the keyspace", () => {
    const r = reqs(10);
    const a = new RandomSource(r, 42);
    const b = new RandomSource(r, 42);
    const c = new RandomSource(r, 43);
    const seqA = Array.from({ length: 1000 }, () => a.next()[0]);
    const seqB = Array.from({ length: 1000 }, () => b.next()[0]);
    const seqC = Array.from({ length: 1000 }, () => c.next()[0]);
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
    expect(new Set(seqA).size).toBe(10);
  });
});
