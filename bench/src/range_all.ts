/**
 * range_all.ts is the range-all workload: how fast a member answers one large Range, and
 * how much memory the servers take on while serving it. Before the run the store is filled
 * with `--range-all-mb` MiB of values (`--range-all-value-size` bytes each, distinct keys
 * under RANGE_ALL_PREFIX, written by Txns of DEFRAG_TXN_OPS puts, as the snapshot fill
 * does); then one linearizable KV.Range over the whole prefix is sent to the first member
 * on a connection without grpc-js's receive limit (the answer is about --range-all-mb MiB)
 * and measured: the time to the whole response, its bytes, and its kvs, scanned from the
 * wire bytes (never decoded into objects), which must be exactly the keys filled. Around
 * the call every server process's peak RSS (VmHWM) is reset (/proc/<pid>/clear_refs) and
 * read back: the extra memory while serving it is the summed peak minus the summed RSS
 * just before the call.
 */
import { performance } from "node:perf_hooks";
import type * as grpc from "@grpc/grpc-js";
import type { WorkloadRun } from "./generator.js";
import { openConnection, unaryOnce, UNLIMITED_RECEIVE, waitReady } from "./grpc-caller.js";
import { PbReader, WIRE_LEN, WIRE_VARINT } from "./pb.js";
import { hostBusySeconds, processPeakRssBytes, processRssBytes, resetPeakRss } from "./procstat.js";
import { encodePrefixRange, RANGE_ALL_PREFIX, RANGE_PATH } from "./requests.js";
import { fmtDuration, fmtMiB, oneCallRun, prepareFill, snapshotKeys, snapshotPrepBudgetMs, type SnapshotCores } from "./snapshot.js";

/** DEFAULT_RANGE_ALL_MB is how many MiB of values the range-all workload writes before the run. */
export const DEFAULT_RANGE_ALL_MB = 80;
/** DEFAULT_RANGE_ALL_VALUE_SIZE is the value size of the range-all workload's fill, in bytes. */
export const DEFAULT_RANGE_ALL_VALUE_SIZE = 1024;

/** rangeAllPrepBudgetMs bounds the fill: 60 s plus 0.75 s per MiB (as the snapshot fill's). */
export function rangeAllPrepBudgetMs(megabytes: number): number {
  return snapshotPrepBudgetMs(megabytes);
}

/** rangeAllCallTimeoutMs is the Range call's deadline: 60 s plus 0.5 s per MiB (2 MiB/s at least). */
export function rangeAllCallTimeoutMs(megabytes: number): number {
  return 60_000 + megabytes * 500;
}

/** rangeAllKeys is how many keys the fill writes: megabytes of valueSize-byte values, at least one. */
export function rangeAllKeys(megabytes: number, valueSize: number): number {
  return snapshotKeys(megabytes, valueSize);
}

/** RangeAllPrep is what filling the store did (once per server; later rounds reuse it). */
export interface RangeAllPrep {
  /** keys distinct keys of valueSize bytes each were written, in fillMs. */
  keys: number;
  valueSize: number;
  fillMs: number;
}

/** RangeScan is what scanRangeResponse found in one RangeResponse. */
export interface RangeScan {
  /** kvs counts the KeyValues (field 2) the response holds. */
  kvs: number;
  /** count is the response's count (field 4): the keys in the range. */
  count: number;
  /** more is the response's more (field 3): keys left out by a limit. */
  more: boolean;
}

/**
 * scanRangeResponse counts the kvs of one RangeResponse and reads its count and more
 * straight from the wire bytes (the header and the KeyValues themselves are skipped).
 * Throws "pb: ..." on a malformed message.
 */
export function scanRangeResponse(msg: Uint8Array): RangeScan {
  const out: RangeScan = { kvs: 0, count: 0, more: false };
  const r = new PbReader(msg, 0, msg.length);
  while (r.next()) {
    if (r.field === 2 && r.wire === WIRE_LEN) {
      r.len();
      out.kvs++;
    } else if (r.field === 3 && r.wire === WIRE_VARINT) {
      out.more = r.varint() !== 0;
    } else if (r.field === 4 && r.wire === WIRE_VARINT) {
      out.count = r.varint();
    }
  }
  return out;
}

/**
 * rangeAllProblem says why a scanned response is not the whole prefix of `keys` keys, or
 * undefined when it is: exactly `keys` kvs, a count of `keys`, and more unset.
 */
export function rangeAllProblem(scan: RangeScan, keys: number): string | undefined {
  if (scan.kvs !== keys) return `the response holds ${scan.kvs} kvs, not the ${keys} keys filled`;
  if (scan.count !== keys) return `its count is ${scan.count}, not the ${keys} keys filled`;
  if (scan.more) return "it says more keys follow (more = true), though no limit was set";
  return undefined;
}

/** RangeAllCall is what one Range call measured. */
export interface RangeAllCall {
  /** durationMs is from sending the call to its whole response received (ms). */
  durationMs: number;
  /** bytes is the RangeResponse's size (the gRPC message, without its 5-byte frame). */
  bytes: number;
  /** kvs and count are what the response held (kvs) and said (count). */
  kvs: number;
  count: number;
}

/**
 * rangeAllCall sends one linearizable Range over every key under prefix (with `token` in
 * its metadata when given) through c, a connection already up whose receive limit lets the
 * response through, times it to the whole response, then scans the response and drops it.
 * Rejects with the server's status text when the call fails, and when the response is not
 * exactly the `expectedKeys` keys filled (rangeAllProblem). `now` is the clock (ms).
 */
export async function rangeAllCall(
  c: grpc.Client,
  prefix: string,
  expectedKeys: number,
  timeoutMs: number,
  token?: string,
  now: () => number = () => performance.now(),
): Promise<RangeAllCall> {
  const what = `bench: Range over prefix "${prefix}"`;
  const request = encodePrefixRange(prefix);
  const start = now();
  let res: Buffer;
  try {
    res = await unaryOnce(c, RANGE_PATH, request, timeoutMs, token);
  } catch (err) {
    throw new Error(`${what} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const durationMs = now() - start;
  let scan: RangeScan;
  try {
    scan = scanRangeResponse(res);
  } catch (e) {
    throw new Error(`${what}: bad RangeResponse of ${res.length} B: ${e instanceof Error ? e.message : String(e)}`);
  }
  const problem = rangeAllProblem(scan, expectedKeys);
  if (problem !== undefined) throw new Error(`${what}: ${problem}`);
  return { durationMs, bytes: res.length, kvs: scan.kvs, count: scan.count };
}

/** ProcMemory reads and resets the memory figures of a process: /proc (PROC_MEMORY) or a test's stand-in. */
export interface ProcMemory {
  /** resetPeak resets pid's peak RSS to its current RSS; false when it cannot. */
  resetPeak: (pid: number) => boolean;
  /** rss reads pid's resident set size (VmRSS), in bytes; undefined when unreadable. */
  rss: (pid: number) => number | undefined;
  /** peak reads pid's peak resident set size (VmHWM), in bytes; undefined when unreadable. */
  peak: (pid: number) => number | undefined;
}

/** PROC_MEMORY is ProcMemory through Linux's /proc (procstat.ts). */
export const PROC_MEMORY: Readonly<ProcMemory> = { resetPeak: resetPeakRss, rss: processRssBytes, peak: processPeakRssBytes };

/** sumOver sums f over pids (bytes); null when there is no pid or any value is unreadable. */
export function sumOver(pids: readonly number[], f: (pid: number) => number | undefined): number | null {
  if (pids.length === 0) return null;
  let sum = 0;
  for (const pid of pids) {
    const v = f(pid);
    if (v === undefined) return null;
    sum += v;
  }
  return sum;
}

/** MemoryBefore is what memoryBefore did and read just before the call. */
export interface MemoryBefore {
  pids: readonly number[];
  /** peakReset is true when every process's peak RSS was reset. */
  peakReset: boolean;
  /** rssBytes is the processes' summed RSS right after the reset, in bytes (null: unreadable). */
  rssBytes: number | null;
}

/**
 * memoryBefore resets the peak RSS of every process in pids (trying them all even after one
 * fails), then reads their summed RSS.
 */
export function memoryBefore(pids: readonly number[], io: Readonly<ProcMemory> = PROC_MEMORY): MemoryBefore {
  let peakReset = pids.length > 0;
  for (const pid of pids) if (!io.resetPeak(pid)) peakReset = false;
  return { pids: [...pids], peakReset, rssBytes: sumOver(pids, io.rss) };
}

/**
 * RangeAllMemory is the servers' memory around the call, summed over their processes, in
 * bytes; null where unknown.
 */
export interface RangeAllMemory {
  /** peakReset is false when a peak RSS could not be reset (no clear_refs): peak and extra are then unknown. */
  peakReset: boolean;
  /** rssBeforeBytes is the RSS just before the call. */
  rssBeforeBytes: number | null;
  /** peakBytes is the peak RSS (VmHWM) from just before the call to just after it. */
  peakBytes: number | null;
  /** rssAfterBytes is the RSS just after the call. */
  rssAfterBytes: number | null;
  /** extraBytes is peakBytes - rssBeforeBytes: the memory serving the call took on at most. */
  extraBytes: number | null;
}

/**
 * memoryAfter reads, after the call, the peak RSS since memoryBefore and the RSS now of
 * the same processes. Without a reset peak the peak and the extra are unknown (null): a
 * VmHWM never reset is the process's lifetime peak, not the call's.
 */
export function memoryAfter(before: MemoryBefore, io: Readonly<ProcMemory> = PROC_MEMORY): RangeAllMemory {
  const peakBytes = before.peakReset ? sumOver(before.pids, io.peak) : null;
  const rssAfterBytes = sumOver(before.pids, io.rss);
  const extraBytes = peakBytes !== null && before.rssBytes !== null ? peakBytes - before.rssBytes : null;
  return { peakReset: before.peakReset, rssBeforeBytes: before.rssBytes, peakBytes, rssAfterBytes, extraBytes };
}

/** RangeAllDetail is what a range-all run reports beyond its row (MiB/s and duration). */
export interface RangeAllDetail extends RangeAllPrep, RangeAllCall, RangeAllMemory {
  /** mibPerSec is bytes / durationMs, in MiB (2^20 bytes) per second. */
  mibPerSec: number;
}

/**
 * rangeAllRun is a range-all run's WorkloadRun: one operation (the call), the response's
 * MiB/s in the ops/s place, the call's duration as every latency, the RSS after the call
 * as its rssBytes, and the detail.
 */
export function rangeAllRun(prep: RangeAllPrep, call: RangeAllCall, memory: RangeAllMemory, cores: SnapshotCores): WorkloadRun {
  const run = oneCallRun(call.durationMs, call.bytes, cores);
  run.rangeAll = { ...prep, ...call, ...memory, mibPerSec: run.throughput };
  if (memory.rssAfterBytes !== null) run.rssBytes = memory.rssAfterBytes;
  return run;
}

/**
 * prepareRangeAll fills the store through `endpoint` with rangeAllKeys(megabytes,
 * valueSize) distinct keys under RANGE_ALL_PREFIX (Txns of puts over two connections);
 * every call carries `token` when given (--auth). Rejects on any failure or after
 * rangeAllPrepBudgetMs(megabytes) (snapshot.ts prepareFill).
 */
export function prepareRangeAll(
  endpoint: string,
  megabytes: number,
  valueSize: number,
  keySize: number,
  requestTimeoutMs: number,
  token?: string,
): Promise<RangeAllPrep> {
  return prepareFill("range-all", RANGE_ALL_PREFIX, endpoint, megabytes, valueSize, keySize, requestTimeoutMs, token);
}

/** RangeAllSpec is one measured range-all run. */
export interface RangeAllSpec {
  /** endpoint is the member asked for the range ("127.0.0.1:PORT"). */
  endpoint: string;
  prep: RangeAllPrep;
  requestTimeoutMs: number;
  callTimeoutMs: number;
  token: string | undefined;
  /** serverCpuSeconds samples the CPU time the servers under test have used so far. */
  serverCpuSeconds: () => number;
  /** serverPids lists the server processes whose memory is measured (every live member). */
  serverPids: () => number[];
  /** memory reads and resets their memory figures (default PROC_MEMORY). */
  memory?: Readonly<ProcMemory>;
}

/**
 * runRangeAllWorkload connects to the member (not timed, no receive limit), resets the
 * servers' peak RSS and reads their RSS, then measures one Range over the whole prefix and
 * the CPU the servers, this process and the rest of the machine used during it, and reads
 * the servers' peak RSS and RSS after it. Rejects if the call fails or its response is not
 * exactly the keys filled.
 */
export async function runRangeAllWorkload(spec: RangeAllSpec): Promise<WorkloadRun> {
  const io = spec.memory ?? PROC_MEMORY;
  const c = openConnection(spec.endpoint, UNLIMITED_RECEIVE);
  try {
    await waitReady(c, spec.requestTimeoutMs);
    const before = memoryBefore(spec.serverPids(), io);
    const cpu0 = process.cpuUsage();
    const srv0 = spec.serverCpuSeconds();
    const host0 = hostBusySeconds();
    const t0 = performance.now();
    const call = await rangeAllCall(c, RANGE_ALL_PREFIX, spec.prep.keys, spec.callTimeoutMs, spec.token);
    const wallSec = Math.max(1e-6, (performance.now() - t0) / 1000);
    const srv = (spec.serverCpuSeconds() - srv0) / wallSec;
    const memory = memoryAfter(before, io);
    const host1 = hostBusySeconds();
    const cpu = process.cpuUsage(cpu0);
    const gen = (cpu.user + cpu.system) / 1e6 / wallSec;
    const other = host0 !== undefined && host1 !== undefined ? Math.max(0, (host1 - host0) / wallSec - srv - gen) : 0;
    return rangeAllRun(spec.prep, call, memory, { server: srv, generator: gen, other });
  } finally {
    c.close();
  }
}

/** describeRangeAllPrep says what filling the store for a range-all workload did. */
export function describeRangeAllPrep(p: RangeAllPrep): string {
  return `${p.keys} keys of ${p.valueSize} B written in ${(p.fillMs / 1000).toFixed(1)} s`;
}

/** fmtMiBOrUnknown formats a byte count in MiB with one decimal; null is "unknown". */
function fmtMiBOrUnknown(bytes: number | null): string {
  return bytes === null ? "unknown" : fmtMiB(bytes);
}

/**
 * rangeAllMemoryText says what the servers' memory did around the call: the extra at the
 * peak over the RSS before, and the RSS before and after (MiB = 2^20 bytes).
 */
export function rangeAllMemoryText(m: RangeAllMemory): string {
  const rss = `rss ${fmtMiBOrUnknown(m.rssBeforeBytes)} before, ${fmtMiBOrUnknown(m.rssAfterBytes)} after`;
  if (!m.peakReset) return `server extra memory unknown (peak RSS could not be reset through /proc/<pid>/clear_refs); ${rss}`;
  if (m.extraBytes === null) return `server extra memory unknown (RSS or peak RSS unreadable); ${rss}`;
  const sign = m.extraBytes < 0 ? "-" : "+";
  return `server extra memory ${sign}${fmtMiB(Math.abs(m.extraBytes))} at the peak (peak ${fmtMiBOrUnknown(m.peakBytes)}); ${rss}`;
}

/**
 * rangeAllNote is the line under the table for one server's range-all result: the
 * response's size and kvs, the call's duration and throughput, the servers' memory around
 * it, and the fill it read.
 */
export function rangeAllNote(workload: string, server: string, d: RangeAllDetail): string {
  return (
    `${workload} ${server}: ${fmtMiB(d.bytes)} (${d.bytes} B, ${d.kvs} kvs) in ${fmtDuration(d.durationMs)}, ` +
    `${d.mibPerSec.toFixed(1)} MiB/s; ${rangeAllMemoryText(d)}; ` +
    `before it: ${d.keys} keys of ${d.valueSize} B written in ${(d.fillMs / 1000).toFixed(1)} s`
  );
}
