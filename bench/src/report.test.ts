import { describe, expect, it } from "vitest";
import type { WorkloadRun } from "./generator.js";
import type { MemberProfile } from "./profile.js";
import type { RangeAllDetail } from "./range_all.js";
import {
  alignColumns,
  authCostLines,
  computeAuthCosts,
  computeRatios,
  fmtMB,
  fmtMs,
  fmtPercent,
  formatReport,
  profileLines,
  rangeAllRatioLine,
  rssAfterLine,
  type BenchReport,
  type ServerResult,
  type WorkloadResult,
} from "./report.js";

function run(throughput: number, p50Ms: number, p99Ms: number): WorkloadRun {
  return {
    requests: throughput,
    errors: 0,
    firstError: undefined,
    seconds: 1,
    throughput,
    p50Ms,
    p99Ms,
    meanMs: p50Ms,
    maxMs: p99Ms,
    serverCpuCores: 1,
    serverCpuSecondsPer1k: 0.05,
    generatorCpuCores: 0.25,
    otherCpuCores: 0,
    hitMaxRequests: false,
  };
}

function wl(name: string, r: WorkloadRun | string): WorkloadResult {
  const base = { workload: name, op: "put" as const, clients: 100, conns: 10 };
  if (typeof r === "string") return { ...base, ok: false, error: r, rounds: [], ...run(0, 0, 0) };
  return { ...base, ok: true, error: undefined, rounds: [r], ...r };
}

/** server is a result labelled like the bench labels it: "<kind>[+auth][#n]". */
function server(label: string, workloads: WorkloadResult[], available = true): ServerResult {
  return {
    label,
    kind: label.replace(/#\d+$/, "").replace(/\+auth$/, ""),
    auth: /\+auth(#\d+)?$/.test(label),
    command: `/usr/bin/${label}`,
    members: 1,
    available,
    reason: available ? undefined : "apps/server/bin/etcd-ts.js not found",
    version: available ? "3.4.23" : "",
    workloads,
  };
}

function report(servers: ServerResult[]): BenchReport {
  return {
    startedAt: "t0",
    finishedAt: "t1",
    host: { cpus: 2, node: "v20", platform: "linux-x64" },
    settings: {
      members: 1,
      durationSec: 6,
      warmupSec: 1,
      keySpace: 10000,
      keySize: 8,
      valueSize: 256,
      workers: 1,
      transport: "h2",
      rounds: 1,
      order: "interleaved",
      maxConns: 10,
      watchWriters: 10,
    },
    servers,
    ratios: computeRatios(servers),
    authCosts: computeAuthCosts(servers),
  };
}

describe("computeRatios", () => {
  it("divides each server by the first, per workload that succeeded on both", () => {
    const etcd = server("etcd", [wl("put-100", run(10000, 5, 20)), wl("range-1", run(4000, 0.25, 1)), wl("range-100", run(1, 1, 1))]);
    const ts = server("etcd-ts", [wl("put-100", run(5000, 10, 30)), wl("range-1", "boom"), wl("range-100", run(2, 2, 2))]);
    expect(computeRatios([etcd, ts])).toEqual([
      { workload: "put-100", server: "etcd-ts", baseline: "etcd", throughput: 0.5, p50: 2, p99: 1.5, serverCpuPer1k: 1, rss: null },
      { workload: "range-100", server: "etcd-ts", baseline: "etcd", throughput: 2, p50: 2, p99: 2, serverCpuPer1k: 1, rss: null },
    ]);
  });

  it("gives no ratios when a side is not available", () => {
    const etcd = server("etcd", [wl("put-1", run(1, 1, 1))]);
    expect(computeRatios([etcd, server("etcd-ts", [], false)])).toEqual([]);
    expect(computeRatios([server("etcd", [], false), etcd])).toEqual([]);
    expect(computeRatios([])).toEqual([]);
  });

  it("compares like with like: each server with the first of the same auth setting", () => {
    const etcd = server("etcd", [wl("put-100", run(10000, 5, 20))]);
    const etcdAuth = server("etcd+auth", [wl("put-100", run(8000, 6, 24))]);
    const ts = server("etcd-ts", [wl("put-100", run(5000, 10, 30))]);
    const tsAuth = server("etcd-ts+auth", [wl("put-100", run(2000, 12, 48))]);
    const etcd2 = server("etcd#2", [wl("put-100", run(12500, 4, 25))]);
    expect(computeRatios([etcd, etcdAuth, ts, tsAuth, etcd2])).toEqual([
      { workload: "put-100", server: "etcd-ts", baseline: "etcd", throughput: 0.5, p50: 2, p99: 1.5, serverCpuPer1k: 1, rss: null },
      { workload: "put-100", server: "etcd-ts+auth", baseline: "etcd+auth", throughput: 0.25, p50: 2, p99: 2, serverCpuPer1k: 1, rss: null },
      { workload: "put-100", server: "etcd#2", baseline: "etcd", throughput: 1.25, p50: 0.8, p99: 1.25, serverCpuPer1k: 1, rss: null },
    ]);
    // Without a baseline of the same auth setting there is nothing to compare with.
    expect(computeRatios([etcdAuth, ts])).toEqual([]);
    expect(computeRatios([server("etcd+auth", [], false), ts, tsAuth])).toEqual([]);
  });

  it("reports null instead of dividing by zero", () => {
    const a = server("a", [wl("put-1", run(100, 0, 1))]);
    const b = server("b", [wl("put-1", run(50, 1, 1))]);
    expect(computeRatios([a, b])[0]).toMatchObject({ throughput: 0.5, p50: null, p99: 1 });
  });
});

describe("formatReport", () => {
  it("prints one row per server and workload, ratio rows, and why a server is missing", () => {
    const etcd = server("etcd", [wl("put-100", run(10000, 5, 20))]);
    const etcd2 = server("etcd#2", [wl("put-100", run(12500, 4, 25))]);
    const ts = server("etcd-ts", [], false);
    const text = formatReport(report([etcd, etcd2, ts]));
    const lines = text.split("\n");
    expect(text).toContain("etcd-ts: not available (apps/server/bin/etcd-ts.js not found)");
    expect(text).toContain("etcd: version 3.4.23: /usr/bin/etcd");
    const row = lines.find((l) => l.startsWith("put-100"));
    expect(row?.split(/\s+/)).toEqual(["put-100", "10", "etcd", "10000", "5.00", "20.00", "0", "1.00", "0.050", "0.25", "0.00", "-"]);
    const ratio = lines.find((l) => l.includes("etcd#2/etcd"));
    expect(ratio?.trim().split(/\s+/)).toEqual(["etcd#2/etcd", "1.25x", "0.80x", "1.25x", "1.00x", "-"]);
  });

  it("says which servers had auth on", () => {
    const etcd = server("etcd", [wl("put-100", run(10000, 5, 20))]);
    const etcdAuth = server("etcd+auth", [wl("put-100", run(8000, 5, 20))]);
    const tsAuth = server("etcd-ts+auth", [wl("put-100", run(8000, 5, 20))]);
    const off = report([etcd]);
    expect(formatReport(off).split("\n")).toContain("auth: off");
    const on = { ...report([etcdAuth, tsAuth]), settings: { ...off.settings, auth: true } };
    expect(formatReport(on)).toMatch(/^auth: on in every server: every request and Watch stream carried a simple token of user root/m);
    expect(JSON.parse(JSON.stringify(on)).settings.auth).toBe(true);
    const mixed = formatReport(report([etcd, etcdAuth, tsAuth]));
    expect(mixed).toMatch(/^auth: on in etcd\+auth, etcd-ts\+auth: every request and Watch stream to them carried .*; off in etcd$/m);
  });

  it("prints a failed workload with its reason", () => {
    const etcd = server("etcd", [wl("range-1", "no request succeeded: h2: connection closed")]);
    const text = formatReport(report([etcd]));
    expect(text).toMatch(/range-1\s+10\s+etcd\s+failed: no request succeeded: h2: connection closed/);
  });
});

describe("auth cost", () => {
  const etcd = server("etcd", [wl("put-100", run(10000, 5, 20)), wl("range-1", run(4000, 0.25, 1)), wl("put-1", run(500, 2, 3))]);
  const etcdAuth = server("etcd+auth", [wl("put-100", run(7870, 6, 24)), wl("range-1", run(4100, 0.25, 1)), wl("put-1", "boom")]);
  const ts = server("etcd-ts", [wl("put-100", run(5000, 10, 30)), wl("range-1", run(2000, 0.5, 2)), wl("put-1", run(400, 2, 3))]);
  const tsAuth = server("etcd-ts+auth", [wl("put-100", run(4510, 11, 33)), wl("range-1", run(1000, 1, 4)), wl("put-1", run(300, 3, 4))]);

  it("is 1 - throughput with auth / throughput without, per workload and kind that ran both ways", () => {
    const costs = computeAuthCosts([etcd, etcdAuth, ts, tsAuth]);
    expect(costs.map((c) => [c.workload, c.kind, c.server, c.withAuth])).toEqual([
      ["put-100", "etcd", "etcd", "etcd+auth"],
      ["put-100", "etcd-ts", "etcd-ts", "etcd-ts+auth"],
      ["range-1", "etcd", "etcd", "etcd+auth"],
      ["range-1", "etcd-ts", "etcd-ts", "etcd-ts+auth"],
      // put-1 failed on etcd+auth: no figure for etcd
      ["put-1", "etcd-ts", "etcd-ts", "etcd-ts+auth"],
    ]);
    expect(costs.map((c) => c.throughputLost)).toEqual([
      expect.closeTo(0.213, 9),
      expect.closeTo(0.098, 9),
      expect.closeTo(-0.025, 9),
      expect.closeTo(0.5, 9),
      expect.closeTo(0.25, 9),
    ]);
  });

  it("uses the reported (median) round, not the others", () => {
    const median = { ...wl("put-100", run(1000, 1, 1)), rounds: [run(1000, 1, 1), run(10, 1, 1), run(5000, 1, 1)] };
    const costs = computeAuthCosts([server("etcd", [wl("put-100", run(2000, 1, 1))]), server("etcd+auth", [median])]);
    expect(costs).toEqual([{ workload: "put-100", kind: "etcd", server: "etcd", withAuth: "etcd+auth", throughputLost: 0.5 }]);
  });

  it("needs both sides available; pairs the first entry of each; null on a zero throughput", () => {
    expect(computeAuthCosts([etcd, ts])).toEqual([]);
    expect(computeAuthCosts([etcdAuth, tsAuth])).toEqual([]);
    expect(computeAuthCosts([etcd, server("etcd+auth", [], false)])).toEqual([]);
    const etcd2 = server("etcd#2", [wl("put-100", run(1, 1, 1))]);
    const etcdAuth2 = server("etcd+auth#2", [wl("put-100", run(1, 1, 1))]);
    expect(computeAuthCosts([etcd, etcd2, etcdAuth, etcdAuth2]).map((c) => [c.server, c.withAuth])).toEqual([
      ["etcd", "etcd+auth"],
      ["etcd", "etcd+auth"],
    ]);
    const zero = server("etcd-ts", [wl("put-1", run(0, 1, 1))]);
    expect(computeAuthCosts([zero, server("etcd-ts+auth", [wl("put-1", run(5, 1, 1))])])[0]?.throughputLost).toBeNull();
  });

  it("is printed as a percentage after the ratio rows and kept in the JSON", () => {
    expect(fmtPercent(0.2134)).toBe("21.3%");
    expect(fmtPercent(-0.025)).toBe("-2.5%");
    expect(fmtPercent(null)).toBe("-");
    expect(authCostLines([])).toEqual([]);
    const r = report([etcd, etcdAuth, ts, tsAuth]);
    const lines = formatReport(r).split("\n");
    const at = lines.indexOf("auth cost (throughput lost with auth on):");
    expect(at).toBeGreaterThan(lines.findIndex((l) => l.includes("etcd-ts+auth/etcd+auth")));
    expect(lines.slice(at, at + 4)).toEqual([
      "auth cost (throughput lost with auth on):",
      "  put-100: etcd 21.3%, etcd-ts 9.8%",
      "  range-1: etcd -2.5%, etcd-ts 50.0%",
      "  put-1: etcd-ts 25.0%",
    ]);
    expect(lines.some((l) => l.startsWith("auth cost: 1 - ops/s of <kind>+auth / ops/s of <kind>"))).toBe(true);
    const json = JSON.parse(JSON.stringify(r)) as BenchReport;
    expect(json.authCosts[0]).toEqual({ workload: "put-100", kind: "etcd", server: "etcd", withAuth: "etcd+auth", throughputLost: expect.closeTo(0.213, 9) });
    const plain = formatReport(report([etcd, ts]));
    expect(plain).not.toContain("auth cost");
  });
});

describe("formatting helpers", () => {
  it("fmtMs keeps about three significant digits", () => {
    expect(fmtMs(0.1234)).toBe("0.123");
    expect(fmtMs(12.345)).toBe("12.35");
    expect(fmtMs(1234.5)).toBe("1235");
  });

  it("adds a note per watch and lease-put result, and says what their columns mean", () => {
    const watch = {
      ...run(150000, 4.7, 15.8),
      watch: {
        watchers: 100,
        streams: 10,
        writers: 10,
        puts: 3000,
        putErrors: 0,
        putThroughput: 1500,
        putP50Ms: 5.2,
        putP99Ms: 19.3,
        expectedEvents: 390000,
        deliveredEvents: 390000,
        lostEvents: 0,
        duplicatedEvents: 0,
        unexpectedEvents: 0,
        drainMs: 4,
        failure: undefined,
      },
    };
    const lease = { ...run(1400, 70, 185), lease: { granted: 3273, revoked: 3273, revokeErrors: 0, revokeMs: 1000 } };
    const etcd = server("etcd", [wl("watch-100", watch), wl("lease-put-100", lease)]);
    const text = formatReport(report([etcd]));
    expect(text).toContain("ops/s");
    expect(text).toContain(
      "watch-100 etcd: 100 watchers on 10 streams; 10 put clients made 1500 puts/s (p50 5.20 ms, p99 19.30 ms); " +
        "390000 of 390000 events delivered, 0 lost, 0 duplicated, 0 unexpected; caught up 4 ms after the puts stopped",
    );
    expect(text).toContain("lease-put-100 etcd: 3273 leases granted, 3273 revoked after the run (1.0 s)");
    expect(text).toContain("watch: events received");
    expect(text).toContain("watch errors: failed puts plus every lost, duplicated or unexpected event");
    expect(formatReport(report([server("etcd", [wl("put-1", run(1, 1, 1))])]))).not.toContain("watch errors");
  });

  it("adds a defrag note per server and a ratio of Defragment duration and worst write pause", () => {
    const detail = (defragMs: number, pauseMs: number) => ({
      keys: 262144,
      keptKeys: 131072,
      valueSize: 1024,
      fillMs: 20000,
      deleteMs: 1000,
      compactMs: 5000,
      dbSizeBefore: 300 * 1024 * 1024,
      dbSizeAfter: 150 * 1024 * 1024,
      defragMs,
      worstWritePauseMs: pauseMs,
      putsDuringDefrag: 7,
      putThroughput: 100,
      putP99Ms: 900,
      rangeThroughput: 200,
      rangeP99Ms: 800,
    });
    const etcd = server("etcd", [{ ...wl("defrag-100", run(300, 2, 900)), defrag: detail(2000, 1990) }]);
    const ts = server("etcd-ts", [{ ...wl("defrag-100", run(3000, 2, 20)), defrag: detail(1000, 199) }]);
    const r = report([etcd, ts]);
    r.ratios = computeRatios(r.servers);
    expect(r.ratios[0]).toMatchObject({ throughput: 10, defragMs: 0.5, worstWritePause: 0.1 });
    const text = formatReport(r);
    expect(text).toContain(
      "defrag-100 etcd: Defragment took 2000 ms (db 300 MiB -> 150 MiB); worst write pause 1990 ms; 7 puts completed during it; " +
        "100 puts/s (p99 900 ms), 200 ranges/s (p99 800 ms); before it: 262144 keys of 1024 B written, 131072 deleted, compacted in 5.0 s",
    );
    expect(text).toContain("defrag-100 etcd-ts/etcd: Defragment duration 0.50x, worst write pause 0.10x");
    expect(text).toContain("worst write pause: the longest time in it with no put completing");
    expect(computeRatios([server("etcd", [wl("put-1", run(1, 1, 1))]), server("x", [wl("put-1", run(1, 1, 1))])])[0]).not.toHaveProperty("defragMs");
  });

  it("adds a snapshot note per server and a ratio line of throughput, duration and first message", () => {
    const MiB = 1024 * 1024;
    const detail = (durationMs: number, firstByteMs: number, bytes: number) => ({
      keys: 32768,
      valueSize: 1024,
      fillMs: 4000,
      dbSize: 40 * MiB,
      firstByteMs,
      durationMs,
      bytes,
      snapshotBytes: bytes - 32,
      messages: 100,
      mibPerSec: bytes / MiB / (durationMs / 1000),
    });
    const snap = (durationMs: number, firstByteMs: number, bytes: number): WorkloadResult => {
      const d = detail(durationMs, firstByteMs, bytes);
      return { ...wl("snapshot", run(d.mibPerSec, durationMs, durationMs)), op: "snapshot", clients: 1, conns: 1, snapshot: d };
    };
    const etcd = server("etcd", [snap(2000, 10, 40 * MiB)]);
    const ts = server("etcd-ts", [snap(500, 40, 40 * MiB)]);
    const r = report([etcd, ts]);
    r.ratios = computeRatios(r.servers);
    expect(r.ratios[0]).toMatchObject({ throughput: 4, snapshotThroughput: 4, snapshotDuration: 0.25, snapshotFirstByte: 4 });
    const text = formatReport(r);
    expect(text).toMatch(/^snapshot\s+1\s+etcd\s+20\.0\s+2000\s+2000\s+0 /m);
    expect(text).toMatch(/^\s+etcd-ts\s+80\.0\s+500\s+500\s/m);
    expect(text).toContain(
      "snapshot etcd: 40.0 MiB (41943040 B in 100 messages) in 2.00 s, 20.0 MiB/s; first message after 10.0 ms; " +
        "db 40.0 MiB (Status); before it: 32768 keys of 1024 B written in 4.0 s",
    );
    expect(text).toContain("snapshot etcd-ts: 40.0 MiB (41943040 B in 100 messages) in 500 ms, 80.0 MiB/s; first message after 40.0 ms;");
    expect(text).toContain("snapshot etcd-ts/etcd: throughput 4.00x (MiB/s, >1x faster), duration 0.25x, first message 4.00x");
    expect(text).toContain("snapshot: one Maintenance.Snapshot stream read whole from the first member; ops/s is its throughput in MiB/s");
    expect(formatReport(report([server("etcd", [wl("put-1", run(1, 1, 1))])]))).not.toContain("Maintenance.Snapshot");
    expect(computeRatios([server("etcd", [wl("put-1", run(1, 1, 1))]), server("x", [wl("put-1", run(1, 1, 1))])])[0]).not.toHaveProperty("snapshotThroughput");
  });

  it("adds a range-all note per server and a ratio line of duration and extra memory", () => {
    const MiB = 1024 * 1024;
    const detail = (durationMs: number, extraMiB: number | null): RangeAllDetail => ({
      keys: 81920,
      valueSize: 1024,
      fillMs: 9000,
      durationMs,
      bytes: 84 * MiB,
      kvs: 81920,
      count: 81920,
      mibPerSec: 84 / (durationMs / 1000),
      peakReset: extraMiB !== null,
      rssBeforeBytes: 50 * MiB,
      peakBytes: extraMiB === null ? null : (50 + extraMiB) * MiB,
      rssAfterBytes: 70 * MiB,
      extraBytes: extraMiB === null ? null : extraMiB * MiB,
    });
    const ra = (durationMs: number, extraMiB: number | null): WorkloadResult => {
      const d = detail(durationMs, extraMiB);
      const r = { ...run(d.mibPerSec, durationMs, durationMs), rssBytes: 70 * MiB };
      return { ...wl("range-all", r), op: "range-all", clients: 1, conns: 1, rangeAll: d };
    };
    const r = report([server("etcd", [ra(2000, 335)]), server("etcd-ts", [ra(1000, 167.5)])]);
    expect(r.ratios[0]).toMatchObject({ throughput: 2, p50: 0.5, rangeAllDuration: 0.5, rangeAllExtraMemory: 0.5 });
    expect(r.ratios[0]).not.toHaveProperty("snapshotThroughput");
    const text = formatReport(r);
    expect(text).toMatch(/^range-all\s+1\s+etcd\s+42\.0\s+2000\s+2000\s+0 /m);
    expect(text).toMatch(/^\s+etcd-ts\s+84\.0\s+1000\s+1000\s/m);
    expect(text).toContain(
      "range-all etcd: 84.0 MiB (88080384 B, 81920 kvs) in 2.00 s, 42.0 MiB/s; server extra memory +335.0 MiB at the peak " +
        "(peak 385.0 MiB); rss 50.0 MiB before, 70.0 MiB after; before it: 81920 keys of 1024 B written in 9.0 s",
    );
    expect(text).toContain("range-all etcd-ts: 84.0 MiB (88080384 B, 81920 kvs) in 1.00 s, 84.0 MiB/s; server extra memory +167.5 MiB");
    expect(text).toContain("range-all etcd-ts/etcd: duration 0.50x (>1x slower), extra memory while serving it 0.50x (>1x more)");
    expect(text).toContain("range-all: one linearizable KV.Range over every key of a prefix filled before");
    expect(rangeAllRatioLine("range-all", r.ratios[0]!)).toBe("range-all etcd-ts/etcd: duration 0.50x (>1x slower), extra memory while serving it 0.50x (>1x more)");
    // an unknown extra on either side leaves its ratio unknown
    const unknown = report([server("etcd", [ra(2000, 335)]), server("etcd-ts", [ra(1000, null)])]);
    expect(unknown.ratios[0]).toMatchObject({ rangeAllDuration: 0.5, rangeAllExtraMemory: null });
    expect(formatReport(unknown)).toContain("range-all etcd-ts/etcd: duration 0.50x (>1x slower), extra memory while serving it - (>1x more)");
    expect(formatReport(unknown)).toContain("range-all etcd-ts: 84.0 MiB (88080384 B, 81920 kvs) in 1.00 s, 84.0 MiB/s; server extra memory unknown (peak RSS could not be reset");
    expect(formatReport(report([server("etcd", [wl("put-1", run(1, 1, 1))])]))).not.toContain("KV.Range over every key");
    expect(computeRatios([server("etcd", [wl("put-1", run(1, 1, 1))]), server("x", [wl("put-1", run(1, 1, 1))])])[0]).not.toHaveProperty("rangeAllDuration");
  });

  it("alignColumns pads left or right per column", () => {
    expect(alignColumns([["a", "1"], ["bbb", "22"]], new Set([1]))).toBe("a     1\nbbb  22");
  });
});

describe("cpu s/1k and rss", () => {
  /** cost is a run with cpuPer1k server CPU seconds per 1,000 requests and rssMB MB of RSS. */
  function cost(throughput: number, cpuPer1k: number, rssMB?: number): WorkloadRun {
    const r: WorkloadRun = { ...run(throughput, 1, 2), serverCpuCores: (cpuPer1k * throughput) / 1000, serverCpuSecondsPer1k: cpuPer1k };
    if (rssMB !== undefined) r.rssBytes = rssMB * 1e6;
    return r;
  }

  it("are compared in the ratio rows; rss only when both sides have it", () => {
    const etcd = server("etcd", [wl("put-100", cost(20000, 0.04, 50)), wl("put-1", cost(2000, 0.2, 40))]);
    const ts = server("etcd-ts", [wl("put-100", cost(10000, 0.1, 200)), wl("put-1", cost(1000, 0.5))]);
    const ratios = computeRatios([etcd, ts]);
    expect(ratios[0]).toMatchObject({ workload: "put-100", serverCpuPer1k: 2.5, rss: 4 });
    expect(ratios[1]).toMatchObject({ workload: "put-1", serverCpuPer1k: 2.5, rss: null });
  });

  it("are columns next to srv cpu and at the end, with a legend; the ratio row fills them", () => {
    const etcd = server("etcd", [wl("put-100", cost(20000, 0.04, 50.4))]);
    const ts = server("etcd-ts", [wl("put-100", cost(10000, 0.1, 201.6))]);
    ts.workloads[0]!.rounds = [cost(10000, 0.1, 201.6)];
    const text = formatReport(report([etcd, ts]));
    const lines = text.split("\n");
    expect(lines.find((l) => l.startsWith("workload"))?.split(/\s{2,}/)).toEqual([
      "workload",
      "conns",
      "server",
      "ops/s",
      "p50 ms",
      "p99 ms",
      "errors",
      "srv cpu",
      "cpu s/1k",
      "gen cpu",
      "other cpu",
      "rss MB",
    ]);
    expect(lines.find((l) => l.startsWith("put-100"))?.split(/\s+/)).toEqual(["put-100", "10", "etcd", "20000", "1.00", "2.00", "0", "0.80", "0.040", "0.25", "0.00", "50"]);
    expect(lines.find((l) => /^\s+etcd-ts\s/.test(l))?.trim().split(/\s+/)).toEqual(["etcd-ts", "10000", "1.00", "2.00", "0", "1.00", "0.100", "0.25", "0.00", "202"]);
    const ratio = lines.find((l) => l.includes("etcd-ts/etcd"))!;
    expect(ratio.trim().split(/\s+/)).toEqual(["etcd-ts/etcd", "0.50x", "1.00x", "1.00x", "2.50x", "4.00x"]);
    // The CPU ratio sits under cpu s/1k, the RSS ratio under rss MB.
    const header = lines.find((l) => l.startsWith("workload"))!;
    expect(ratio.indexOf("2.50x") + "2.50x".length).toBe(header.indexOf("cpu s/1k") + "cpu s/1k".length);
    expect(ratio.length).toBe(header.length);
    expect(text).toContain("cpu s/1k: server CPU seconds per 1,000 of the operations ops/s counts");
    expect(text).toContain("watch: per 1,000 events received");
    expect(text).toContain("rss MB: the server's resident set size (VmRSS, summed over its members) right after the measured window");
    expect(text).toContain("more CPU per operation (cpu s/1k: lower is better) and more memory (rss)");
    const json = JSON.parse(JSON.stringify(report([etcd, ts]))) as BenchReport;
    expect(json.servers[1]!.workloads[0]!.rounds[0]).toMatchObject({ serverCpuSecondsPer1k: 0.1, rssBytes: 201.6e6 });
    expect(json.ratios[0]).toMatchObject({ serverCpuPer1k: 2.5, rss: 4 });
  });

  it("prints - for an RSS that could not be read, and the RSS after the bench per server", () => {
    expect(fmtMB(undefined)).toBe("-");
    expect(fmtMB(183_456 * 1024)).toBe("188");
    const etcd = server("etcd", [wl("put-1", cost(1000, 0.2))]);
    const ts = server("etcd-ts", [wl("put-1", cost(1000, 0.2))]);
    expect(rssAfterLine([etcd, ts])).toBe("");
    etcd.rssAfterBytes = 40e6;
    ts.rssAfterBytes = 160e6;
    const tsAuth = { ...server("etcd-ts+auth", []), rssAfterBytes: 170e6 };
    expect(rssAfterLine([etcd, ts, tsAuth])).toBe("rss after the bench (VmRSS, all members): etcd 40 MB, etcd-ts 160 MB, etcd-ts+auth 170 MB; etcd-ts/etcd 4.00x");
    const lines = formatReport(report([etcd, ts])).split("\n");
    expect(lines).toContain("rss after the bench (VmRSS, all members): etcd 40 MB, etcd-ts 160 MB; etcd-ts/etcd 4.00x");
    expect(lines.find((l) => l.startsWith("put-1"))?.split(/\s+/).at(-1)).toBe("-");
  });
});

describe("profile summary", () => {
  const profile: MemberProfile = {
    member: "default",
    file: "bench/results/profiles/etcd-ts-default.cpuprofile",
    error: undefined,
    summary: {
      durationMs: 12_345,
      sampledMs: 12_000,
      samples: 11_800,
      garbageCollector: { selfMs: 600, percent: 5, samples: 590 },
      idle: { selfMs: 6000, percent: 50, samples: 5900 },
      program: { selfMs: 1200, percent: 10, samples: 1180 },
      top: [
        { name: "writev", location: "", selfMs: 900, percent: 7.5, busyPercent: 15, samples: 885 },
        { name: "MvccStore.put", location: "packages/mvcc/src/store.ts:120", selfMs: 450, percent: 3.75, busyPercent: 7.5, samples: 440 },
        { name: `x${"y".repeat(60)}`, location: "a.ts:1", selfMs: 12, percent: 0.1, busyPercent: 0.2, samples: 12 },
      ],
    },
  };

  it("lists a member's totals and top functions", () => {
    expect(profileLines("etcd-ts", profile)).toEqual([
      "etcd-ts default: 11800 samples over 12.3 s (bench/results/profiles/etcd-ts-default.cpuprofile); (garbage collector) 5.0%, (idle) 50.0%, (program) 10.0%",
      "  self %  busy %  self ms  function                                          file:line",
      "    7.5%   15.0%      900  writev                                            (native)",
      "    3.8%    7.5%      450  MvccStore.put                                     packages/mvcc/src/store.ts:120",
      `    0.1%    0.2%       12  x${"y".repeat(44)}...  a.ts:1`,
    ]);
    expect(profileLines("etcd-ts", { member: "infra2", file: undefined, summary: undefined, error: "no .cpuprofile in /tmp/p within 5000 ms" })).toEqual([
      "etcd-ts infra2: no profile (no .cpuprofile in /tmp/p within 5000 ms)",
    ]);
  });

  it("follows the notes, says what it covers and that the ratios are not comparable, and is kept in the JSON", () => {
    const etcd = server("etcd", [wl("put-100", run(10000, 5, 20))]);
    const ts = { ...server("etcd-ts", [wl("put-100", run(5000, 10, 30))]), profile: [profile] };
    const r = report([etcd, ts]);
    r.settings.profile = true;
    const lines = formatReport(r).split("\n");
    expect(lines).toContain(
      "profile: etcd-ts ran under node --cpu-prof (--profile), which slows it: the ratios of this run are not comparable with an unprofiled run; the profile summary follows the table",
    );
    const at = lines.findIndex((l) => l.startsWith("CPU profile (--profile: node --cpu-prof over the whole run, not per workload"));
    expect(at).toBeGreaterThan(lines.findIndex((l) => l.includes("etcd-ts/etcd")));
    expect(lines[at]).toContain("The profiler slows etcd-ts: the ratios of this run are not comparable with an unprofiled run.");
    expect(lines[at + 1]).toMatch(/^etcd-ts default: 11800 samples/);
    expect((JSON.parse(JSON.stringify(r)) as BenchReport).servers[1]!.profile).toEqual([
      { member: "default", file: "bench/results/profiles/etcd-ts-default.cpuprofile", summary: profile.summary },
    ]);
    const plain = formatReport(report([etcd, server("etcd-ts", [wl("put-100", run(5000, 10, 30))])]));
    expect(plain).not.toContain("cpu-prof");
  });
});
