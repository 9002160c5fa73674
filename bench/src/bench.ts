import { cpus, tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { AUTH_SUFFIX, type BenchOptions } from "./args.js";
import { authenticate, AUTH_USER, enableAuth } from "./auth.js";
import {
  DEFRAG_CALL_TIMEOUT_MS,
  DEFRAG_PREP_BUDGET_MS,
  DEFRAG_SETUP_BUDGET_MS,
  defragShape,
  prepareDefrag,
  runDefragment,
  type DefragPrep,
  type DefragWindow,
} from "./defrag.js";
import { drainBoundMs, fillKeyspace, runWorkload, type RunSpec, type WorkloadRun } from "./generator.js";
import { openConnection, waitReady } from "./grpc-caller.js";
import {
  PROFILE_STOP_GRACE_MS,
  PROFILE_TOP,
  PROFILE_WAIT_MS,
  readProfileSummary,
  type MemberProfile,
} from "./profile.js";
import { computeAuthCosts, computeRatios, fmtMs, type BenchReport, type ServerResult, type WorkloadResult } from "./report.js";
import {
  describeRangeAllPrep,
  prepareRangeAll,
  rangeAllCallTimeoutMs,
  rangeAllKeys,
  rangeAllMemoryText,
  rangeAllPrepBudgetMs,
  runRangeAllWorkload,
  type RangeAllPrep,
} from "./range_all.js";
import { RANGE_ALL_PREFIX, type RequestShape } from "./requests.js";
import {
  describeSnapshotPrep,
  prepareSnapshot,
  runSnapshotWorkload,
  snapshotCallTimeoutMs,
  snapshotKeys,
  snapshotPrepBudgetMs,
  type SnapshotPrep,
} from "./snapshot.js";
import {
  ServerUnavailable,
  startCluster,
  type RunningCluster,
  type ServerEntry,
  type ServerSpec,
  type StartOptions,
} from "./servers.js";
import { needsData, parseWorkload, type Workload } from "./workload.js";

/** REPO_ROOT is the repository root (this file lives in bench/src or bench/dist). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** BENCH_DIR is the bench package's folder. */
export const BENCH_DIR = fileURLToPath(new URL("../", import.meta.url));

/** FILL_TIMEOUT_MS bounds filling the keyspace before the first read workload. */
const FILL_TIMEOUT_MS = 120_000;

/** PROFILE_DIR is where --profile keeps each profiled member's .cpuprofile. */
export const PROFILE_DIR = join(BENCH_DIR, "results", "profiles");

/** profiled says whether --profile runs server spec under node --cpu-prof: every etcd-ts entry. */
export function profiled(o: BenchOptions, spec: ServerEntry): boolean {
  return o.profile && spec.kind === "etcd-ts";
}

/** defaultEtcdTsCmd is how etcd-ts is started unless --etcd-ts-cmd says otherwise. */
export function defaultEtcdTsCmd(): string[] {
  return [process.execPath, join(REPO_ROOT, "apps", "server", "bin", "etcd-ts.js")];
}

/**
 * serverSpecs turns the --servers list into labelled commands: the label is the kind, with
 * "+auth" for an entry with authentication on; a label seen again gets "#2", "#3" so the
 * report can tell the runs apart.
 */
export function serverSpecs(entries: readonly ServerEntry[], etcdBin: string, etcdTsCmd: readonly string[]): ServerSpec[] {
  const seen = new Map<string, number>();
  return entries.map(({ kind, auth }) => {
    const base = auth ? `${kind}${AUTH_SUFFIX}` : kind;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return {
      label: n === 1 ? base : `${base}#${n}`,
      kind,
      auth,
      argv: kind === "etcd" ? [etcdBin] : [...etcdTsCmd],
    };
  });
}

/**
 * serverEntries is the run's --servers list with --auth applied: under --auth every entry
 * has authentication on.
 */
export function serverEntries(o: BenchOptions): ServerEntry[] {
  return o.servers.map((e) => ({ kind: e.kind, auth: e.auth || o.auth }));
}

/** Progress receives one line per step, for the operator watching the run. */
export type Progress = (line: string) => void;

/**
 * planSeconds estimates how long runBench takes in the worst case, for a watchdog: every
 * server start times out, every workload drains to its request deadline, and a server
 * with authentication on also spends every auth step's deadline.
 */
export function planSeconds(o: BenchOptions): number {
  let runs = 0;
  let authRuns = 0;
  for (const name of o.workloads) {
    let drainSec = o.requestTimeout + 5;
    try {
      const w = parseWorkload(name, o.conns, o.watchWriters);
      drainSec = drainBoundMs(w, o.requestTimeout * 1000) / 1000;
      if (w.op === "defrag") drainSec += (DEFRAG_PREP_BUDGET_MS + DEFRAG_SETUP_BUDGET_MS + DEFRAG_CALL_TIMEOUT_MS) / 1000;
      if (w.op === "snapshot") drainSec += (snapshotPrepBudgetMs(o.snapshotMb) + snapshotCallTimeoutMs(o.snapshotMb)) / 1000;
      if (w.op === "range-all") drainSec += (rangeAllPrepBudgetMs(o.rangeAllMb) + rangeAllCallTimeoutMs(o.rangeAllMb)) / 1000;
    } catch {
      // a bad name fails at its turn; count it as a KV workload
    }
    runs += o.rounds * (o.warmup + o.duration + drainSec + o.startTimeout + 10);
    authRuns += o.rounds * authSeconds(o);
  }
  const perServer = o.startTimeout + FILL_TIMEOUT_MS / 1000 + runs + 30;
  // Enabling auth: UserAdd, UserGrantRole, AuthEnable, then a first Authenticate.
  const authSetup = 3 * o.requestTimeout + authSeconds(o);
  // A profiled server: the longer stop, then each member's profile awaited and summarised.
  const profileSec = o.cluster * (PROFILE_STOP_GRACE_MS + PROFILE_WAIT_MS) / 1000 + 60;
  let total = 0;
  for (const e of serverEntries(o)) total += perServer + (e.auth ? authSetup + authRuns : 0) + (profiled(o, e) ? profileSec : 0);
  return total;
}

/** authSeconds bounds one Authenticate and the token check on every member (auth servers). */
function authSeconds(o: BenchOptions): number {
  return o.requestTimeout * (1 + o.cluster) + 5 * o.cluster;
}

/**
 * medianRun returns the round with the median throughput (the lower middle one for an
 * even count).
 */
export function medianRun(runs: readonly WorkloadRun[]): WorkloadRun {
  if (runs.length === 0) throw new Error("bench: no rounds to take the median of");
  const sorted = [...runs].sort((a, b) => a.throughput - b.throughput);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/**
 * Cluster is what runBench uses of a started server: a RunningCluster, or a test's
 * stand-in.
 */
export type Cluster = Pick<
  RunningCluster,
  "endpoints" | "commandLine" | "exitedMember" | "cpuSeconds" | "rssBytes" | "pids" | "version" | "stop" | "collectCpuProfiles"
>;

/**
 * BenchDeps are how runBench starts a server and runs a workload: real processes and
 * generator threads (REAL_DEPS) unless a test passes stand-ins.
 */
export interface BenchDeps {
  startCluster: (spec: ServerSpec, opts: StartOptions) => Promise<Cluster>;
  runWorkload: (spec: RunSpec) => Promise<WorkloadRun>;
}

/** REAL_DEPS start server processes (startCluster) and load them from worker threads (runWorkload). */
export const REAL_DEPS: Readonly<BenchDeps> = { startCluster, runWorkload };

/** ServerState is one server entry during the run. */
interface ServerState {
  spec: ServerSpec;
  result: ServerResult;
  cluster: Cluster | undefined;
  filled: boolean;
  fillError: string | undefined;
  /** runs collects each workload's successful rounds, by workload name. */
  runs: Map<string, WorkloadRun[]>;
  /** failures holds each workload's last failure, by workload name. */
  failures: Map<string, string>;
  /** token is the auth token of the current workload (spec.auth), fresh from Authenticate. */
  token: string | undefined;
  /** snapshotFill and rangeAllFill are those workloads' fills, done before their first rounds. */
  snapshotFill: FillOnce<SnapshotPrep>;
  rangeAllFill: FillOnce<RangeAllPrep>;
}

/** Bench holds what every step of one run needs. */
interface Bench {
  o: BenchOptions;
  shape: RequestShape;
  progress: Progress;
  deps: Readonly<BenchDeps>;
}

/**
 * runBench starts the servers, runs every workload against each (all servers up and
 * alternating per workload under --order interleaved, one server at a time under
 * sequential), stops them, and returns the report. A server that cannot start is
 * reported as not available; a workload that fails is reported as failed; neither stops
 * the run. Authentication is turned on only in the servers whose entry says so (+auth, or
 * all under --auth), and only their requests carry a token.
 */
export async function runBench(o: BenchOptions, progress: Progress, deps: Readonly<BenchDeps> = REAL_DEPS): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const workloads = o.workloads.map((w) => parseWorkload(w, o.conns, o.watchWriters));
  const b: Bench = { o, shape: { keySpace: o.keySpace, keySize: o.keySize, valueSize: o.valueSize }, progress, deps };
  const specs = serverSpecs(serverEntries(o), o.etcdBin, o.etcdTsCmd ?? defaultEtcdTsCmd());
  const states: ServerState[] = specs.map((spec) => ({
    spec,
    result: {
      label: spec.label,
      kind: spec.kind,
      auth: spec.auth,
      command: spec.argv.join(" "),
      members: o.cluster,
      available: false,
      reason: undefined,
      version: "",
      workloads: [],
    },
    cluster: undefined,
    filled: false,
    fillError: undefined,
    runs: new Map(),
    failures: new Map(),
    token: undefined,
    snapshotFill: { prep: undefined, error: undefined },
    rangeAllFill: { prep: undefined, error: undefined },
  }));
  try {
    if (o.order === "interleaved") {
      for (const s of states) await start(b, s);
      for (const w of workloads) {
        for (let round = 0; round < o.rounds; round++) {
          for (const s of states) await runOne(b, s, w, round);
        }
      }
    } else {
      for (const s of states) {
        await start(b, s);
        for (const w of workloads) {
          for (let round = 0; round < o.rounds; round++) await runOne(b, s, w, round);
        }
        await stop(b, s);
      }
    }
  } finally {
    for (const s of states) await stop(b, s);
  }
  for (const s of states) {
    if (s.result.available) s.result.workloads = workloads.map((w) => collect(s, w));
  }
  const results = states.map((s) => s.result);
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    host: { cpus: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
    settings: {
      members: o.cluster,
      durationSec: o.duration,
      warmupSec: o.warmup,
      keySpace: o.keySpace,
      keySize: o.keySize,
      valueSize: o.valueSize,
      workers: o.workers,
      transport: o.transport,
      rounds: o.rounds,
      order: o.order,
      maxConns: o.conns,
      watchWriters: o.watchWriters,
      defragMb: o.defragMb,
      defragValueSize: o.defragValueSize,
      snapshotMb: o.snapshotMb,
      snapshotValueSize: o.snapshotValueSize,
      rangeAllMb: o.rangeAllMb,
      rangeAllValueSize: o.rangeAllValueSize,
      auth: specs.length > 0 && specs.every((spec) => spec.auth),
      profile: o.profile,
    },
    servers: results,
    ratios: computeRatios(results),
    authCosts: computeAuthCosts(results),
  };
}

async function start(b: Bench, s: ServerState): Promise<void> {
  const { o, progress } = b;
  progress(`${s.spec.label}: starting ${o.cluster} member${o.cluster === 1 ? "" : "s"}`);
  try {
    s.cluster = await b.deps.startCluster(s.spec, {
      size: o.cluster,
      dataRoot: o.dataRoot ?? tmpdir(),
      logDir: join(BENCH_DIR, "results", "logs"),
      startTimeoutMs: o.startTimeout * 1000,
      cpuProfile: profiled(o, s.spec),
    });
  } catch (err) {
    s.result.reason = err instanceof ServerUnavailable ? err.reason : err instanceof Error ? err.message : String(err);
    progress(`${s.spec.label}: not available (${s.result.reason})`);
    return;
  }
  if (s.spec.auth) {
    try {
      await enableAuth(s.cluster.endpoints(), o.requestTimeout * 1000);
    } catch (err) {
      s.result.reason = `authentication could not be enabled: ${err instanceof Error ? err.message : String(err)}`;
      progress(`${s.spec.label}: not available (${s.result.reason})`);
      await stop(b, s);
      return;
    }
    progress(`${s.spec.label}: auth enabled (user ${AUTH_USER} with role root); every request carries its token`);
  }
  s.result.available = true;
  s.result.command = s.cluster.commandLine();
  s.result.version = await s.cluster.version();
  const v = s.result.version !== "" ? ` (version ${s.result.version})` : "";
  progress(`${s.spec.label}: ready at ${s.cluster.endpoints().join(", ")}${v}`);
}

/**
 * stop reads the server's RSS (after its last workload: the RSS after the bench), stops it,
 * and, under --profile, collects and summarises its members' CPU profiles.
 */
async function stop(b: Bench, s: ServerState): Promise<void> {
  if (s.cluster === undefined) return;
  const c = s.cluster;
  s.cluster = undefined;
  if (s.result.available) {
    const rss = c.rssBytes();
    if (rss !== undefined) s.result.rssAfterBytes = rss;
  }
  b.progress(`${s.spec.label}: stopping`);
  await c.stop();
  if (profiled(b.o, s.spec)) s.result.profile = await collectProfiles(b, s, c);
}

/** collectProfiles waits for each stopped member's CPU profile, keeps it in PROFILE_DIR and summarises it. */
async function collectProfiles(b: Bench, s: ServerState, c: Cluster): Promise<MemberProfile[]> {
  b.progress(`${s.spec.label}: reading the CPU profiles`);
  const files = await c.collectCpuProfiles(PROFILE_DIR, PROFILE_WAIT_MS);
  return files.map(({ member, path, error }): MemberProfile => {
    if (path === undefined) {
      b.progress(`${s.spec.label}: ${member}: no CPU profile: ${error ?? "unknown"}`);
      return { member, file: undefined, summary: undefined, error };
    }
    const rel = relative(REPO_ROOT, path);
    const file = rel.startsWith("..") || isAbsolute(rel) ? path : rel;
    try {
      const summary = readProfileSummary(path, PROFILE_TOP, REPO_ROOT);
      b.progress(`${s.spec.label}: ${member}: CPU profile of ${summary.samples} samples kept in ${file}`);
      return { member, file, summary, error: undefined };
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      b.progress(`${s.spec.label}: ${member}: CPU profile ${file} unreadable: ${msg}`);
      return { member, file, summary: undefined, error: msg };
    }
  });
}

async function runOne(b: Bench, s: ServerState, w: Workload, round: number): Promise<void> {
  const { o, shape, progress } = b;
  const cluster = s.cluster;
  if (cluster === undefined) return;
  const tag = `${s.spec.label}: ${w.name}${o.rounds > 1 ? ` round ${round + 1}/${o.rounds}` : ""}`;
  const dead = cluster.exitedMember();
  if (dead !== undefined) {
    s.failures.set(w.name, `server exited: ${dead}`);
    return;
  }
  try {
    if (s.spec.auth) {
      // A fresh token per workload: a simple token lapses after 5 minutes unused.
      s.token = await authenticate(cluster.endpoints(), o.requestTimeout * 1000);
    }
    const token = s.token;
    if (needsData(w) && !s.filled) {
      if (s.fillError !== undefined) throw new Error(s.fillError);
      progress(`${s.spec.label}: filling ${shape.keySpace} keys`);
      try {
        await fillKeyspace(cluster.endpoints(), shape, o.transport, o.requestTimeout * 1000, FILL_TIMEOUT_MS, token);
      } catch (err) {
        s.fillError = err instanceof Error ? err.message : String(err);
        throw err;
      }
      s.filled = true;
    }
    if (w.op === "snapshot" || w.op === "range-all") {
      const run = w.op === "snapshot" ? await runSnapshotOne(b, s, tag, token) : await runRangeAllOne(b, s, tag, token);
      recordRun(s, w, run);
      progress(`${tag}: ${describeRun(w, run)}`);
      return;
    }
    let defragment: (() => Promise<DefragWindow>) | undefined;
    let defragConn: ReturnType<typeof openConnection> | undefined;
    if (w.op === "defrag") {
      // The Defragment goes to the first member (etcd defragments the member it is sent to).
      const ep = cluster.endpoints()[0]!;
      progress(`${s.spec.label}: ${w.name}: writing ${o.defragMb} MiB of ${o.defragValueSize}-byte values, deleting and compacting half`);
      const prep = await prepareDefrag(ep, o.defragMb, o.defragValueSize, o.keySize, o.requestTimeout * 1000, token);
      progress(`${s.spec.label}: ${w.name}: ${describePrep(prep)}`);
      const c = openConnection(ep);
      defragConn = c;
      await waitReady(c, o.requestTimeout * 1000);
      defragment = () => runDefragment(c, prep, o.requestTimeout * 1000, token);
    }
    progress(`${tag} (${describeLoad(w)})`);
    const run = await b.deps.runWorkload({
      endpoints: cluster.endpoints(),
      workload: w,
      shape: w.op === "defrag" ? defragShape(o.defragMb, o.defragValueSize, o.keySize) : shape,
      defragment,
      warmupMs: o.warmup * 1000,
      durationMs: o.duration * 1000,
      workers: o.workers,
      transport: o.transport,
      requestTimeoutMs: o.requestTimeout * 1000,
      connectTimeoutMs: o.startTimeout * 1000,
      maxRequests: o.maxRequests,
      seed: o.seed,
      serverCpuSeconds: () => cluster.cpuSeconds(),
      serverRssBytes: () => cluster.rssBytes(),
      token,
    }).finally(() => defragConn?.close());
    if (run.watch?.failure !== undefined) throw new Error(run.watch.failure);
    if (run.requests === 0) {
      const none = w.op === "watch" ? "no event received" : w.op === "lease-put" ? "no LeaseGrant+Put succeeded" : "no request succeeded";
      throw new Error(`${none}${run.firstError !== undefined ? `: ${run.firstError}` : ""}`);
    }
    recordRun(s, w, run);
    progress(`${tag}: ${describeRun(w, run)}`);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    s.failures.set(w.name, msg);
    progress(`${tag}: failed: ${msg}`);
  }
}

/** recordRun adds a successful round to the server's runs of workload w. */
function recordRun(s: ServerState, w: Workload, run: WorkloadRun): void {
  const list = s.runs.get(w.name) ?? [];
  list.push(run);
  s.runs.set(w.name, list);
}

/** FillOnce is a workload's fill, done before its first round: what it did, or why it failed. */
interface FillOnce<P> {
  prep: P | undefined;
  error: string | undefined;
}

/**
 * fillOnce returns the fill of slot, running fill first when no earlier round did (once per
 * server: later rounds reuse the data; a failed fill fails every round with its message).
 */
async function fillOnce<P>(slot: FillOnce<P>, fill: () => Promise<P>): Promise<P> {
  if (slot.prep !== undefined) return slot.prep;
  if (slot.error !== undefined) throw new Error(slot.error);
  try {
    slot.prep = await fill();
    return slot.prep;
  } catch (err) {
    slot.error = err instanceof Error ? err.message : String(err);
    throw err;
  }
}

/**
 * runSnapshotOne runs one round of the snapshot workload: before the first round it fills
 * the store through the first member (once per server: later rounds snapshot the same
 * data; a failed fill fails every round), then measures one Snapshot call to that member.
 */
async function runSnapshotOne(b: Bench, s: ServerState, tag: string, token: string | undefined): Promise<WorkloadRun> {
  const { o, progress } = b;
  const cluster = s.cluster!;
  const ep = cluster.endpoints()[0]!;
  const prep = await fillOnce(s.snapshotFill, async () => {
    const keys = snapshotKeys(o.snapshotMb, o.snapshotValueSize);
    progress(`${s.spec.label}: snapshot: writing ${o.snapshotMb} MiB of ${o.snapshotValueSize}-byte values (${keys} keys)`);
    const done = await prepareSnapshot(ep, o.snapshotMb, o.snapshotValueSize, o.keySize, o.requestTimeout * 1000, token);
    progress(`${s.spec.label}: snapshot: ${describeSnapshotPrep(done)}`);
    return done;
  });
  progress(`${tag} (one Maintenance.Snapshot stream from ${ep})`);
  return runSnapshotWorkload({
    endpoint: ep,
    prep,
    requestTimeoutMs: o.requestTimeout * 1000,
    callTimeoutMs: snapshotCallTimeoutMs(o.snapshotMb),
    token,
    serverCpuSeconds: () => cluster.cpuSeconds(),
    serverRssBytes: () => cluster.rssBytes(),
  });
}

/**
 * runRangeAllOne runs one round of the range-all workload: before the first round it fills
 * the store through the first member (once per server: later rounds read the same keys; a
 * failed fill fails every round), then measures one Range over the whole prefix sent to
 * that member, with the memory of every member process around it.
 */
async function runRangeAllOne(b: Bench, s: ServerState, tag: string, token: string | undefined): Promise<WorkloadRun> {
  const { o, progress } = b;
  const cluster = s.cluster!;
  const ep = cluster.endpoints()[0]!;
  const prep = await fillOnce(s.rangeAllFill, async () => {
    const keys = rangeAllKeys(o.rangeAllMb, o.rangeAllValueSize);
    progress(`${s.spec.label}: range-all: writing ${o.rangeAllMb} MiB of ${o.rangeAllValueSize}-byte values (${keys} keys)`);
    const done = await prepareRangeAll(ep, o.rangeAllMb, o.rangeAllValueSize, o.keySize, o.requestTimeout * 1000, token);
    progress(`${s.spec.label}: range-all: ${describeRangeAllPrep(done)}`);
    return done;
  });
  progress(`${tag} (one linearizable KV.Range over the ${prep.keys} keys of prefix "${RANGE_ALL_PREFIX}" from ${ep})`);
  return runRangeAllWorkload({
    endpoint: ep,
    prep,
    requestTimeoutMs: o.requestTimeout * 1000,
    callTimeoutMs: rangeAllCallTimeoutMs(o.rangeAllMb),
    token,
    serverCpuSeconds: () => cluster.cpuSeconds(),
    serverPids: () => cluster.pids(),
  });
}

/** describeLoad says how a workload's load is made, for the progress line. */
export function describeLoad(w: Workload): string {
  if (w.op === "snapshot") return "one Maintenance.Snapshot stream";
  if (w.op === "range-all") return "one linearizable KV.Range over the whole prefix";
  if (w.op === "watch") {
    return `${w.clients} watchers on ${w.conns} streams, ${w.writers ?? 0} put clients on ${w.writerConns ?? 0} conns`;
  }
  return `${w.clients} clients, ${w.conns} conns`;
}

/** mb formats a byte count in MiB. */
function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/** describePrep says what preparing a defrag workload did. */
export function describePrep(p: DefragPrep): string {
  return (
    `${p.keys} keys written in ${(p.fillMs / 1000).toFixed(1)} s, ${p.keys - p.keptKeys} deleted in ` +
    `${(p.deleteMs / 1000).toFixed(1)} s, compacted in ${(p.compactMs / 1000).toFixed(1)} s; db ${mb(p.dbSizeBefore)}`
  );
}

/** describeRun is a run's progress line: its figure, latencies, errors, and what its op adds. */
export function describeRun(w: Workload, run: WorkloadRun): string {
  const ra = run.rangeAll;
  if (ra !== undefined) {
    return `${ra.mibPerSec.toFixed(1)} MiB/s: ${ra.bytes} bytes, ${ra.kvs} kvs in ${(ra.durationMs / 1000).toFixed(2)} s; ${rangeAllMemoryText(ra)}`;
  }
  const sn = run.snapshot;
  if (sn !== undefined) {
    return (
      `${sn.mibPerSec.toFixed(1)} MiB/s: ${sn.bytes} bytes in ${sn.messages} messages in ${(sn.durationMs / 1000).toFixed(2)} s, ` +
      `first message after ${fmtMs(sn.firstByteMs)} ms (db ${mb(sn.dbSize)})`
    );
  }
  const unit = w.op === "watch" ? "events/s" : w.op === "lease-put" ? "ops/s" : "req/s";
  let line = `${run.throughput.toFixed(0)} ${unit}, p50 ${run.p50Ms.toFixed(3)} ms, p99 ${run.p99Ms.toFixed(3)} ms`;
  const d = run.watch;
  if (d !== undefined) {
    line +=
      ` (puts ${d.putThroughput.toFixed(0)}/s, put p50 ${d.putP50Ms.toFixed(3)} ms; ` +
      `${d.deliveredEvents}/${d.expectedEvents} events delivered, ${d.lostEvents} lost, ${d.duplicatedEvents} duplicated` +
      (d.unexpectedEvents > 0 ? `, ${d.unexpectedEvents} unexpected` : "") +
      (d.drainMs >= 0 ? `, all in ${d.drainMs.toFixed(0)} ms after the puts stopped)` : ")");
  }
  const l = run.lease;
  if (l !== undefined) {
    line += ` (${l.granted} leases granted, ${l.revoked} revoked after the run in ${(l.revokeMs / 1000).toFixed(1)} s` +
      (l.revokeErrors > 0 ? `, ${l.revokeErrors} revocations failed` : "") + ")";
  }
  const f = run.defrag;
  if (f !== undefined) {
    line +=
      ` (Defragment took ${(f.defragMs / 1000).toFixed(2)} s, db ${mb(f.dbSizeBefore)} -> ${mb(f.dbSizeAfter)}; ` +
      `worst write pause ${fmtMs(f.worstWritePauseMs)} ms; ${f.putThroughput.toFixed(0)} puts/s, ` +
      `${f.rangeThroughput.toFixed(0)} ranges/s; ${f.putsDuringDefrag} puts completed during it)`;
  }
  if (run.errors > 0) line += `, ${run.errors} errors (${run.firstError ?? ""})`;
  return line;
}

/** collect turns a workload's rounds on one server into its reported result. */
function collect(s: ServerState, w: Workload): WorkloadResult {
  const runs = s.runs.get(w.name) ?? [];
  const base = { workload: w.name, op: w.op, clients: w.clients, conns: w.conns };
  if (runs.length === 0) {
    return { ...base, ok: false, error: s.failures.get(w.name) ?? "not run", rounds: [], ...emptyRun() };
  }
  return { ...base, ok: true, error: undefined, rounds: runs, ...medianRun(runs) };
}

function emptyRun(): WorkloadRun {
  return {
    requests: 0,
    errors: 0,
    firstError: undefined,
    seconds: 0,
    throughput: 0,
    p50Ms: 0,
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
