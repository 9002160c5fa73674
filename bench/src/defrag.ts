/**
 * defrag.ts is the defrag workload: how much a Maintenance.Defragment holds up the
 * clients. Before the run the store is filled with `--defrag-mb` of values
 * (`--defrag-value-size` bytes each, written by Txns of DEFRAG_TXN_OPS puts), the upper
 * half of those keys is deleted and the store compacted at that revision (physical, so the
 * compaction has finished), which leaves free space to defragment. Then half the clients
 * put and half read (linearizable) the kept keys while one Defragment runs; the measured
 * window is the Defragment call. Every successful put's completion time is logged, on a
 * clock both threads share, to find the longest time no write completed during it.
 */
import { performance } from "node:perf_hooks";
import { etcdserverpb } from "@etcd-ts/proto";
import type * as grpc from "@grpc/grpc-js";
import { openConnection, unaryOnce, waitReady } from "./grpc-caller.js";
import type { LoopResult, UnaryCaller } from "./loop.js";
import { headerRevision } from "./pb.js";
import {
  COMPACT_PATH,
  DEFRAG_PREFIX,
  DEFRAGMENT_PATH,
  DELETE_RANGE_PATH,
  encodeCompact,
  encodeDeleteFrom,
  encodeFillTxn,
  STATUS_PATH,
  TXN_PATH,
  type RequestShape,
} from "./requests.js";

/** DEFAULT_DEFRAG_MB is how many MiB of values the defrag workload writes before the run. */
export const DEFAULT_DEFRAG_MB = 256;
/** DEFAULT_DEFRAG_VALUE_SIZE is the defrag workload's value size (fill and load). */
export const DEFAULT_DEFRAG_VALUE_SIZE = 1024;
/** DEFRAG_TXN_OPS is the number of puts per fill Txn (etcd's --max-txn-ops is 128). */
export const DEFRAG_TXN_OPS = 64;
/** DEFRAG_FILL_INFLIGHT is the number of fill Txns outstanding at once. */
const DEFRAG_FILL_INFLIGHT = 8;
/** DEFRAG_PREP_BUDGET_MS bounds the whole preparation (fill, delete, compact). */
export const DEFRAG_PREP_BUDGET_MS = 240_000;
/**
 * DEFRAG_SETUP_BUDGET_MS is the extra time a defrag workload's generator thread may take to
 * get ready: it pre-encodes a Put and a Range for every kept key (half a million each at
 * 1024 MiB, about 30 s on a busy two-core machine) before it connects.
 */
export const DEFRAG_SETUP_BUDGET_MS = 120_000;
/** DEFRAG_CALL_TIMEOUT_MS is the deadline of the Defragment call (and of delete and compact). */
export const DEFRAG_CALL_TIMEOUT_MS = 120_000;

/** wallNow is a millisecond clock shared by every thread of the process (performance.now() is per thread). */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** defragKeys returns how many keys the fill writes and how many are kept (the lower half). */
export function defragKeys(megabytes: number, valueSize: number): { keys: number; kept: number } {
  const keys = Math.max(2, Math.floor((megabytes * 1024 * 1024) / Math.max(1, valueSize)));
  return { keys, kept: Math.floor(keys / 2) };
}

/** defragShape is the shape of the defrag run's load: the kept keys, the defrag value size. */
export function defragShape(megabytes: number, valueSize: number, keySize: number): RequestShape {
  return { keySpace: defragKeys(megabytes, valueSize).kept, keySize, valueSize };
}

/**
 * CompletionLog records completion times (wallNow() ms) in one growing Float64Array while
 * it is on; appends are in time order since one thread's clock only moves forward.
 */
export class CompletionLog {
  private buf = new Float64Array(1 << 14);
  count = 0;
  on = false;

  add(t: number): void {
    if (!this.on) return;
    if (this.count === this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.count++] = t;
  }

  /** times returns a copy of the recorded times. */
  times(): Float64Array {
    return this.buf.slice(0, this.count);
  }
}

/** loggingCaller wraps call so each success is logged (at its completion) before done runs. */
export function loggingCaller(call: UnaryCaller, log: CompletionLog, now: () => number = wallNow): UnaryCaller {
  return (req, done) =>
    call(req, (err) => {
      if (err === null) log.add(now());
      done(err);
    });
}

/**
 * worstPause returns the longest stretch of [start, end] in which no write completed:
 * the largest gap between consecutive completion times, counting start as a completion
 * and following past end to the first completion after it (a write held until after the
 * window ends paused writes until then); when none came after end, the last gap ends at
 * end. `times` must be ascending.
 */
export function worstPause(times: ArrayLike<number>, start: number, end: number): number {
  let prev = start;
  let worst = 0;
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    if (t <= start) continue;
    worst = Math.max(worst, t - prev);
    prev = t;
    if (t >= end) return worst;
  }
  return Math.max(worst, end - prev);
}

/** countWithin counts the times in [start, end]. */
export function countWithin(times: ArrayLike<number>, start: number, end: number): number {
  let n = 0;
  for (let i = 0; i < times.length; i++) if (times[i]! >= start && times[i]! <= end) n++;
  return n;
}

/** DefragCounts is what the worker adds to a defrag run's result (its put loop's LoopResult). */
export interface DefragCounts {
  /** ranges is the range clients' loop result. */
  ranges: LoopResult;
  /** putCompletions are the successful puts' completion times (wallNow() ms), ascending. */
  putCompletions: Float64Array;
}

/** DefragPrep is what preparing the store did. */
export interface DefragPrep {
  /** keys were written (valueSize bytes each), of which keptKeys remain after the delete. */
  keys: number;
  keptKeys: number;
  valueSize: number;
  fillMs: number;
  deleteMs: number;
  /** compactMs is the physical compaction at the delete's revision. */
  compactMs: number;
  /** dbSizeBefore is Status.dbSize just before the Defragment (bytes). */
  dbSizeBefore: number;
}

/** DefragWindow is what the Defragment call measured (times on the wallNow() clock). */
export interface DefragWindow {
  prep: DefragPrep;
  startMs: number;
  endMs: number;
  /** dbSizeAfter is Status.dbSize right after the Defragment (bytes). */
  dbSizeAfter: number;
}

/** DefragDetail is what a defrag run reports beyond its ops/s and latencies. */
export interface DefragDetail extends DefragPrep {
  dbSizeAfter: number;
  /** defragMs is the Defragment call's duration, as the client saw it. */
  defragMs: number;
  /** worstWritePauseMs is worstPause over the puts' completions and the Defragment's window. */
  worstWritePauseMs: number;
  /** putsDuringDefrag counts the puts that completed inside the Defragment's window. */
  putsDuringDefrag: number;
  /** puts and ranges (throughput /s, p99 ms) are the two halves of the clients in the measured window. */
  putThroughput: number;
  putP99Ms: number;
  rangeThroughput: number;
  rangeP99Ms: number;
}

/** defragDetail combines the Defragment's window with the worker's put completions. */
export function defragDetail(
  w: DefragWindow,
  putCompletions: ArrayLike<number>,
  puts: { throughput: number; p99Ms: number },
  ranges: { throughput: number; p99Ms: number },
): DefragDetail {
  return {
    ...w.prep,
    dbSizeAfter: w.dbSizeAfter,
    defragMs: w.endMs - w.startMs,
    worstWritePauseMs: worstPause(putCompletions, w.startMs, w.endMs),
    putsDuringDefrag: countWithin(putCompletions, w.startMs, w.endMs),
    putThroughput: puts.throughput,
    putP99Ms: puts.p99Ms,
    rangeThroughput: ranges.throughput,
    rangeP99Ms: ranges.p99Ms,
  };
}

/** dbSize reads the member's Status.dbSize (bytes) through c. */
export async function dbSize(c: grpc.Client, timeoutMs: number, token: string | undefined): Promise<number> {
  const res = await unaryOnce(c, STATUS_PATH, Buffer.alloc(0), timeoutMs, token);
  return Number(etcdserverpb.StatusResponse.decode(res).dbSize);
}

function fail(step: string, err: unknown): Error {
  return new Error(`bench: defrag preparation: ${step}: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * fillPrefix writes keys prefixedKey(prefix, 0) .. prefixedKey(prefix, keys - 1), each with
 * a valueSize-byte value, by Txns of DEFRAG_TXN_OPS puts, DEFRAG_FILL_INFLIGHT at a time
 * spread over conns (already up); every call carries `token` when given (--auth) and has
 * a deadline of min(requestTimeoutMs, left()), left() throwing once the caller's budget is
 * spent. The first failure stops the other fillers and rejects with fail(step, err).
 */
export async function fillPrefix(
  conns: readonly grpc.Client[],
  prefix: string,
  keys: number,
  keySize: number,
  valueSize: number,
  requestTimeoutMs: number,
  left: () => number,
  token: string | undefined,
  fail: (step: string, err: unknown) => Error,
): Promise<void> {
  let next = 0;
  const filler = async (k: number): Promise<void> => {
    const c = conns[k % conns.length]!;
    while (next < keys) {
      const first = next;
      const n = Math.min(DEFRAG_TXN_OPS, keys - first);
      next += n;
      try {
        await unaryOnce(c, TXN_PATH, encodeFillTxn(prefix, first, n, keySize, valueSize), Math.min(requestTimeoutMs, left()), token);
      } catch (err) {
        next = keys; // stop the other fillers
        throw fail(`filling (Txn of keys ${first}..${first + n - 1})`, err);
      }
    }
  };
  await Promise.all(Array.from({ length: DEFRAG_FILL_INFLIGHT }, (_, k) => filler(k)));
}

/**
 * prepareDefrag fills the store through `endpoint` with the keys of defragKeys(megabytes,
 * valueSize) (Txns of DEFRAG_TXN_OPS puts, DEFRAG_FILL_INFLIGHT at a time over two
 * connections), deletes the upper half with one DeleteRange, compacts physically at its
 * revision, and reads the db size; every call carries `token` when given (--auth).
 * Rejects on any failure or after DEFRAG_PREP_BUDGET_MS.
 */
export async function prepareDefrag(
  endpoint: string,
  megabytes: number,
  valueSize: number,
  keySize: number,
  requestTimeoutMs: number,
  token?: string,
): Promise<DefragPrep> {
  const { keys, kept } = defragKeys(megabytes, valueSize);
  const conns = [openConnection(endpoint), openConnection(endpoint)];
  const deadline = performance.now() + DEFRAG_PREP_BUDGET_MS;
  const left = (): number => {
    const ms = deadline - performance.now();
    if (ms <= 0) throw new Error(`bench: defrag preparation took over ${DEFRAG_PREP_BUDGET_MS / 1000} s`);
    return ms;
  };
  try {
    await Promise.all(conns.map((c) => waitReady(c, requestTimeoutMs)));
    const t0 = performance.now();
    await fillPrefix(conns, DEFRAG_PREFIX, keys, keySize, valueSize, requestTimeoutMs, left, token, fail);
    const t1 = performance.now();
    let res: Buffer;
    try {
      res = await unaryOnce(conns[0]!, DELETE_RANGE_PATH, encodeDeleteFrom(DEFRAG_PREFIX, kept, keySize), Math.min(DEFRAG_CALL_TIMEOUT_MS, left()), token);
    } catch (err) {
      throw fail("deleting the upper half", err);
    }
    const rev = headerRevision(res, 0, res.length);
    const t2 = performance.now();
    try {
      await unaryOnce(conns[0]!, COMPACT_PATH, encodeCompact(rev, true), Math.min(DEFRAG_CALL_TIMEOUT_MS, left()), token);
    } catch (err) {
      throw fail(`compacting at revision ${rev}`, err);
    }
    const t3 = performance.now();
    const before = await dbSize(conns[0]!, requestTimeoutMs, token);
    return { keys, keptKeys: kept, valueSize, fillMs: t1 - t0, deleteMs: t2 - t1, compactMs: t3 - t2, dbSizeBefore: before };
  } finally {
    for (const c of conns) c.close();
  }
}

/**
 * runDefragment sends one Maintenance.Defragment through c (a connection already up, so
 * connecting is not timed) and times it on the wallNow() clock, then reads the db size.
 * Both calls carry `token` when given (--auth). Rejects if the call fails.
 */
export async function runDefragment(c: grpc.Client, prep: DefragPrep, requestTimeoutMs: number, token?: string): Promise<DefragWindow> {
  const startMs = wallNow();
  try {
    await unaryOnce(c, DEFRAGMENT_PATH, Buffer.alloc(0), DEFRAG_CALL_TIMEOUT_MS, token);
  } catch (err) {
    throw new Error(`bench: Defragment failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const endMs = wallNow();
  return { prep, startMs, endMs, dbSizeAfter: await dbSize(c, requestTimeoutMs, token) };
}
