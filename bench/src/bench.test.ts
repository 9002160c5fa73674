import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseArgs, type BenchOptions } from "./args.js";
import {
  defaultEtcdTsCmd,
  describeLoad,
  describeRun,
  medianRun,
  planSeconds,
  PROFILE_DIR,
  REPO_ROOT,
  runBench,
  serverEntries,
  serverSpecs,
  type BenchDeps,
  type Cluster,
} from "./bench.js";
import type { RunSpec, WorkloadRun } from "./generator.js";
import { openConnection, unaryOnce, waitReady } from "./grpc-caller.js";
import { LEASE_REVOKE_BUDGET_MS } from "./lease-put.js";
import { PROFILE_WAIT_MS } from "./profile.js";
import { encodeRequests, PUT_PATH } from "./requests.js";
import { startCluster } from "./servers.js";
import { rangeAllCallTimeoutMs, rangeAllPrepBudgetMs } from "./range_all.js";
import { snapshotCallTimeoutMs, snapshotPrepBudgetMs } from "./snapshot.js";
import { ToyEtcd } from "./testing/toy-etcd.js";
import { parseWorkload } from "./workload.js";

function run(throughput: number): WorkloadRun {
  return {
    requests: 1,
    errors: 0,
    firstError: undefined,
    seconds: 1,
    throughput,
    p50Ms: throughput,
    p99Ms: 0,
    meanMs: 0,
    maxMs: 0,
    serverCpuCores: 0,
    serverCpuSecondsPer1k: 0,
    generatorCpuCores: 0,
    otherCpuCores: 0,
    hitMaxRequests: false,
  };
}

describe("serverSpecs", () => {
  it("labels repeats and uses the configured commands", () => {
    expect(serverSpecs(parseArgs(["--servers", "etcd,etcd-ts,etcd"]).servers, "/usr/bin/etcd", ["node", "x.js"])).toEqual([
      { label: "etcd", kind: "etcd", auth: false, argv: ["/usr/bin/etcd"] },
      { label: "etcd-ts", kind: "etcd-ts", auth: false, argv: ["node", "x.js"] },
      { label: "etcd#2", kind: "etcd", auth: false, argv: ["/usr/bin/etcd"] },
    ]);
  });

  it("labels +auth entries and numbers repeats per label", () => {
    const entries = parseArgs(["--servers", "etcd,etcd+auth,etcd-ts,etcd-ts+auth,etcd+auth,etcd,etcd-ts+auth"]).servers;
    const specs = serverSpecs(entries, "/usr/bin/etcd", ["node", "x.js"]);
    expect(specs.map((s) => [s.label, s.kind, s.auth])).toEqual([
      ["etcd", "etcd", false],
      ["etcd+auth", "etcd", true],
      ["etcd-ts", "etcd-ts", false],
      ["etcd-ts+auth", "etcd-ts", true],
      ["etcd+auth#2", "etcd", true],
      ["etcd#2", "etcd", false],
      ["etcd-ts+auth#2", "etcd-ts", true],
    ]);
    expect(specs[3]!.argv).toEqual(["node", "x.js"]);
  });

  it("serverEntries applies --auth to every entry, even to options not built by parseArgs", () => {
    const o = parseArgs(["--servers", "etcd,etcd-ts+auth"]);
    expect(serverEntries(o)).toEqual([
      { kind: "etcd", auth: false },
      { kind: "etcd-ts", auth: true },
    ]);
    expect(serverEntries({ ...o, auth: true })).toEqual([
      { kind: "etcd", auth: true },
      { kind: "etcd-ts", auth: true },
    ]);
  });

  it("starts etcd-ts from the repo's apps/server/bin by default", () => {
    expect(defaultEtcdTsCmd()).toEqual([process.execPath, `${REPO_ROOT}apps/server/bin/etcd-ts.js`]);
  });
});

describe("medianRun", () => {
  it("picks the median throughput (lower middle for an even count)", () => {
    expect(medianRun([run(5), run(1), run(3)]).throughput).toBe(3);
    expect(medianRun([run(4), run(1), run(3), run(2)]).throughput).toBe(2);
    expect(medianRun([run(7)]).throughput).toBe(7);
    expect(() => medianRun([])).toThrow(/no rounds/);
  });
});

describe("planSeconds", () => {
  it("grows with servers, workloads and rounds and covers the measured time", () => {
    const base = parseArgs([]);
    const measured = base.servers.length * base.workloads.length * (base.duration + base.warmup);
    expect(planSeconds(base)).toBeGreaterThan(measured);
    expect(planSeconds(parseArgs(["--rounds", "3"]))).toBeGreaterThan(planSeconds(base));
    expect(planSeconds(parseArgs(["--servers", "etcd"]))).toBeLessThan(planSeconds(base));
    expect(planSeconds(parseArgs(["--auth"]))).toBeGreaterThan(planSeconds(base));
  });

  it("counts auth time for the +auth servers only", () => {
    const plain = planSeconds(parseArgs(["--servers", "etcd,etcd-ts"]));
    const one = planSeconds(parseArgs(["--servers", "etcd,etcd-ts+auth"]));
    const all = planSeconds(parseArgs(["--servers", "etcd,etcd-ts", "--auth"]));
    expect(one).toBeGreaterThan(plain);
    expect(all).toBeGreaterThan(one);
    expect(all - plain).toBeCloseTo(2 * (one - plain), 6);
    expect(planSeconds(parseArgs(["--servers", "etcd+auth,etcd-ts+auth"]))).toBe(all);
    // Four servers, two with auth: twice the plain pair plus the auth of two servers.
    const four = planSeconds(parseArgs(["--servers", "etcd,etcd+auth,etcd-ts,etcd-ts+auth"]));
    expect(four).toBeCloseTo(plain + all, 6);
    // The auth share grows with the rounds (a fresh token per workload and round).
    const r3 = (servers: string) => planSeconds(parseArgs(["--servers", servers, "--rounds", "3"]));
    expect(r3("etcd+auth") - r3("etcd")).toBeGreaterThan(one - plain);
  });

  it("leaves lease-put time to revoke its leases and watch time to catch up", () => {
    const put = planSeconds(parseArgs(["--workloads", "put-100"]));
    expect(planSeconds(parseArgs(["--workloads", "lease-put-100"]))).toBe(put + (2 * LEASE_REVOKE_BUDGET_MS) / 1000);
    expect(planSeconds(parseArgs(["--workloads", "watch-100"]))).toBeGreaterThan(put);
  });

  it("leaves a snapshot workload its fill budget and call deadline, growing with --snapshot-mb", () => {
    const put = planSeconds(parseArgs(["--workloads", "put-1"]));
    const small = planSeconds(parseArgs(["--workloads", "snapshot", "--snapshot-mb", "32"]));
    const big = planSeconds(parseArgs(["--workloads", "snapshot"]));
    expect(small - put).toBeCloseTo((2 * (snapshotPrepBudgetMs(32) + snapshotCallTimeoutMs(32))) / 1000, 6);
    expect(big).toBeGreaterThan(small);
  });

  it("leaves a range-all workload its fill budget and call deadline, growing with --range-all-mb", () => {
    const put = planSeconds(parseArgs(["--workloads", "put-1"]));
    const small = planSeconds(parseArgs(["--workloads", "range-all", "--range-all-mb", "8"]));
    const big = planSeconds(parseArgs(["--workloads", "range-all"]));
    expect(small - put).toBeCloseTo((2 * (rangeAllPrepBudgetMs(8) + rangeAllCallTimeoutMs(8))) / 1000, 6);
    expect(big).toBeGreaterThan(small);
  });
});

describe("progress lines", () => {
  it("say how the load is made and what the run found", () => {
    expect(describeLoad(parseWorkload("watch-100", 10))).toBe("100 watchers on 10 streams, 10 put clients on 10 conns");
    expect(describeLoad(parseWorkload("lease-put-100", 10))).toBe("100 clients, 10 conns");
    const w = {
      ...run(1000),
      watch: {
        watchers: 100,
        streams: 10,
        writers: 10,
        puts: 20,
        putErrors: 0,
        putThroughput: 10,
        putP50Ms: 1,
        putP99Ms: 2,
        expectedEvents: 2000,
        deliveredEvents: 1999,
        lostEvents: 1,
        duplicatedEvents: 0,
        unexpectedEvents: 0,
        drainMs: 3,
        failure: undefined,
      },
      errors: 1,
      firstError: "1 lost",
    };
    const line = describeRun(parseWorkload("watch-100", 10), w);
    expect(line).toMatch(/^1000 events\/s/);
    expect(line).toContain("1999/2000 events delivered, 1 lost, 0 duplicated");
    expect(line).toContain("1 errors (1 lost)");
    const l = describeRun(parseWorkload("lease-put-100", 10), { ...run(500), lease: { granted: 10, revoked: 10, revokeErrors: 0, revokeMs: 1500 } });
    expect(l).toMatch(/^500 ops\/s.*10 leases granted, 10 revoked after the run in 1\.5 s/);
  });

  it("say what a range-all run read and the servers' memory", () => {
    expect(describeLoad(parseWorkload("range-all", 10))).toBe("one linearizable KV.Range over the whole prefix");
    const MiB = 1024 * 1024;
    const rangeAll = {
      keys: 1024,
      valueSize: 1024,
      fillMs: 10,
      durationMs: 250,
      bytes: 1100000,
      kvs: 1024,
      count: 1024,
      mibPerSec: 4.2,
      peakReset: true,
      rssBeforeBytes: 10 * MiB,
      peakBytes: 14 * MiB,
      rssAfterBytes: 12 * MiB,
      extraBytes: 4 * MiB,
    };
    expect(describeRun(parseWorkload("range-all", 10), { ...run(4.2), rangeAll })).toBe(
      "4.2 MiB/s: 1100000 bytes, 1024 kvs in 0.25 s; server extra memory +4.0 MiB at the peak (peak 14.0 MiB); rss 10.0 MiB before, 12.0 MiB after",
    );
  });
});

/** putWith sends one Put to endpoint (grpc-js), with token if given; resolves "ok" or the error's message. */
async function putWith(endpoint: string, token: string | undefined): Promise<string> {
  const c = openConnection(endpoint);
  try {
    await waitReady(c, 5000);
    await unaryOnce(c, PUT_PATH, encodeRequests("put", { keySpace: 1, keySize: 8, valueSize: 8 })[0]!, 5000, token);
    return "ok";
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    c.close();
  }
}

/** WorkloadCall is what a stand-in runWorkload saw: whose endpoint, which token, and how Puts fared. */
interface WorkloadCall {
  label: string;
  workload: string;
  token: string | undefined;
  /** withToken and bare are how a Put with the run's token and one without any fared ("ok" or the error). */
  withToken: string;
  bare: string;
}

/** quickOptions are options for a runBench with stand-ins: no warm-up, short timeouts. */
function quickOptions(argv: string[]): BenchOptions {
  return parseArgs([...argv, "--duration", "0.1", "--warmup", "0", "--start-timeout", "20", "--request-timeout", "5"]);
}

/**
 * standInWorkload is a runWorkload that sends no load: it records the run's token and how
 * a Put with and without it fares, and reports the throughput `throughput` gives for the
 * server and round.
 */
function standInWorkload(labelOf: (endpoint: string) => string, calls: WorkloadCall[], throughput: (label: string, n: number) => number) {
  return async (spec: RunSpec): Promise<WorkloadRun> => {
    const ep = spec.endpoints[0]!;
    const label = labelOf(ep);
    const n = calls.filter((c) => c.label === label && c.workload === spec.workload.name).length;
    calls.push({ label, workload: spec.workload.name, token: spec.token, withToken: await putWith(ep, spec.token), bare: await putWith(ep, undefined) });
    return { ...run(throughput(label, n)), p50Ms: 1, p99Ms: 2 };
  };
}

describe("runBench with toy servers", () => {
  const toys = new Map<string, ToyEtcd>();

  afterEach(() => {
    for (const t of toys.values()) t.stop();
    toys.clear();
  });

  /** toyDeps start a ToyEtcd per server (by label) and run workloads with standInWorkload. */
  function toyDeps(calls: WorkloadCall[], throughput: (label: string, n: number) => number): BenchDeps {
    return {
      startCluster: async (spec): Promise<Cluster> => {
        const toy = new ToyEtcd();
        await toy.start();
        toys.set(spec.label, toy);
        return {
          endpoints: () => [`127.0.0.1:${toy.port}`],
          commandLine: () => `toy ${spec.label}`,
          exitedMember: () => undefined,
          cpuSeconds: () => 0,
          rssBytes: () => undefined,
          pids: () => [],
          version: async () => "toy",
          stop: async () => toy.stop(),
          collectCpuProfiles: async () => [],
        };
      },
      runWorkload: standInWorkload(
        (ep) => [...toys].find(([, t]) => ep === `127.0.0.1:${t.port}`)![0],
        calls,
        throughput,
      ),
    };
  }

  it("enables auth only on the +auth servers, sends their requests with a fresh token, and reports the auth cost", async () => {
    const o = quickOptions(["--servers", "etcd,etcd+auth,etcd-ts,etcd-ts+auth", "--workloads", "put-1,put-10", "--rounds", "3"]);
    const calls: WorkloadCall[] = [];
    // Round n of a workload: the median (round 1) is 1000 without auth; with auth 800 on etcd, 900 on etcd-ts.
    const base: Record<string, number> = { etcd: 1000, "etcd+auth": 800, "etcd-ts": 1000, "etcd-ts+auth": 900 };
    const lines: string[] = [];
    const r = await runBench(o, (l) => lines.push(l), toyDeps(calls, (label, n) => base[label]! * [0.5, 1, 3][n]!));

    const toy = (label: string): ToyEtcd => toys.get(label)!;
    expect([...toys.keys()]).toEqual(["etcd", "etcd+auth", "etcd-ts", "etcd-ts+auth"]);
    expect(toy("etcd").authEnabled).toBe(false);
    expect(toy("etcd-ts").authEnabled).toBe(false);
    expect(toy("etcd+auth").authEnabled).toBe(true);
    expect(toy("etcd-ts+auth").authEnabled).toBe(true);
    for (const label of ["etcd", "etcd-ts"]) {
      expect(toy(label).calls.filter((c) => c.method !== "Put" || c.token !== undefined)).toEqual([]);
      expect(toy(label).users.size).toBe(0);
    }
    for (const label of ["etcd+auth", "etcd-ts+auth"]) {
      // Set up once, then one Authenticate per workload and round.
      const methods = toy(label).calls.map((c) => c.method).filter((m) => m !== "Put" && m !== "Range");
      expect(methods).toEqual(["UserAdd", "UserGrantRole", "AuthEnable", ...Array<string>(1 + 6).fill("Authenticate")]);
    }

    // Interleaved: each round visits every server in turn.
    expect(calls.map((c) => c.label).slice(0, 8)).toEqual([
      ...["etcd", "etcd+auth", "etcd-ts", "etcd-ts+auth"],
      ...["etcd", "etcd+auth", "etcd-ts", "etcd-ts+auth"],
    ]);
    expect(calls).toHaveLength(2 * 3 * 4);
    for (const c of calls) {
      if (c.label.endsWith("+auth")) {
        expect(c.token).toBeDefined();
        expect(toy(c.label).tokens.has(c.token!)).toBe(true);
        expect(c.withToken).toBe("ok");
        expect(c.bare).toMatch(/user name is empty/);
      } else {
        expect(c.token).toBeUndefined();
        expect(c.bare).toBe("ok");
      }
    }
    const authTokens = calls.filter((c) => c.label === "etcd+auth").map((c) => c.token);
    expect(new Set(authTokens).size).toBe(6); // a fresh token per workload run

    expect(lines.filter((l) => l.includes("auth enabled"))).toEqual([
      "etcd+auth: auth enabled (user root with role root); every request carries its token",
      "etcd-ts+auth: auth enabled (user root with role root); every request carries its token",
    ]);
    expect(r.servers.map((s) => [s.label, s.kind, s.auth, s.available])).toEqual([
      ["etcd", "etcd", false, true],
      ["etcd+auth", "etcd", true, true],
      ["etcd-ts", "etcd-ts", false, true],
      ["etcd-ts+auth", "etcd-ts", true, true],
    ]);
    expect(r.settings.auth).toBe(false);
    expect(r.servers[1]!.workloads[0]).toMatchObject({ ok: true, throughput: 800 });
    expect(r.ratios.map((q) => `${q.workload} ${q.server}/${q.baseline} ${q.throughput}`)).toEqual([
      "put-1 etcd-ts/etcd 1",
      "put-10 etcd-ts/etcd 1",
      "put-1 etcd-ts+auth/etcd+auth 1.125",
      "put-10 etcd-ts+auth/etcd+auth 1.125",
    ]);
    expect(r.authCosts.map((c) => `${c.workload} ${c.kind} ${c.throughputLost?.toFixed(3)}`)).toEqual([
      "put-1 etcd 0.200",
      "put-1 etcd-ts 0.100",
      "put-10 etcd 0.200",
      "put-10 etcd-ts 0.100",
    ]);
  });

  it("runs the snapshot workload: fills each server once, then reads one whole Snapshot per round, with the token", async () => {
    const calls: WorkloadCall[] = [];
    const o = quickOptions(["--servers", "etcd,etcd-ts+auth", "--workloads", "snapshot", "--snapshot-mb", "1", "--rounds", "2"]);
    const lines: string[] = [];
    const r = await runBench(o, (l) => lines.push(l), {
      ...toyDeps(calls, () => 1),
      startCluster: async (spec, opts) => {
        const c = await toyDeps(calls, () => 1).startCluster(spec, opts);
        const toy = toys.get(spec.label)!;
        toy.snapshotSize = spec.kind === "etcd" ? 300_000 : 200_000;
        return c;
      },
    });
    expect(calls).toEqual([]); // no generator threads
    for (const [label, toy] of toys) {
      // 1 MiB of 1024-byte values, written once for both rounds.
      expect(toy.txnPuts).toBe(1024);
      const snaps = toy.calls.filter((c) => c.method === "Snapshot");
      expect(snaps).toHaveLength(2);
      if (label === "etcd-ts+auth") expect(snaps.every((c) => c.token !== undefined && toy.tokens.has(c.token))).toBe(true);
      else expect(snaps.every((c) => c.token === undefined)).toBe(true);
    }
    const [etcd, ts] = r.servers.map((s) => s.workloads[0]!);
    expect(etcd).toMatchObject({ workload: "snapshot", op: "snapshot", ok: true, requests: 1 });
    expect(etcd!.rounds).toHaveLength(2);
    expect(etcd!.snapshot).toMatchObject({ keys: 1024, valueSize: 1024, bytes: 300_032, snapshotBytes: 300_000, dbSize: 300_000 });
    expect(ts!.snapshot).toMatchObject({ bytes: 200_032 });
    expect(etcd!.throughput).toBeCloseTo(etcd!.snapshot!.mibPerSec, 9);
    expect(r.settings).toMatchObject({ snapshotMb: 1, snapshotValueSize: 1024 });
    expect(lines.filter((l) => l.includes("writing 1 MiB"))).toHaveLength(2);
    expect(lines.some((l) => /^etcd: snapshot round 2\/2: [\d.]+ MiB\/s: 300032 bytes in 11 messages/.test(l))).toBe(true);
  });

  it("runs the range-all workload: fills each server once, then one whole-prefix Range per round, with the token and the members' memory", async () => {
    const calls: WorkloadCall[] = [];
    const o = quickOptions(["--servers", "etcd,etcd-ts+auth", "--workloads", "range-all-1", "--range-all-mb", "1", "--rounds", "2"]);
    const lines: string[] = [];
    const r = await runBench(o, (l) => lines.push(l), {
      ...toyDeps(calls, () => 1),
      startCluster: async (spec, opts) => {
        const c = await toyDeps(calls, () => 1).startCluster(spec, opts);
        toys.get(spec.label)!.rangeAll = { kvs: 1024, valueSize: 1024 };
        // The toy serves from this process: its memory is this process's.
        return { ...c, pids: () => [process.pid] };
      },
    });
    expect(calls).toEqual([]); // no generator threads
    for (const [label, toy] of toys) {
      // 1 MiB of 1024-byte values, written once for both rounds.
      expect(toy.txnPuts).toBe(1024);
      const ranges = toy.calls.filter((c) => c.method === "Range"); // with auth, each round's token probe too
      const prefixRanges = toy.ranges.filter((q) => q.rangeEnd.length > 0);
      expect(prefixRanges.map((q) => Buffer.from(q.key).toString() + ".." + Buffer.from(q.rangeEnd).toString())).toEqual(["r..s", "r..s"]);
      if (label === "etcd-ts+auth") expect(ranges.every((c) => c.token !== undefined && toy.tokens.has(c.token))).toBe(true);
      else expect(ranges.every((c) => c.token === undefined)).toBe(true);
    }
    const [etcd, ts] = r.servers.map((s) => s.workloads[0]!);
    expect(etcd).toMatchObject({ workload: "range-all", op: "range-all", clients: 1, conns: 1, ok: true, requests: 1 });
    expect(etcd!.rounds).toHaveLength(2);
    expect(etcd!.rangeAll).toMatchObject({ keys: 1024, valueSize: 1024, kvs: 1024, count: 1024 });
    expect(ts!.rangeAll).toMatchObject({ kvs: 1024 });
    expect(etcd!.throughput).toBeCloseTo(etcd!.rangeAll!.mibPerSec, 9);
    if (existsSync("/proc/self/clear_refs")) {
      expect(etcd!.rangeAll).toMatchObject({ peakReset: true });
      expect(etcd!.rangeAll!.extraBytes).toBeTypeOf("number");
      expect(etcd!.rssBytes).toBe(etcd!.rangeAll!.rssAfterBytes);
    }
    expect(r.ratios).toEqual([]); // etcd-ts+auth has no baseline with auth
    expect(r.settings).toMatchObject({ rangeAllMb: 1, rangeAllValueSize: 1024 });
    expect(lines.filter((l) => l.includes("range-all: writing 1 MiB of 1024-byte values (1024 keys)"))).toHaveLength(2);
    expect(lines.some((l) => /^etcd: range-all round 2\/2: [\d.]+ MiB\/s: \d+ bytes, 1024 kvs in /.test(l))).toBe(true);
  });

  it("fails the range-all workload when the response does not hold every key filled", async () => {
    const deps = toyDeps([], () => 1);
    const r = await runBench(quickOptions(["--servers", "etcd", "--workloads", "range-all", "--range-all-mb", "1"]), () => {}, {
      ...deps,
      startCluster: async (spec, opts) => {
        const c = await deps.startCluster(spec, opts);
        toys.get(spec.label)!.rangeAll = { kvs: 1024, valueSize: 16, count: 1000 };
        return c;
      },
    });
    expect(r.servers[0]!.workloads[0]).toMatchObject({
      ok: false,
      error: 'bench: Range over prefix "r": its count is 1000, not the 1024 keys filled',
    });
  });

  it("fails the snapshot workload with the reason when the stream is cut short", async () => {
    const calls: WorkloadCall[] = [];
    const deps = toyDeps(calls, () => 1);
    const r = await runBench(quickOptions(["--servers", "etcd", "--workloads", "snapshot", "--snapshot-mb", "1"]), () => {}, {
      ...deps,
      startCluster: async (spec, opts) => {
        const c = await deps.startCluster(spec, opts);
        toys.get(spec.label)!.snapshotFault = "truncate";
        return c;
      },
    });
    expect(r.servers[0]!.workloads[0]).toMatchObject({
      ok: false,
      error: "bench: Snapshot stream incomplete: the stream ended after 32768 of the 100000 bytes announced (1 messages, 32768 bytes received)",
    });
  });

  it("records RSS after each window and after the bench; under --profile starts etcd-ts profiled and summarises its profile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-profile-test-"));
    try {
      const profileFile = join(dir, "p.cpuprofile");
      writeFileSync(
        profileFile,
        JSON.stringify({
          nodes: [
            { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1, columnNumber: -1 }, children: [2, 3] },
            { id: 2, callFrame: { functionName: "(idle)", url: "", lineNumber: -1, columnNumber: -1 } },
            { id: 3, callFrame: { functionName: "apply", url: "file:///x/a.js", lineNumber: 0, columnNumber: 0 } },
          ],
          startTime: 0,
          endTime: 400,
          samples: [2, 3, 3],
          timeDeltas: [100, 100, 100],
        }),
      );
      const calls: WorkloadCall[] = [];
      const deps = toyDeps(calls, () => 100);
      const cpuProfile = new Map<string, boolean | undefined>();
      const collected: string[] = [];
      let rss = 0;
      const r = await runBench(quickOptions(["--servers", "etcd,etcd-ts", "--workloads", "put-1,put-10", "--profile"]), () => {}, {
        startCluster: async (spec, opts) => {
          cpuProfile.set(spec.label, opts.cpuProfile);
          const c = await deps.startCluster(spec, opts);
          const base = spec.kind === "etcd" ? 40e6 : 150e6;
          return {
            ...c,
            // Grows by 1 MB per read.
            rssBytes: () => base + 1e6 * rss++,
            collectCpuProfiles: async (destDir, waitMs) => {
              collected.push(`${spec.label} ${destDir} ${waitMs}`);
              return [
                { member: "default", path: profileFile, error: undefined },
                { member: "infra2", path: undefined, error: "no .cpuprofile" },
              ];
            },
          };
        },
        runWorkload: async (spec) => {
          const run1 = run(100);
          const bytes = spec.serverRssBytes?.();
          if (bytes !== undefined) run1.rssBytes = bytes;
          return run1;
        },
      });
      expect([...cpuProfile]).toEqual([
        ["etcd", false],
        ["etcd-ts", true],
      ]);
      expect(collected).toEqual([`etcd-ts ${PROFILE_DIR} ${PROFILE_WAIT_MS}`]);
      expect(r.settings.profile).toBe(true);
      const [etcd, ts] = r.servers;
      // Interleaved: etcd put-1, etcd-ts put-1, etcd put-10, etcd-ts put-10, then after the bench.
      expect(etcd!.workloads.map((w) => w.rssBytes)).toEqual([40e6, 42e6]);
      expect(ts!.workloads.map((w) => w.rounds[0]!.rssBytes)).toEqual([151e6, 153e6]);
      expect(etcd!.rssAfterBytes).toBe(44e6);
      expect(ts!.rssAfterBytes).toBe(155e6);
      expect(etcd!.profile).toBeUndefined();
      expect(ts!.profile).toEqual([
        {
          member: "default",
          file: profileFile,
          error: undefined,
          summary: expect.objectContaining({ samples: 3, sampledMs: 0.3, top: [expect.objectContaining({ name: "apply", percent: (200 * 100) / 300 })] }),
        },
        { member: "infra2", file: undefined, summary: undefined, error: "no .cpuprofile" },
      ]);
      expect(ts!.profile![0]!.summary!.idle.percent).toBeCloseTo(100 / 3, 9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("enables auth on every server under --auth", async () => {
    const calls: WorkloadCall[] = [];
    const r = await runBench(quickOptions(["--servers", "etcd,etcd-ts", "--workloads", "put-1", "--auth"]), () => {}, toyDeps(calls, () => 100));
    expect([...toys.values()].map((t) => t.authEnabled)).toEqual([true, true]);
    expect(calls.every((c) => c.token !== undefined && c.withToken === "ok")).toBe(true);
    expect(r.servers.map((s) => [s.label, s.auth])).toEqual([
      ["etcd+auth", true],
      ["etcd-ts+auth", true],
    ]);
    expect(r.settings.auth).toBe(true);
    expect(r.authCosts).toEqual([]);
  });
});

const ETCD = "/usr/bin/etcd";

describe.skipIf(!existsSync(ETCD))("runBench against the real etcd", () => {
  it("etcd+auth refuses a request without a token, etcd takes it; both run in one interleaved run", async () => {
    const root = mkdtempSync(join(tmpdir(), "bench-runbench-test-"));
    const labels = new Map<string, string>();
    const calls: WorkloadCall[] = [];
    const deps: BenchDeps = {
      startCluster: async (spec, opts) => {
        const c = await startCluster(spec, { ...opts, dataRoot: root, logDir: root });
        labels.set(c.endpoints()[0]!, spec.label);
        return c;
      },
      runWorkload: standInWorkload((ep) => labels.get(ep)!, calls, (label) => (label === "etcd" ? 1000 : 750)),
    };
    try {
      const r = await runBench(quickOptions(["--servers", "etcd,etcd+auth", "--workloads", "put-1", "--etcd-bin", ETCD]), () => {}, deps);
      expect(r.servers.map((s) => [s.label, s.available, s.reason])).toEqual([
        ["etcd", true, undefined],
        ["etcd+auth", true, undefined],
      ]);
      expect(calls.map((c) => [c.label, c.token === undefined, c.withToken, c.bare.replace(/^.*user name is empty.*$/, "refused")])).toEqual([
        ["etcd", true, "ok", "ok"],
        ["etcd+auth", false, "ok", "refused"],
      ]);
      expect(r.authCosts).toEqual([{ workload: "put-1", kind: "etcd", server: "etcd", withAuth: "etcd+auth", throughputLost: 0.25 }]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 90_000);
});
