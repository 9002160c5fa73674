import { describe, expect, it } from "vitest";
import { parseArgs } from "./args.js";
import { defaultEtcdTsCmd, medianRun, planSeconds, REPO_ROOT, serverSpecs } from "./bench.js";
import type { WorkloadRun } from "./generator.js";

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
    generatorCpuCores: 0,
    otherCpuCores: 0,
    hitMaxRequests: false,
  };
}

describe("serverSpecs", () => {
  it("labels repeats and uses the configured commands", () => {
    expect(serverSpecs(["etcd", "etcd-ts", "etcd"], "/usr/bin/etcd", ["node", "x.js"])).toEqual([
      { label: "etcd", kind: "etcd", argv: ["/usr/bin/etcd"] },
      { label: "etcd-ts", kind: "etcd-ts", argv: ["node", "x.js"] },
      { label: "etcd#2", kind: "etcd", argv: ["/usr/bin/etcd"] },
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
  });
});
