import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { DEFRAG_SETUP_BUDGET_MS, defragDetail, type DefragDetail, type DefragWindow } from "./defrag.js";
import { LatencyHistogram } from "./histogram.js";
import { hostBusySeconds } from "./procstat.js";
import { LEASE_REVOKE_BUDGET_MS, type LeaseCounts } from "./lease-put.js";
import type { LoopResult } from "./loop.js";
import type { FromWorker, ToWorker, Transport, WorkerSetup } from "./protocol.js";
import type { RequestShape } from "./requests.js";
import type { RangeAllDetail } from "./range_all.js";
import type { SnapshotDetail } from "./snapshot.js";
import type { WatchCounts } from "./watch.js";
import type { Workload } from "./workload.js";

/** LoadShare is one worker thread's part of a workload. */
export interface LoadShare {
  /** conns is the number of connections this worker opens. */
  conns: number;
  /** clients is the number of closed-loop clients this worker runs. */
  clients: number;
  /** connOffset is the global index of this worker's first connection. */
  connOffset: number;
}

/**
 * splitLoad divides `clients` clients over `conns` connections (connection j gets
 * clients/conns, the first clients%conns one more) and the connections over at most
 * `workers` threads, contiguously. Every share has at least one connection and one client.
 */
export function splitLoad(clients: number, conns: number, workers: number): LoadShare[] {
  if (clients < 1 || conns < 1 || workers < 1 || conns > clients) {
    throw new Error(`bench: cannot split ${clients} clients over ${conns} conns and ${workers} workers`);
  }
  const n = Math.min(workers, conns);
  const shares: LoadShare[] = [];
  let conn = 0;
  for (let k = 0; k < n; k++) {
    const kConns = Math.floor(conns / n) + (k < conns % n ? 1 : 0);
    let kClients = 0;
    for (let j = conn; j < conn + kConns; j++) {
      kClients += Math.floor(clients / conns) + (j < clients % conns ? 1 : 0);
    }
    shares.push({ conns: kConns, clients: kClients, connOffset: conn });
    conn += kConns;
  }
  return shares;
}

/**
 * GeneratorThread is one load-generator worker thread and the queue of messages it has
 * posted. Every wait is bounded; a crashed or exited worker fails every wait.
 */
class GeneratorThread {
  private readonly worker: Worker;
  private readonly inbox: FromWorker[] = [];
  private waiter: ((m: FromWorker | Error) => void) | undefined;
  private failure: Error | undefined;

  constructor() {
    this.worker = new Worker(new URL("./worker.js", import.meta.url));
    this.worker.on("message", (m: FromWorker) => this.deliver(m));
    this.worker.on("error", (err) => this.fail(new Error(`bench: load generator thread failed: ${err.message}`)));
    this.worker.on("exit", (code) => this.fail(new Error(`bench: load generator thread exited (code ${code})`)));
  }

  send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  /** next resolves with the worker's next message of type `type`; an "error" message rejects. */
  async next<T extends FromWorker["type"]>(type: T, timeoutMs: number, what: string): Promise<Extract<FromWorker, { type: T }>> {
    const m = await this.take(timeoutMs, what);
    if (m.type === "error") throw new Error(m.message);
    if (m.type !== type) throw new Error(`bench: load generator sent "${m.type}" while ${what}`);
    return m as Extract<FromWorker, { type: T }>;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private take(timeoutMs: number, what: string): Promise<FromWorker> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`bench: load generator timed out after ${timeoutMs} ms ${what}`));
      }, timeoutMs);
      this.waiter = (m) => {
        clearTimeout(timer);
        this.waiter = undefined;
        if (m instanceof Error) reject(m);
        else resolve(m);
      };
    });
  }

  private deliver(m: FromWorker): void {
    if (this.waiter !== undefined) this.waiter(m);
    else this.inbox.push(m);
  }

  private fail(err: Error): void {
    if (this.failure === undefined) this.failure = err;
    this.waiter?.(this.failure);
  }
}

/** RunSpec describes one workload run against a set of endpoints. */
export interface RunSpec {
  /** endpoints are "127.0.0.1:PORT" client addresses; connections are spread round-robin. */
  endpoints: string[];
  workload: Workload;
  shape: RequestShape;
  warmupMs: number;
  durationMs: number;
  workers: number;
  transport: Transport;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  maxRequests: number;
  seed: number;
  /** serverCpuSeconds samples the CPU time the servers under test have used so far. */
  serverCpuSeconds: () => number;
  /**
   * serverRssBytes samples the servers' resident set size (all members), in bytes;
   * undefined when it cannot be read. It is read right after the measured window.
   */
  serverRssBytes?: (() => number | undefined) | undefined;
  /** token is the auth token every request carries (--auth); undefined sends none. */
  token: string | undefined;
  /**
   * defragment, when set, is run in place of the measured durationMs (the defrag
   * workload): the measured window lasts as long as it does.
   */
  defragment?: (() => Promise<DefragWindow>) | undefined;
}

/**
 * WatchDetail is what a watch run measured beyond its events. Latencies are in
 * milliseconds; event counts are over the whole run (warm-up and drain included).
 */
export interface WatchDetail {
  watchers: number;
  streams: number;
  writers: number;
  /** puts, putErrors, putThroughput, putP50Ms and putP99Ms are the writers' figures in the window. */
  puts: number;
  putErrors: number;
  putThroughput: number;
  putP50Ms: number;
  putP99Ms: number;
  /** expectedEvents is acknowledged puts x watchers. */
  expectedEvents: number;
  deliveredEvents: number;
  lostEvents: number;
  duplicatedEvents: number;
  unexpectedEvents: number;
  /** drainMs is how long after the puts stopped every watcher had every event (-1: not within the bound). */
  drainMs: number;
  /** failure is why the watch part failed (a stream ended, a watcher was cancelled), if it did. */
  failure: string | undefined;
}

/** WorkloadRun is what one workload run measured. Latencies are in milliseconds. */
export interface WorkloadRun {
  /**
   * requests and errors count completions inside the measured window: requests for KV
   * workloads, LeaseGrant+Put pairs for lease-put, events received by the watchers for
   * watch (whose errors add every lost, duplicated or unexpected event of the run).
   */
  requests: number;
  errors: number;
  firstError: string | undefined;
  /** seconds is the measured window's length. */
  seconds: number;
  /** throughput is successful operations (requests, pairs, events) per second. */
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** serverCpuCores is the servers' CPU time divided by the window (1.0 = one core busy). */
  serverCpuCores: number;
  /**
   * serverCpuSecondsPer1k is the servers' CPU time in the window, in seconds, per 1,000 of
   * the operations throughput counts (requests; lease-put pairs; watch events; snapshot
   * and range-all MiB): serverCpuCores / throughput x 1000; 0 without any.
   */
  serverCpuSecondsPer1k: number;
  /** generatorCpuCores is this process's CPU time (all threads) divided by the window. */
  generatorCpuCores: number;
  /** otherCpuCores is the rest of the machine's busy CPU time divided by the window (0 without /proc). */
  otherCpuCores: number;
  /** hitMaxRequests is true when a worker stopped early at its request bound. */
  hitMaxRequests: boolean;
  /**
   * rssBytes is the servers' resident set size (VmRSS summed over the members), in bytes,
   * read right after the measured window; absent when it could not be read.
   */
  rssBytes?: number;
  /** watch holds a watch run's details. */
  watch?: WatchDetail;
  /** lease holds a lease-put run's lease accounting (revocation after the run). */
  lease?: LeaseCounts;
  /** defrag holds a defrag run's Defragment duration, worst write pause and preparation. */
  defrag?: DefragDetail;
  /** snapshot holds a snapshot run's bytes, durations and fill (its throughput is MiB/s). */
  snapshot?: SnapshotDetail;
  /** rangeAll holds a range-all run's response, duration, servers' memory and fill (its throughput is MiB/s). */
  rangeAll?: RangeAllDetail;
}

/** DRAIN_GRACE_MS is added to the request deadline when waiting for workers to finish. */
const DRAIN_GRACE_MS = 5000;

/**
 * drainBoundMs is how long a workload may take after "stop" to post its result: the
 * request deadline; for watch also the wait for the watchers to catch up (one more
 * deadline); for lease-put also the revocation budget.
 */
export function drainBoundMs(w: Workload, requestTimeoutMs: number): number {
  const extra = w.op === "watch" ? requestTimeoutMs : w.op === "lease-put" ? LEASE_REVOKE_BUDGET_MS : 0;
  return requestTimeoutMs + extra + DRAIN_GRACE_MS;
}

/**
 * setupBoundMs is how long a workload's generator threads may take to get ready (encode
 * their requests and connect): the connect timeout, plus DEFRAG_SETUP_BUDGET_MS for defrag,
 * whose requests cover every kept key of --defrag-mb.
 */
export function setupBoundMs(w: Workload, connectTimeoutMs: number): number {
  return connectTimeoutMs + DRAIN_GRACE_MS + (w.op === "defrag" ? DEFRAG_SETUP_BUDGET_MS : 0);
}

/**
 * sharesFor splits a workload over the generator threads. A watch workload stays in one
 * thread: its put clients and watchers must share a clock and the delivery ledger; so
 * does a defrag workload, whose put completions form one log.
 */
export function sharesFor(w: Workload, workers: number): LoadShare[] {
  if (w.op === "watch" || w.op === "defrag") return [{ conns: w.conns, clients: w.clients, connOffset: 0 }];
  return splitLoad(w.clients, w.conns, workers);
}

/**
 * runWorkload spawns the load-generator threads, warms up for warmupMs, measures for
 * durationMs, and merges the threads' counts. Every step is bounded by a timeout; the
 * threads are always terminated.
 */
export async function runWorkload(spec: RunSpec): Promise<WorkloadRun> {
  const { workload } = spec;
  const shares = sharesFor(workload, spec.workers);
  const threads = shares.map(() => new GeneratorThread());
  try {
    shares.forEach((s, k) => threads[k]!.send(setupFor(spec, s, k, "random")));
    await Promise.all(threads.map((t) => t.next("ready", setupBoundMs(workload, spec.connectTimeoutMs), "connecting")));
    for (const t of threads) t.send({ type: "start" });
    await sleep(spec.warmupMs);
    for (const t of threads) t.send({ type: "measure" });
    const cpu0 = process.cpuUsage();
    const srv0 = spec.serverCpuSeconds();
    const host0 = hostBusySeconds();
    const t0 = performance.now();
    let window: DefragWindow | undefined;
    if (spec.defragment !== undefined) window = await spec.defragment();
    else await sleep(spec.durationMs);
    for (const t of threads) t.send({ type: "stop" });
    const wallSec = (performance.now() - t0) / 1000;
    const srv1 = spec.serverCpuSeconds();
    const rss = spec.serverRssBytes?.();
    const host1 = hostBusySeconds();
    const cpu = process.cpuUsage(cpu0);
    const results = await Promise.all(
      threads.map((t) => t.next("result", drainBoundMs(workload, spec.requestTimeoutMs), "draining")),
    );
    const serverCores = (srv1 - srv0) / wallSec;
    const generatorCores = (cpu.user + cpu.system) / 1e6 / wallSec;
    const hostCores = host0 !== undefined && host1 !== undefined ? (host1 - host0) / wallSec : undefined;
    const run = summarize(
      results.flatMap((r) => (r.defrag !== undefined ? [r.result, r.defrag.ranges] : [r.result])),
      serverCores,
      generatorCores,
      hostCores === undefined ? 0 : Math.max(0, hostCores - serverCores - generatorCores),
    );
    if (rss !== undefined) run.rssBytes = rss;
    const watch = results.find((r) => r.watch !== undefined)?.watch;
    if (watch !== undefined) run.watch = watchDetail(watch);
    const leases = results.flatMap((r) => (r.lease !== undefined ? [r.lease] : []));
    if (leases.length > 0) run.lease = mergeLeaseCounts(leases);
    const d = results.find((r) => r.defrag !== undefined);
    if (window !== undefined && d?.defrag !== undefined) {
      const puts = summarize([d.result], 0, 0, 0);
      const ranges = summarize([d.defrag.ranges], 0, 0, 0);
      run.defrag = defragDetail(window, d.defrag.putCompletions, puts, ranges);
    }
    return run;
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
}

/**
 * fillKeyspace puts every key of the keyspace once (100 clients over 10 connections), so
 * range workloads read existing keys; each put carries `token` when given (--auth).
 * Rejects if any put fails or it takes over timeoutMs.
 */
export async function fillKeyspace(
  endpoints: string[],
  shape: RequestShape,
  transport: Transport,
  requestTimeoutMs: number,
  timeoutMs: number,
  token?: string,
): Promise<void> {
  const t = new GeneratorThread();
  try {
    const setup: WorkerSetup = {
      type: "setup",
      endpoints,
      transport,
      conns: Math.min(10, shape.keySpace),
      connOffset: 0,
      clients: Math.min(100, shape.keySpace),
      op: "put",
      writers: 0,
      writerConns: 0,
      shape,
      mode: "sequential",
      seed: 1,
      requestTimeoutMs,
      connectTimeoutMs: requestTimeoutMs,
      maxRequests: shape.keySpace,
      token,
    };
    t.send(setup);
    await t.next("ready", requestTimeoutMs + DRAIN_GRACE_MS, "connecting to fill the keyspace");
    t.send({ type: "start" });
    const { result } = await t.next("result", timeoutMs, "filling the keyspace");
    if (result.totalErrors > 0 || result.totalOk !== shape.keySpace) {
      throw new Error(
        `bench: filling the keyspace: ${result.totalOk}/${shape.keySpace} puts succeeded` +
          (result.firstError !== undefined ? ` (${result.firstError})` : ""),
      );
    }
  } finally {
    await t.terminate();
  }
}

function setupFor(spec: RunSpec, share: LoadShare, k: number, mode: "random" | "sequential"): WorkerSetup {
  return {
    type: "setup",
    endpoints: spec.endpoints,
    transport: spec.transport,
    conns: share.conns,
    connOffset: share.connOffset,
    clients: share.clients,
    op: spec.workload.op,
    writers: spec.workload.writers ?? 0,
    writerConns: spec.workload.writerConns ?? 0,
    shape: spec.shape,
    mode,
    seed: (spec.seed + k * 7919) >>> 0,
    requestTimeoutMs: spec.requestTimeoutMs,
    connectTimeoutMs: spec.connectTimeoutMs,
    maxRequests: Math.max(1, Math.floor((spec.maxRequests * share.clients) / spec.workload.clients)),
    token: spec.token,
  };
}

/** watchDetail turns a watch run's counts into its reported details. */
export function watchDetail(w: WatchCounts): WatchDetail {
  const h = new LatencyHistogram();
  h.merge(w.putHistogram);
  const sec = w.putMeasuredMs / 1000;
  return {
    watchers: w.watchers,
    streams: w.streams,
    writers: w.writers,
    puts: w.puts,
    putErrors: w.putErrors,
    putThroughput: sec > 0 ? w.puts / sec : 0,
    putP50Ms: h.percentile(0.5) / 1000,
    putP99Ms: h.percentile(0.99) / 1000,
    expectedEvents: w.tally.expected,
    deliveredEvents: w.tally.delivered,
    lostEvents: w.tally.lost,
    duplicatedEvents: w.tally.duplicated,
    unexpectedEvents: w.tally.unexpected + w.tally.untrackedAcks,
    drainMs: w.drainMs,
    failure: w.failure,
  };
}

/** mergeLeaseCounts adds the threads' lease counts (revocation time: the longest). */
export function mergeLeaseCounts(counts: readonly LeaseCounts[]): LeaseCounts {
  return counts.reduce(
    (a, c) => ({
      granted: a.granted + c.granted,
      revoked: a.revoked + c.revoked,
      revokeErrors: a.revokeErrors + c.revokeErrors,
      revokeMs: Math.max(a.revokeMs, c.revokeMs),
    }),
    { granted: 0, revoked: 0, revokeErrors: 0, revokeMs: 0 },
  );
}

/**
 * cpuSecondsPer1k is the server CPU time per 1,000 operations, in seconds, from the CPU
 * time / wall time of a window and the operations per second in it (0 without any): the
 * same as CPU seconds in the window / operations x 1000.
 */
export function cpuSecondsPer1k(serverCpuCores: number, throughput: number): number {
  return throughput > 0 ? (serverCpuCores / throughput) * 1000 : 0;
}

/** summarize merges the per-thread loop results into one WorkloadRun. */
export function summarize(
  results: readonly LoopResult[],
  serverCpuCores: number,
  generatorCpuCores: number,
  otherCpuCores: number,
): WorkloadRun {
  const h = new LatencyHistogram();
  let requests = 0;
  let errors = 0;
  let ms = 0;
  let firstError: string | undefined;
  let hitMax = false;
  for (const r of results) {
    h.merge(r.histogram);
    requests += r.ok;
    errors += r.errors;
    ms += r.measuredMs;
    firstError ??= r.firstError;
    hitMax ||= r.hitMaxRequests;
  }
  const seconds = results.length === 0 ? 0 : ms / results.length / 1000;
  const throughput = seconds > 0 ? requests / seconds : 0;
  return {
    requests,
    errors,
    firstError,
    seconds,
    throughput,
    p50Ms: h.percentile(0.5) / 1000,
    p99Ms: h.percentile(0.99) / 1000,
    meanMs: h.mean() / 1000,
    maxMs: h.max / 1000,
    serverCpuCores,
    serverCpuSecondsPer1k: cpuSecondsPer1k(serverCpuCores, throughput),
    generatorCpuCores,
    otherCpuCores,
    hitMaxRequests: hitMax,
  };
}
