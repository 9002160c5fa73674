import { existsSync } from "node:fs";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { openConnection, UNLIMITED_RECEIVE, waitReady } from "./grpc-caller.js";
import {
  memoryAfter,
  memoryBefore,
  rangeAllCall,
  rangeAllCallTimeoutMs,
  rangeAllKeys,
  rangeAllMemoryText,
  rangeAllNote,
  rangeAllPrepBudgetMs,
  rangeAllProblem,
  rangeAllRun,
  runRangeAllWorkload,
  scanRangeResponse,
  sumOver,
  type ProcMemory,
  type RangeAllDetail,
} from "./range_all.js";
import { encodePrefixRange, RANGE_ALL_PREFIX } from "./requests.js";
import { MIB } from "./snapshot.js";
import { ToyEtcd } from "./testing/toy-etcd.js";

/** kv encodes one KeyValue field (2) of a RangeResponse by hand: key, value, mod_revision. */
function kvField(key: string, value: string): number[] {
  const kv = [0x0a, key.length, ...Buffer.from(key), 0x18, 0x05, 0x2a, value.length, ...Buffer.from(value)];
  return [0x12, kv.length, ...kv];
}

describe("scanRangeResponse and rangeAllProblem", () => {
  it("counts the kvs and reads count and more from hand-encoded wire bytes, skipping the header", () => {
    const header = [0x0a, 0x04, 0x08, 0x01, 0x18, 0x07]; // cluster_id 1, revision 7
    const msg = Buffer.from([...header, ...kvField("r01", "aa"), ...kvField("r02", "bbb"), ...kvField("r03", ""), 0x20, 0x03]);
    expect(scanRangeResponse(msg)).toEqual({ kvs: 3, count: 3, more: false });
    expect(rangeAllProblem(scanRangeResponse(msg), 3)).toBeUndefined();
    // more (field 3) set, a count of 300 (a two-byte varint), no kvs
    expect(scanRangeResponse(Buffer.from([0x18, 0x01, 0x20, 0xac, 0x02]))).toEqual({ kvs: 0, count: 300, more: true });
    expect(scanRangeResponse(Buffer.alloc(0))).toEqual({ kvs: 0, count: 0, more: false });
  });

  it("agrees with the proto encoder", () => {
    const kvs = Array.from({ length: 200 }, (_, i) => ({
      key: Buffer.from(`r${i}`),
      createRevision: 2n,
      modRevision: 3n,
      version: 1n,
      value: Buffer.alloc(1000, 1),
      lease: 0n,
    }));
    const header = { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n };
    const msg = etcdserverpb.RangeResponse.encode({ header, kvs, more: false, count: 200n }).finish();
    expect(scanRangeResponse(msg)).toEqual({ kvs: 200, count: 200, more: false });
  });

  it("reports a count or a kv total that is not the keys filled, and a set more", () => {
    expect(rangeAllProblem({ kvs: 3, count: 3, more: false }, 4)).toBe("the response holds 3 kvs, not the 4 keys filled");
    expect(rangeAllProblem({ kvs: 4, count: 5, more: false }, 4)).toBe("its count is 5, not the 4 keys filled");
    // A hand-encoded response with 2 kvs but a count of 3: scanned, then refused.
    const lying = Buffer.from([...kvField("r1", "x"), ...kvField("r2", "y"), 0x20, 0x03]);
    expect(rangeAllProblem(scanRangeResponse(lying), 2)).toBe("its count is 3, not the 2 keys filled");
    expect(rangeAllProblem({ kvs: 4, count: 4, more: true }, 4)).toMatch(/more = true/);
  });

  it("throws on a malformed message", () => {
    expect(() => scanRangeResponse(Buffer.from([0x12, 0x05, 0x01]))).toThrow(/pb: truncated/);
  });
});

/** standIn is a ProcMemory over fixed figures (bytes) per pid; a pid in `noReset` cannot be reset. */
function standIn(rss: Record<number, number[]>, peak: Record<number, number>, noReset: number[] = []): ProcMemory & { resets: number[] } {
  const reads = new Map<number, number>();
  const resets: number[] = [];
  return {
    resets,
    resetPeak: (pid) => {
      resets.push(pid);
      return !noReset.includes(pid);
    },
    // the first read of a pid is before the call, the second after it
    rss: (pid) => {
      const n = reads.get(pid) ?? 0;
      reads.set(pid, n + 1);
      return rss[pid]?.[n];
    },
    peak: (pid) => peak[pid],
  };
}

describe("server memory around the call", () => {
  it("extra is the summed peak minus the summed RSS before; the RSS after is reported too", () => {
    const io = standIn({ 10: [100 * MIB, 150 * MIB], 11: [50 * MIB, 60 * MIB] }, { 10: 400 * MIB, 11: 70 * MIB });
    const before = memoryBefore([10, 11], io);
    expect(io.resets).toEqual([10, 11]);
    expect(before).toEqual({ pids: [10, 11], peakReset: true, rssBytes: 150 * MIB });
    expect(memoryAfter(before, io)).toEqual({
      peakReset: true,
      rssBeforeBytes: 150 * MIB,
      peakBytes: 470 * MIB,
      rssAfterBytes: 210 * MIB,
      extraBytes: 320 * MIB,
    });
  });

  it("leaves peak and extra unknown when a peak could not be reset, or a figure is unreadable, or there is no process", () => {
    const io = standIn({ 10: [100, 150], 11: [50, 60] }, { 10: 400, 11: 70 }, [11]);
    const before = memoryBefore([10, 11], io);
    expect(io.resets).toEqual([10, 11]); // tries every process even after one fails
    expect(memoryAfter(before, io)).toEqual({ peakReset: false, rssBeforeBytes: 150, peakBytes: null, rssAfterBytes: 210, extraBytes: null });
    const gone = standIn({ 10: [100, 150] }, { 10: 400 });
    expect(memoryAfter(memoryBefore([10, 11], gone), gone)).toMatchObject({ peakReset: true, rssBeforeBytes: null, extraBytes: null });
    expect(memoryBefore([], standIn({}, {}))).toEqual({ pids: [], peakReset: false, rssBytes: null });
    expect(sumOver([1, 2], (p) => p * 10)).toBe(30);
    expect(sumOver([], () => 1)).toBeNull();
  });
});

describe("range-all sizes, run and note", () => {
  it("rangeAllKeys writes megabytes/valueSize distinct keys; budgets grow with the size", () => {
    expect(rangeAllKeys(80, 1024)).toBe(81920);
    expect(rangeAllKeys(1, 4 * MIB)).toBe(1);
    expect(rangeAllPrepBudgetMs(80)).toBe(120_000);
    expect(rangeAllCallTimeoutMs(80)).toBe(100_000);
    expect(rangeAllCallTimeoutMs(1024)).toBeGreaterThan(rangeAllCallTimeoutMs(80));
  });

  it("rangeAllRun reports MiB/s as the throughput, the call's duration as its latency and the RSS after as rssBytes", () => {
    const prep = { keys: 81920, valueSize: 1024, fillMs: 9000 };
    const call = { durationMs: 2000, bytes: 84 * MIB, kvs: 81920, count: 81920 };
    const memory = { peakReset: true, rssBeforeBytes: 100 * MIB, peakBytes: 435 * MIB, rssAfterBytes: 200 * MIB, extraBytes: 335 * MIB };
    const r = rangeAllRun(prep, call, memory, { server: 0.5, generator: 0.25, other: 0 });
    expect(r).toMatchObject({ requests: 1, errors: 0, seconds: 2, throughput: 42, p50Ms: 2000, p99Ms: 2000, maxMs: 2000, rssBytes: 200 * MIB });
    expect(r.rangeAll).toEqual({ ...prep, ...call, ...memory, mibPerSec: 42 });
    // 0.5 cores for 2 s is 1 CPU second for 84 MiB: 11.9 s per 1,000 MiB.
    expect(r.serverCpuSecondsPer1k).toBeCloseTo(1000 / 84, 9);
    const unknown = rangeAllRun(prep, call, { ...memory, rssAfterBytes: null }, { server: 0, generator: 0, other: 0 });
    expect(unknown).not.toHaveProperty("rssBytes");
  });

  it("rangeAllNote gives bytes, kvs, duration, MiB/s, the servers' extra memory and RSS, and the fill", () => {
    const d: RangeAllDetail = {
      keys: 81920,
      valueSize: 1024,
      fillMs: 9210,
      durationMs: 1234.5,
      bytes: 88_473_600,
      kvs: 81920,
      count: 81920,
      mibPerSec: 68.3,
      peakReset: true,
      rssBeforeBytes: 60 * MIB,
      peakBytes: 395 * MIB,
      rssAfterBytes: 120.5 * MIB,
      extraBytes: 335 * MIB,
    };
    expect(rangeAllNote("range-all", "etcd", d)).toBe(
      "range-all etcd: 84.4 MiB (88473600 B, 81920 kvs) in 1.23 s, 68.3 MiB/s; server extra memory +335.0 MiB at the peak " +
        "(peak 395.0 MiB); rss 60.0 MiB before, 120.5 MiB after; before it: 81920 keys of 1024 B written in 9.2 s",
    );
    expect(rangeAllMemoryText({ ...d, peakReset: false, peakBytes: null, extraBytes: null })).toBe(
      "server extra memory unknown (peak RSS could not be reset through /proc/<pid>/clear_refs); rss 60.0 MiB before, 120.5 MiB after",
    );
    expect(rangeAllMemoryText({ ...d, rssBeforeBytes: null, extraBytes: null })).toMatch(/^server extra memory unknown \(RSS or peak RSS unreadable\); rss unknown before/);
    expect(rangeAllMemoryText({ ...d, extraBytes: -2 * MIB })).toMatch(/^server extra memory -2\.0 MiB at the peak/);
  });
});

describe("rangeAllCall against a toy server", () => {
  const toys: ToyEtcd[] = [];
  afterEach(() => {
    for (const t of toys.splice(0)) t.stop();
  });

  async function toyWith(shape: ToyEtcd["rangeAll"]): Promise<ToyEtcd> {
    const toy = new ToyEtcd();
    toy.rangeAll = shape;
    await toy.start();
    toys.push(toy);
    return toy;
  }

  async function call(toy: ToyEtcd, expected: number, receive: number, token?: string) {
    const c = openConnection(`127.0.0.1:${toy.port}`, receive);
    try {
      await waitReady(c, 5000);
      return await rangeAllCall(c, RANGE_ALL_PREFIX, expected, 10_000, token);
    } finally {
      c.close();
    }
  }

  it("sends one linearizable Range over the whole prefix with the token, and counts the kvs", async () => {
    const toy = await toyWith({ kvs: 500, valueSize: 1024 });
    const r = await call(toy, 500, UNLIMITED_RECEIVE, "tok");
    expect(r).toMatchObject({ kvs: 500, count: 500 });
    expect(r.bytes).toBeGreaterThan(500 * 1024);
    expect(r.durationMs).toBeGreaterThan(0);
    expect(toy.calls).toEqual([{ method: "Range", token: "tok" }]);
    const req = toy.ranges[0]!;
    expect(Buffer.from(req.key).toString()).toBe("r");
    expect(Buffer.from(req.rangeEnd).toString()).toBe("s");
    expect([req.serializable, req.limit, req.revision, req.keysOnly, req.countOnly]).toEqual([false, 0n, 0n, false, false]);
    expect(Buffer.from(encodePrefixRange(RANGE_ALL_PREFIX))).toEqual(Buffer.from([0x0a, 0x01, 0x72, 0x12, 0x01, 0x73]));
  });

  it("fails when the response is not the keys filled: fewer kvs, or a count that disagrees", async () => {
    await expect(call(await toyWith({ kvs: 3, valueSize: 10 }), 4, UNLIMITED_RECEIVE)).rejects.toThrow(
      'bench: Range over prefix "r": the response holds 3 kvs, not the 4 keys filled',
    );
    await expect(call(await toyWith({ kvs: 4, valueSize: 10, count: 5 }), 4, UNLIMITED_RECEIVE)).rejects.toThrow(
      'bench: Range over prefix "r": its count is 5, not the 4 keys filled',
    );
  });

  it("reads a response over the 64 MiB a default connection accepts", async () => {
    const toy = await toyWith({ kvs: 1, valueSize: 65 * MIB });
    await expect(call(toy, 1, 64 * MIB)).rejects.toThrow(/^bench: Range over prefix "r" failed: 8 RESOURCE_EXHAUSTED/);
    const r = await call(toy, 1, UNLIMITED_RECEIVE);
    expect(r.bytes).toBeGreaterThan(65 * MIB);
  }, 30_000);

  it("runRangeAllWorkload measures the call and the memory of the server processes (the toy is this process)", async () => {
    const toy = await toyWith({ kvs: 2000, valueSize: 1024 });
    const spec = {
      endpoint: `127.0.0.1:${toy.port}`,
      prep: { keys: 2000, valueSize: 1024, fillMs: 5 },
      requestTimeoutMs: 5000,
      callTimeoutMs: 10_000,
      token: undefined,
      serverCpuSeconds: () => 0,
      serverPids: () => [process.pid],
    };
    const fixed = standIn({ [process.pid]: [10 * MIB, 30 * MIB] }, { [process.pid]: 50 * MIB });
    const r = await runRangeAllWorkload({ ...spec, memory: fixed });
    expect(r.rangeAll).toMatchObject({ keys: 2000, kvs: 2000, count: 2000, rssBeforeBytes: 10 * MIB, extraBytes: 40 * MIB, rssAfterBytes: 30 * MIB });
    expect(r.throughput).toBeCloseTo(r.rangeAll!.mibPerSec, 9);
    expect(r.p50Ms).toBe(r.rangeAll!.durationMs);
    if (existsSync("/proc/self/clear_refs")) {
      const real = (await runRangeAllWorkload(spec)).rangeAll!;
      expect(real.peakReset).toBe(true);
      expect(real.rssBeforeBytes).toBeGreaterThan(1e6);
      expect(real.peakBytes!).toBeGreaterThanOrEqual(real.rssBeforeBytes!);
      expect(real.extraBytes).toBe(real.peakBytes! - real.rssBeforeBytes!);
    }
    await expect(runRangeAllWorkload({ ...spec, prep: { ...spec.prep, keys: 2001 } })).rejects.toThrow(/holds 2000 kvs, not the 2001 keys filled/);
  });

  it("runRangeAllWorkload takes a response over 64 MiB (its connection has no receive limit)", async () => {
    const toy = await toyWith({ kvs: 1, valueSize: 65 * MIB });
    const r = await runRangeAllWorkload({
      endpoint: `127.0.0.1:${toy.port}`,
      prep: { keys: 1, valueSize: 65 * MIB, fillMs: 5 },
      requestTimeoutMs: 5000,
      callTimeoutMs: 20_000,
      token: undefined,
      serverCpuSeconds: () => 0,
      serverPids: () => [],
    });
    expect(r.rangeAll!.bytes).toBeGreaterThan(65 * MIB);
    expect(r.rangeAll).toMatchObject({ peakReset: false, extraBytes: null }); // no process: unknown
  }, 30_000);
});
