import { describe, expect, it } from "vitest";
import { parseArgs } from "./args.js";
import { planRun, schedule } from "./plan.js";
import { runOnce, type RunReport } from "./run.js";
import type { FaultKind } from "./faults.js";

/**
 * The short seeded set CI runs (the long set is `npm run robustness -- --runs 200`, see the
 * README): one run per fault kind on a 3-member etcd-ts cluster, each history checked; and
 * the proof that the harness can fail: with the planted stale-read switch a member that is
 * catching up serves stale linearizable reads, which the checker must catch.
 */

const SEED = 20261201;

function plan(fault: FaultKind, i: number, extra: string[] = []): ReturnType<typeof planRun> {
  const a = parseArgs(["--seed", String(SEED), "--duration", "6s", "--fault", fault, "--members", "3", "--dir", "/tmp/etcd-ts-robustness-ci", "--heartbeat-interval", "50", "--election-timeout", "500", ...extra]);
  return { ...planRun(a, i, "etcd-ts"), schedule: schedule(fault, 500) };
}

function explain(r: RunReport): string {
  return `${r.failure ?? "ok"}\nseed ${r.seed}, kept in ${r.dir}\n${r.witness ?? ""}`;
}

describe("robustness: seeded fault runs on etcd-ts", () => {
  const kinds: FaultKind[] = ["kill", "blackhole-in", "pause-leader", "partition", "failpoint", "replace", "defrag"];
  it.each(kinds.map((k, i) => [k, i] as const))("%s: the history is linearizable and the watches keep their guarantees", async (kind, i) => {
    const r = await runOnce(plan(kind, i));
    expect(r.failure, explain(r)).toBeUndefined();
    expect(r.kvVerdict).toBe("ok");
    expect(r.faults.length).toBeGreaterThan(0);
    expect(r.stats.ok).toBeGreaterThan(50);
    if (kind === "defrag") expect(r.faults.map((f) => f.detail).join(" ")).toMatch(/(^| )[1-9]\d* defragmentations(?!, )/);
  }, 120_000);

  // A member restarted after a kill serves reads from its local state while it catches up:
  // with the planted switch those linearizable reads are stale, which the checker must see.
  // Packet-level partitions need network namespaces, so root (CI runs as root).
  const root = process.getuid?.() === 0;
  it.skipIf(!root).each((["net-partition", "net-partition-leader"] as const).map((k, i) => [k, 20 + i] as const))(
    "%s (network namespaces, root only): the history is linearizable and the watches keep their guarantees",
    async (kind, i) => {
      const r = await runOnce(plan(kind, i));
      expect(r.failure, explain(r)).toBeUndefined();
      expect(r.kvVerdict).toBe("ok");
      expect(r.faults.length).toBeGreaterThan(0);
    },
    120_000,
  );

  it("catches the planted stale reads (ETCD_TS_UNSAFE_STALE_READS) within a few kill runs", async () => {
    let caught: RunReport | undefined;
    for (let i = 0; i < 4 && caught === undefined; i++) {
      const r = await runOnce({ ...plan("kill", 100 + i, ["--planted-stale-reads"]), watchers: 0, keep: false });
      if (r.kvVerdict === "illegal") caught = r;
    }
    expect(caught, "the checker accepted every history although reads were served stale").toBeDefined();
    expect(caught?.witness).toMatch(/range/);
  }, 400_000);
});
