import { describe, expect, it } from "vitest";
import { parseArgs } from "./args.js";
import { defaultEtcdTsCmd, describeLoad, describeRun, medianRun, planSeconds, REPO_ROOT, serverSpecs } from "./bench.js";
import type { WorkloadRun } from "./generator.js";
import { LEASE_REVOKE_BUDGET_MS } from "./lease-put.js";
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
    expect(planSeconds(parseArgs(["--auth"]))).toBeGreaterThan(planSeconds(base));
  });

  it("leaves lease-put time to revoke its leases and watch time to catch up", () => {
    const put = planSeconds(parseArgs(["--workloads", "put-100"]));
    expect(planSeconds(parseArgs(["--workloads", "lease-put-100"]))).toBe(put + (2 * LEASE_REVOKE_BUDGET_MS) / 1000);
    expect(planSeconds(parseArgs(["--workloads", "watch-100"]))).toBeGreaterThan(put);
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
});
