import { describe, expect, it } from "vitest";
import { DEFRAG_SETUP_BUDGET_MS } from "./defrag.js";
import { cpuSecondsPer1k, drainBoundMs, mergeLeaseCounts, setupBoundMs, sharesFor, splitLoad, summarize, watchDetail } from "./generator.js";
import { LatencyHistogram } from "./histogram.js";
import { LEASE_REVOKE_BUDGET_MS } from "./lease-put.js";
import type { LoopResult } from "./loop.js";
import { parseWorkload } from "./workload.js";

describe("splitLoad", () => {
  it("puts everything on one worker by default", () => {
    expect(splitLoad(100, 10, 1)).toEqual([{ conns: 10, clients: 100, connOffset: 0 }]);
  });

  it("splits connections contiguously and clients by connection", () => {
    expect(splitLoad(100, 10, 3)).toEqual([
      { conns: 4, clients: 40, connOffset: 0 },
      { conns: 3, clients: 30, connOffset: 4 },
      { conns: 3, clients: 30, connOffset: 7 },
    ]);
    expect(splitLoad(7, 3, 2)).toEqual([
      { conns: 2, clients: 5, connOffset: 0 },
      { conns: 1, clients: 2, connOffset: 2 },
    ]);
  });

  it("never makes more workers than connections", () => {
    expect(splitLoad(1, 1, 4)).toEqual([{ conns: 1, clients: 1, connOffset: 0 }]);
  });

  it("keeps totals for many shapes", () => {
    for (let clients = 1; clients <= 40; clients++) {
      for (let conns = 1; conns <= clients; conns += 3) {
        for (let workers = 1; workers <= 5; workers++) {
          const s = splitLoad(clients, conns, workers);
          expect(s.reduce((a, x) => a + x.clients, 0)).toBe(clients);
          expect(s.reduce((a, x) => a + x.conns, 0)).toBe(conns);
          expect(s.every((x) => x.clients >= x.conns && x.conns >= 1)).toBe(true);
        }
      }
    }
  });

  it("rejects impossible splits", () => {
    expect(() => splitLoad(1, 2, 1)).toThrow(/cannot split/);
    expect(() => splitLoad(0, 0, 1)).toThrow(/cannot split/);
  });
});

function loopResult(latenciesUs: number[], measuredMs: number, errors = 0, firstError?: string): LoopResult {
  const h = new LatencyHistogram();
  for (const l of latenciesUs) h.record(l);
  return {
    ok: latenciesUs.length,
    errors,
    totalOk: latenciesUs.length,
    totalErrors: errors,
    firstError,
    measuredMs,
    hitMaxRequests: false,
    histogram: h.snapshot(),
  };
}

describe("summarize", () => {
  it("adds counts, averages the windows and merges latencies", () => {
    const a = loopResult([1000, 1000, 1000], 1000);
    const b = loopResult([3000], 1000, 2, "boom");
    const r = summarize([a, b], 0.9, 0.2, 0.1);
    expect(r.requests).toBe(4);
    expect(r.errors).toBe(2);
    expect(r.firstError).toBe("boom");
    expect(r.seconds).toBe(1);
    expect(r.throughput).toBe(4);
    // percentiles are bucket midpoints: within 1/64 of the recorded value
    expect(Math.abs(r.p50Ms - 1)).toBeLessThan(1 / 64);
    expect(Math.abs(r.p99Ms - 3) / 3).toBeLessThan(1 / 64);
    expect(r.meanMs).toBe(1.5);
    expect(r.maxMs).toBe(3);
    expect(r).toMatchObject({ serverCpuCores: 0.9, generatorCpuCores: 0.2, otherCpuCores: 0.1, hitMaxRequests: false });
    // 0.9 cores over a 1 s window is 0.9 CPU seconds for 4 requests: 225 s per 1,000.
    expect(r.serverCpuSecondsPer1k).toBeCloseTo(225, 9);
    expect(r).not.toHaveProperty("rssBytes");
  });

  it("reports zero throughput and CPU per 1,000 for an empty run", () => {
    expect(summarize([], 0, 0, 0).throughput).toBe(0);
    expect(summarize([], 0.5, 0, 0).serverCpuSecondsPer1k).toBe(0);
  });

  it("cpuSecondsPer1k is CPU seconds in the window / operations x 1000", () => {
    // 1.5 cores at 30,000 ops/s: 1.5 s of CPU for 30,000 ops in a second.
    expect(cpuSecondsPer1k(1.5, 30_000)).toBeCloseTo(0.05, 12);
    expect(cpuSecondsPer1k(1, 0)).toBe(0);
  });
});

describe("lease-put and watch plumbing", () => {
  it("keeps a watch workload in one thread and splits the others", () => {
    expect(sharesFor(parseWorkload("watch-100", 10), 4)).toEqual([{ conns: 10, clients: 100, connOffset: 0 }]);
    expect(sharesFor(parseWorkload("lease-put-100", 10), 2)).toEqual(splitLoad(100, 10, 2));
  });

  it("waits longer for watch (catch-up) and lease-put (revocation) results", () => {
    const kv = drainBoundMs(parseWorkload("put-1", 10), 10_000);
    expect(drainBoundMs(parseWorkload("watch-10", 10), 10_000)).toBe(kv + 10_000);
    expect(drainBoundMs(parseWorkload("lease-put-10", 10), 10_000)).toBe(kv + LEASE_REVOKE_BUDGET_MS);
  });

  it("gives a defrag workload's thread time to encode a request per kept key before it must be ready", () => {
    const kv = setupBoundMs(parseWorkload("put-100", 10), 30_000);
    expect(kv).toBeGreaterThanOrEqual(30_000);
    expect(setupBoundMs(parseWorkload("defrag-100", 10), 30_000)).toBe(kv + DEFRAG_SETUP_BUDGET_MS);
  });

  it("watchDetail reports the writers' rate and latencies and the delivery tally", () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 100; i++) h.record(2000);
    const d = watchDetail({
      watchers: 10,
      streams: 2,
      writers: 3,
      puts: 100,
      putErrors: 1,
      putHistogram: h.snapshot(),
      putMeasuredMs: 2000,
      tally: { expected: 1000, delivered: 998, lost: 2, duplicated: 1, unexpected: 3, untrackedAcks: 1 },
      drainMs: -1,
      failure: undefined,
    });
    expect(d).toMatchObject({ putThroughput: 50, expectedEvents: 1000, deliveredEvents: 998, lostEvents: 2, duplicatedEvents: 1, unexpectedEvents: 4 });
    expect(Math.abs(d.putP50Ms - 2) / 2).toBeLessThan(1 / 64);
  });

  it("mergeLeaseCounts adds the threads' counts", () => {
    expect(
      mergeLeaseCounts([
        { granted: 10, revoked: 9, revokeErrors: 1, revokeMs: 100 },
        { granted: 5, revoked: 5, revokeErrors: 0, revokeMs: 300 },
      ]),
    ).toEqual({ granted: 15, revoked: 14, revokeErrors: 1, revokeMs: 300 });
  });
});
