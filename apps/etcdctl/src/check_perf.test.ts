import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverCommand } from "@etcd-ts/test-kit";
import { ETCDCTL_TS, REAL_ETCDCTL, runCtl, type CtlResult } from "./testing/ctl.js";
import { commandSpawner, startServer, type RunningServer } from "./testing/server.js";

/** lines drops the progress bar (redrawn with carriage returns) and keeps the report lines. */
function reportLines(r: CtlResult): string[] {
  return r.stdout
    .toString()
    .split("\n")
    .filter((l) => l !== "" && !l.includes("\r"));
}

/**
 * `check perf` and `check datascale` for real: etcdctl-ts's runs against etcd-ts (the full
 * 60 s perf run once), and the real etcdctl's datascale against etcd-ts, which reads its
 * /metrics. Their verdicts depend on the machine; the report's shape, the exit code that goes
 * with the verdict, and the clean-up do not.
 */
describe("check perf and check datascale", () => {
  let etcdTs: RunningServer;
  beforeAll(async () => {
    etcdTs = await startServer(commandSpawner(serverCommand("etcd-ts")));
  }, 60_000);
  afterAll(async () => {
    await etcdTs?.stop();
  });
  const env = (): Record<string, string> => ({ ETCDCTL_ENDPOINTS: etcdTs.endpoint });

  it("check perf runs the small model for 60 s, reports as etcdctl 3.4, and deletes its keys", async () => {
    const r = await runCtl(ETCDCTL_TS, ["check", "perf", "--auto-compact"], env());
    const lines = reportLines(r);
    expect(lines[0]).toMatch(/^Compacting with revision \d+$/);
    expect(lines[1]).toMatch(/^Compacted with revision \d+$/);
    expect(lines[2]).toMatch(/^(PASS: Throughput is|FAIL: Throughput too low:) \d+ writes\/s$/);
    expect(lines[3]).toMatch(/^(PASS: Slowest request took|Slowest request took too long:) \d+\.\d{6}s$/);
    expect(lines[4]).toMatch(/^(PASS: Stddev is|Stddev too high:) \d+\.\d{6}s$/);
    expect(lines[5]).toMatch(/^(PASS|FAIL)$/);
    expect(r.code).toBe(lines[5] === "PASS" ? 0 : 1);
    const writes = Number(/(\d+) writes\/s/.exec(lines[2] ?? "")?.[1]);
    expect(writes).toBeGreaterThan(100); // the model asks for 150 per second
    const left = await runCtl(ETCDCTL_TS, ["get", "/etcdctl-check-perf/", "--prefix", "--keys-only"], env());
    expect([left.code, left.stdout.toString()]).toEqual([0, ""]);
  }, 120_000);

  for (const [name, cli] of [
    ["etcdctl-ts", ETCDCTL_TS],
    ["the real etcdctl", REAL_ETCDCTL],
  ] as const) {
    it(`check datascale by ${name} writes 10,000 keys, reads the memory from /metrics, and deletes them`, async () => {
      const r = await runCtl(cli, ["check", "datascale"], env());
      const lines = reportLines(r);
      expect(r.code, r.stderr.toString()).toBe(0);
      expect(lines[0]).toBe("Start data scale check for work load [10000 key-value pairs, 1024 bytes per key-value, 50 concurrent clients].");
      expect(lines[lines.length - 1]).toMatch(/^PASS: Approximate system memory used : -?\d+\.\d\d MB\.$/);
      const left = await runCtl(ETCDCTL_TS, ["get", "/etcdctl-check-datascale/", "--prefix", "--keys-only"], env());
      expect([left.code, left.stdout.toString()]).toEqual([0, ""]);
    }, 120_000);
  }
});
