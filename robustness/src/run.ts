import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkKv, checkWatch, formatWitness, minimize, patchHistory, type History } from "@etcd-ts/linearizability";
import type { ServerKind } from "@etcd-ts/test-kit";
import { Clock, recordPrefixRead, Rng, Watchers, Workload, type WorkloadStats } from "@etcd-ts/recorder";
import { Cluster } from "./cluster.js";
import { runSchedule, type FaultEvent, type ScheduleOptions } from "./faults.js";

/** RunOptions describe one randomized fault run. Times are milliseconds. */
export interface RunOptions {
  kind: ServerKind;
  seed: number;
  size: number;
  durationMs: number;
  schedule: ScheduleOptions;
  clients: number;
  watchers: number;
  keys: number;
  leases: boolean;
  txn: boolean;
  mix: "full" | "simple";
  /** netns runs the members in network namespaces (the net-* faults). */
  netns: boolean;
  opTimeoutMs: number;
  heartbeatMs: number;
  electionMs: number;
  snapshotCount?: number;
  /** dir is where the run's members live; kept when the run fails or `keep` is set. */
  dir: string;
  keep: boolean;
  env?: NodeJS.ProcessEnv;
  extraArgs?: readonly string[];
  /** check runs the history checkers (off for availability-only runs). */
  check: boolean;
  checkTimeoutMs: number;
}

/** RunReport is what one run measured and found. */
export interface RunReport {
  kind: ServerKind;
  seed: number;
  fault: string;
  durationMs: number;
  stats: Omit<WorkloadStats, "writeTimes">;
  /** longestWriteGapMs is the longest time without a successful write, from the first fault to the end of the schedule. */
  longestWriteGapMs: number;
  /** elections is how far each member's raft term moved during the run. */
  elections: number[];
  faults: FaultEvent[];
  kvVerdict: "ok" | "illegal" | "unknown" | "skipped";
  watchViolations: string[];
  /** failure is the reason the run failed (a violation, a harness error), if it did. */
  failure?: string;
  /** witness is the smallest failing sub-history found, printed. */
  witness?: string;
  dir: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * missingRevisions: on a run's own cluster only the workload writes, and only under its
 * prefix, so every revision from the watchers' start to the final one changed a key the
 * watchers cover: one that no watcher delivered was lost by all of them (a gap the
 * per-watch reliability check cannot see when no operation's answer names that revision).
 */
export function missingRevisions(h: History, from: number, to: number): string[] {
  const seen = new Set<number>();
  for (const w of h.watches) for (const r of w.responses) for (const e of r.events) seen.add(e.kv.modRevision);
  const missing: number[] = [];
  for (let r = from; r <= to; r++) if (!seen.has(r)) missing.push(r);
  return missing.length === 0 ? [] : [`reliable: revisions ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ", ..." : ""} were delivered to no watcher`];
}

/** longestGap is the longest stretch (ms) in [from, to] (µs) with no time in `times` (µs, sorted). */
export function longestGap(times: readonly number[], from: number, to: number): number {
  let prev = from;
  let worst = 0;
  for (const t of times) {
    if (t < from) continue;
    if (t > to) break;
    worst = Math.max(worst, t - prev);
    prev = t;
  }
  worst = Math.max(worst, to - prev);
  return Math.round(worst / 1000);
}

/**
 * runOnce starts a cluster, runs the recording clients and watchers under the fault schedule,
 * heals, reads the final state, and checks the history: linearizability of every KV
 * operation (the final read included, so an acknowledged write that was lost fails it) and
 * the watch guarantees.
 */
export async function runOnce(o: RunOptions, progress: (line: string) => void = () => undefined): Promise<RunReport> {
  const rng = new Rng(o.seed);
  const clock = new Clock();
  const report: RunReport = {
    kind: o.kind,
    seed: o.seed,
    fault: o.schedule.kind,
    durationMs: o.durationMs,
    stats: { ok: 0, unknown: 0, failedReads: 0, notSent: 0 },
    longestWriteGapMs: 0,
    elections: [],
    faults: [],
    kvVerdict: "skipped",
    watchViolations: [],
    dir: o.dir,
  };
  // A directory left by an earlier run of the same seed would restart its members' old data.
  rmSync(o.dir, { recursive: true, force: true });
  const cluster = await Cluster.start({
    kind: o.kind,
    size: o.size,
    dir: o.dir,
    heartbeatMs: o.heartbeatMs,
    electionMs: o.electionMs,
    ...(o.snapshotCount !== undefined ? { snapshotCount: o.snapshotCount } : {}),
    ...(o.env !== undefined ? { env: o.env } : {}),
    ...(o.extraArgs !== undefined ? { extraArgs: o.extraArgs } : {}),
    netns: o.netns,
  });
  let failed = false;
  try {
    const endpoints = cluster.members.map((m) => cluster.endpoint(m));
    const prefix = `/robustness/${o.seed}/`;
    const first = await recordPrefixRead({ endpoints, prefix, timeoutMs: 10_000 }, clock);
    const startRevision = (first.output?.type === "range" ? first.output.revision : 1) + 1;
    const terms0 = await Promise.all(cluster.members.map(async (m) => Number((await cluster.status(m))?.raftTerm ?? 0n)));
    const watchers = new Watchers({ endpoints, watchers: o.watchers, prefix, startRevision }, clock);
    watchers.start();
    const workload = new Workload({ endpoints, clients: o.clients, keys: o.keys, prefix, opTimeoutMs: o.opTimeoutMs, leases: o.leases, txn: o.txn, mix: o.mix }, clock, rng.fork());
    const running = workload.run();
    const faultStart = clock.now();
    await runSchedule(cluster, rng.fork(), o.schedule, Date.now() + o.durationMs, report.faults);
    const faultEnd = clock.now();
    progress(`faults done (${report.faults.length}); settling`);
    await sleep(Math.max(1000, 2 * o.electionMs));
    workload.stop();
    await running;
    workload.close();
    const last = await recordPrefixRead({ endpoints, prefix, timeoutMs: 30_000 }, clock);
    const finalRevision = last.output?.type === "range" ? last.output.revision : 0;
    for (const m of cluster.members) await cluster.waitHealthy(m, 30_000);
    const terms1 = await Promise.all(cluster.members.map(async (m) => Number((await cluster.status(m))?.raftTerm ?? 0n)));
    report.elections = terms1.map((t, i) => t - (terms0[i] ?? 0));
    const waitUntil = Date.now() + 15_000;
    while (!watchers.caughtUp(finalRevision) && Date.now() < waitUntil) await sleep(100);
    const watchesCaughtUp = watchers.caughtUp(finalRevision);
    watchers.stop();
    await sleep(100);
    const { writeTimes, ...stats } = workload.stats;
    report.stats = stats;
    report.longestWriteGapMs = longestGap(writeTimes, faultStart, faultEnd);
    if (o.check) {
      const history: History = { operations: [...workload.operations, last], watches: watchers.watches };
      writeFileSync(join(o.dir, "history.json"), JSON.stringify(history, (_k, v: unknown) => (v === Infinity ? "Infinity" : v)));
      // The watches are checked first: patching the history trusts what they delivered.
      const watch = checkWatch(history);
      report.watchViolations = watch.violations.map((v) => `${v.kind}: ${v.message}`);
      if (o.watchers > 0) report.watchViolations.push(...missingRevisions(history, startRevision, finalRevision));
      const patched = patchHistory(history);
      const kv = checkKv(patched.operations, { timeoutMs: o.checkTimeoutMs });
      report.kvVerdict = kv.verdict;
      if (!watchesCaughtUp) report.watchViolations.push(`watchers did not reach the final revision ${finalRevision} within 15 s`);
      if (kv.verdict === "illegal") {
        report.failure = "history is not linearizable";
        const small = minimize(patched.operations, { timeoutMs: o.checkTimeoutMs });
        report.witness = formatWitness(small);
      } else if (kv.verdict === "unknown") {
        report.failure = `linearizability check did not finish within ${o.checkTimeoutMs} ms`;
      } else if (report.watchViolations.length > 0) {
        report.failure = `watch guarantees violated: ${report.watchViolations.slice(0, 5).join("; ")}`;
      }
    }
    failed = report.failure !== undefined;
    return report;
  } catch (err) {
    failed = true;
    report.failure = `harness: ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
    return report;
  } finally {
    await cluster.stop();
    writeFileSync(join(o.dir, "report.json"), JSON.stringify(report, null, 2));
    if (!failed && !o.keep) rmSync(o.dir, { recursive: true, force: true });
  }
}
