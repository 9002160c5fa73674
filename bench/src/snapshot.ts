/**
 * snapshot.ts is the snapshot workload: how fast a member streams its backend to a client
 * through Maintenance.Snapshot (what `etcdctl snapshot save` does). Before the run the
 * store is filled with `--snapshot-mb` MiB of values (`--snapshot-value-size` bytes each,
 * distinct keys, written by Txns of DEFRAG_TXN_OPS puts; nothing deleted or compacted, so
 * the backend holds all of it live); then one Snapshot call to the first member is
 * measured: time to the first SnapshotResponse, the whole call, and the blob bytes
 * received. The messages are scanned (remaining_bytes and the blob's length) and dropped
 * at once, never kept; the stream must deliver exactly the file it announced and then the
 * 32-byte SHA-256 trailer both etcd and etcd-ts send, or the workload fails.
 */
import { performance } from "node:perf_hooks";
import type * as grpc from "@grpc/grpc-js";
import { dbSize, fillPrefix } from "./defrag.js";
import { cpuSecondsPer1k, type WorkloadRun } from "./generator.js";
import { callMetadata, openConnection, waitReady } from "./grpc-caller.js";
import { PbReader, WIRE_LEN, WIRE_VARINT } from "./pb.js";
import { hostBusySeconds } from "./procstat.js";
import { prefixedKey, SNAPSHOT_PATH, SNAPSHOT_PREFIX } from "./requests.js";

/** DEFAULT_SNAPSHOT_MB is how many MiB of values the snapshot workload writes before the run. */
export const DEFAULT_SNAPSHOT_MB = 1024;
/** DEFAULT_SNAPSHOT_VALUE_SIZE is the value size of the snapshot workload's fill. */
export const DEFAULT_SNAPSHOT_VALUE_SIZE = 1024;
/** SNAPSHOT_SHA_BYTES is the size of the SHA-256 trailer, the stream's last blob. */
export const SNAPSHOT_SHA_BYTES = 32;
/** MIB is 2^20 bytes: throughputs are in MiB/s. */
export const MIB = 1024 * 1024;

/** snapshotPrepBudgetMs bounds the fill (and its Status read): 60 s plus 0.75 s per MiB. */
export function snapshotPrepBudgetMs(megabytes: number): number {
  return 60_000 + megabytes * 750;
}

/** snapshotCallTimeoutMs is the Snapshot call's deadline: 60 s plus 0.5 s per MiB (2 MiB/s at least). */
export function snapshotCallTimeoutMs(megabytes: number): number {
  return 60_000 + megabytes * 500;
}

/** snapshotKeys is how many keys the fill writes: megabytes of valueSize-byte values, at least one. */
export function snapshotKeys(megabytes: number, valueSize: number): number {
  return Math.max(1, Math.floor((megabytes * MIB) / Math.max(1, valueSize)));
}

/** SnapshotPrep is what filling the store did (once per server; later rounds reuse it). */
export interface SnapshotPrep {
  /** keys distinct keys of valueSize bytes each were written, in fillMs. */
  keys: number;
  valueSize: number;
  fillMs: number;
}

/** SnapshotDetail is what a snapshot run reports beyond its row (MiB/s and duration). */
export interface SnapshotDetail extends SnapshotPrep {
  /** dbSize is Status.dbSize of the member just before the call (bytes). */
  dbSize: number;
  /** firstByteMs is from sending the call to the first SnapshotResponse received whole. */
  firstByteMs: number;
  /** durationMs is from sending the call to its end (OK status, every message read). */
  durationMs: number;
  /** bytes counts the blob bytes received, the 32-byte SHA-256 trailer included. */
  bytes: number;
  /** snapshotBytes is the file's size as the stream announced it (first remaining_bytes + first blob). */
  snapshotBytes: number;
  /** messages counts the SnapshotResponses received. */
  messages: number;
  /** mibPerSec is bytes / durationMs, in MiB (2^20 bytes) per second. */
  mibPerSec: number;
}

/**
 * SnapshotScan follows a Snapshot stream message by message, from each SnapshotResponse's
 * wire bytes (remaining_bytes, field 2, and the blob's length, field 3; the header is
 * skipped), keeping nothing of the blobs. The first message announces the file's size
 * (its remaining_bytes + its blob); every data message must then leave exactly
 * announced - received bytes to come, and once none remain the rest is the trailer.
 */
export class SnapshotScan {
  messages = 0;
  /** bytes counts every blob byte received (file and trailer). */
  bytes = 0;
  /** announced is the file's size; -1 before the first message. */
  announced = -1;
  /** fileBytes counts the blob bytes of the file part, trailerBytes the rest. */
  fileBytes = 0;
  trailerBytes = 0;
  /** inconsistency is the first message whose remaining_bytes did not add up. */
  private inconsistency: string | undefined;

  /** feed takes one SnapshotResponse's bytes; throws "pb: ..." on a malformed message. */
  feed(msg: Uint8Array): void {
    let remaining = 0;
    let blob = 0;
    const r = new PbReader(msg, 0, msg.length);
    while (r.next()) {
      if (r.field === 2 && r.wire === WIRE_VARINT) remaining = r.varint();
      else if (r.field === 3 && r.wire === WIRE_LEN) blob = r.len() - r.lenStart;
    }
    this.messages++;
    this.bytes += blob;
    if (this.announced < 0) this.announced = remaining + blob;
    if (this.fileBytes < this.announced) {
      this.fileBytes += blob;
      if (this.inconsistency === undefined && this.fileBytes + remaining !== this.announced) {
        this.inconsistency =
          `message ${this.messages} says ${remaining} bytes remain after ${this.fileBytes} received ` +
          `of the ${this.announced} announced`;
      }
    } else {
      this.trailerBytes += blob;
    }
  }

  /** problem says why the stream so far is not a whole snapshot, or undefined if it is. */
  problem(): string | undefined {
    if (this.messages === 0) return "the stream ended without a SnapshotResponse";
    if (this.inconsistency !== undefined) return this.inconsistency;
    if (this.fileBytes < this.announced) {
      return `the stream ended after ${this.fileBytes} of the ${this.announced} bytes announced`;
    }
    if (this.trailerBytes !== SNAPSHOT_SHA_BYTES) {
      return `after the ${this.announced} bytes announced came ${this.trailerBytes} bytes, not a ${SNAPSHOT_SHA_BYTES}-byte SHA-256`;
    }
    return undefined;
  }
}

/** SnapshotCall is what one Snapshot call measured (times in ms from sending it). */
export interface SnapshotCall {
  firstByteMs: number;
  durationMs: number;
  bytes: number;
  snapshotBytes: number;
  messages: number;
}

function identity(b: Buffer): Buffer {
  return b;
}

/**
 * snapshotCall sends one Maintenance.Snapshot (an empty SnapshotRequest, with `token` in
 * its metadata when given) through c, a connection already up, and reads the whole
 * stream, scanning each message and keeping none. Rejects with the server's status text
 * when the call fails, and when the stream ends OK but is not a whole snapshot
 * (SnapshotScan.problem). `now` is the clock (ms).
 */
export function snapshotCall(
  c: grpc.Client,
  timeoutMs: number,
  token?: string,
  now: () => number = () => performance.now(),
): Promise<SnapshotCall> {
  return new Promise((resolve, reject) => {
    const scan = new SnapshotScan();
    let settled = false;
    let firstByteMs = -1;
    const start = now();
    const stream = c.makeServerStreamRequest<Buffer, Buffer>(SNAPSHOT_PATH, identity, identity, Buffer.alloc(0), callMetadata(token), {
      deadline: Date.now() + timeoutMs,
    });
    const failWith = (why: string): void => {
      if (settled) return;
      settled = true;
      reject(new Error(`bench: Snapshot ${why} (${scan.messages} messages, ${scan.bytes} bytes received)`));
    };
    stream.on("data", (msg: Buffer) => {
      if (settled) return;
      if (firstByteMs < 0) firstByteMs = now() - start;
      try {
        scan.feed(msg);
      } catch (err) {
        failWith(`sent a bad SnapshotResponse: ${err instanceof Error ? err.message : String(err)}`);
        stream.cancel();
      }
    });
    stream.on("error", (err: Error) => failWith(`failed: ${err.message}`));
    stream.on("end", () => {
      // An error status emits "error" before "end", so reaching here unsettled means OK.
      const durationMs = now() - start;
      const problem = scan.problem();
      if (problem !== undefined) return failWith(`stream incomplete: ${problem}`);
      if (settled) return;
      settled = true;
      resolve({ firstByteMs, durationMs, bytes: scan.bytes, snapshotBytes: scan.announced, messages: scan.messages });
    });
  });
}

/** SnapshotCores are the CPU figures of the measured call (CPU time / wall time). */
export interface SnapshotCores {
  server: number;
  generator: number;
  other: number;
}

/**
 * oneCallRun is the WorkloadRun of a workload measured as one call that moved `bytes`
 * bytes in durationMs: one operation, its MiB/s in the ops/s place (and the CPU per
 * 1,000 MiB), its duration as every latency. The caller adds its detail.
 */
export function oneCallRun(durationMs: number, bytes: number, cores: SnapshotCores): WorkloadRun & { throughput: number } {
  const seconds = durationMs / 1000;
  const mibPerSec = seconds > 0 ? bytes / MIB / seconds : 0;
  return {
    requests: 1,
    errors: 0,
    firstError: undefined,
    seconds,
    throughput: mibPerSec,
    p50Ms: durationMs,
    p99Ms: durationMs,
    meanMs: durationMs,
    maxMs: durationMs,
    serverCpuCores: cores.server,
    serverCpuSecondsPer1k: cpuSecondsPer1k(cores.server, mibPerSec),
    generatorCpuCores: cores.generator,
    otherCpuCores: cores.other,
    hitMaxRequests: false,
  };
}

/**
 * snapshotRun is a snapshot run's WorkloadRun: one operation (the call), its throughput
 * in MiB/s in the ops/s place, its duration as every latency, and the detail.
 */
export function snapshotRun(prep: SnapshotPrep, dbSizeBytes: number, call: SnapshotCall, cores: SnapshotCores): WorkloadRun {
  const run = oneCallRun(call.durationMs, call.bytes, cores);
  run.snapshot = { ...prep, dbSize: dbSizeBytes, ...call, mibPerSec: run.throughput };
  return run;
}

/**
 * prepareSnapshot fills the store through `endpoint` with snapshotKeys(megabytes,
 * valueSize) distinct keys under SNAPSHOT_PREFIX (see prepareFill).
 */
export function prepareSnapshot(
  endpoint: string,
  megabytes: number,
  valueSize: number,
  keySize: number,
  requestTimeoutMs: number,
  token?: string,
): Promise<SnapshotPrep> {
  return prepareFill("snapshot", SNAPSHOT_PREFIX, endpoint, megabytes, valueSize, keySize, requestTimeoutMs, token);
}

/**
 * prepareFill fills the store through `endpoint` with snapshotKeys(megabytes, valueSize)
 * distinct keys under prefix (Txns of puts over two connections) for the workload named
 * `workload`; every call carries `token` when given (--auth). Rejects on any failure or
 * after snapshotPrepBudgetMs(megabytes).
 */
export async function prepareFill(
  workload: string,
  prefix: string,
  endpoint: string,
  megabytes: number,
  valueSize: number,
  keySize: number,
  requestTimeoutMs: number,
  token?: string,
): Promise<SnapshotPrep> {
  const keys = snapshotKeys(megabytes, valueSize);
  const fail = (step: string, err: unknown): Error =>
    new Error(`bench: ${workload} preparation: ${step}: ${err instanceof Error ? err.message : String(err)}`);
  try {
    prefixedKey(prefix, keys - 1, keySize);
  } catch (err) {
    throw fail(`${keys} keys`, err);
  }
  const budget = snapshotPrepBudgetMs(megabytes);
  const deadline = performance.now() + budget;
  const left = (): number => {
    const ms = deadline - performance.now();
    if (ms <= 0) throw new Error(`bench: ${workload} preparation took over ${budget / 1000} s`);
    return ms;
  };
  const conns = [openConnection(endpoint), openConnection(endpoint)];
  try {
    await Promise.all(conns.map((c) => waitReady(c, requestTimeoutMs)));
    const t0 = performance.now();
    await fillPrefix(conns, prefix, keys, keySize, valueSize, requestTimeoutMs, left, token, fail);
    return { keys, valueSize, fillMs: performance.now() - t0 };
  } finally {
    for (const c of conns) c.close();
  }
}

/** SnapshotSpec is one measured snapshot run. */
export interface SnapshotSpec {
  /** endpoint is the member asked for the snapshot ("127.0.0.1:PORT"). */
  endpoint: string;
  prep: SnapshotPrep;
  requestTimeoutMs: number;
  callTimeoutMs: number;
  token: string | undefined;
  /** serverCpuSeconds samples the CPU time the servers under test have used so far. */
  serverCpuSeconds: () => number;
  /** serverRssBytes samples the servers' resident set size in bytes (undefined: unreadable), read right after the call. */
  serverRssBytes?: (() => number | undefined) | undefined;
}

/**
 * runSnapshotWorkload connects to the member (not timed), reads its db size, then
 * measures one Snapshot call and the CPU the servers, this process and the rest of the
 * machine used during it. Rejects if the call fails or the stream is incomplete.
 */
export async function runSnapshotWorkload(spec: SnapshotSpec): Promise<WorkloadRun> {
  const c = openConnection(spec.endpoint);
  try {
    await waitReady(c, spec.requestTimeoutMs);
    const size = await dbSize(c, spec.requestTimeoutMs, spec.token);
    const cpu0 = process.cpuUsage();
    const srv0 = spec.serverCpuSeconds();
    const host0 = hostBusySeconds();
    const t0 = performance.now();
    const call = await snapshotCall(c, spec.callTimeoutMs, spec.token);
    const wallSec = Math.max(1e-6, (performance.now() - t0) / 1000);
    const srv = (spec.serverCpuSeconds() - srv0) / wallSec;
    const rss = spec.serverRssBytes?.();
    const host1 = hostBusySeconds();
    const cpu = process.cpuUsage(cpu0);
    const gen = (cpu.user + cpu.system) / 1e6 / wallSec;
    const other = host0 !== undefined && host1 !== undefined ? Math.max(0, (host1 - host0) / wallSec - srv - gen) : 0;
    const run = snapshotRun(spec.prep, size, call, { server: srv, generator: gen, other });
    if (rss !== undefined) run.rssBytes = rss;
    return run;
  } finally {
    c.close();
  }
}

/** describeSnapshotPrep says what filling the store for a snapshot workload did. */
export function describeSnapshotPrep(p: SnapshotPrep): string {
  return `${p.keys} keys of ${p.valueSize} B written in ${(p.fillMs / 1000).toFixed(1)} s`;
}

/** fmtMiB formats a byte count in MiB with one decimal. */
export function fmtMiB(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/**
 * snapshotNote is the line under the table for one server's snapshot result: the bytes
 * received, the call's duration and throughput, the time to the first message, and the
 * store it came from.
 */
export function snapshotNote(workload: string, server: string, d: SnapshotDetail): string {
  return (
    `${workload} ${server}: ${fmtMiB(d.bytes)} (${d.bytes} B in ${d.messages} messages) in ${fmtDuration(d.durationMs)}, ` +
    `${d.mibPerSec.toFixed(1)} MiB/s; first message after ${fmtDuration(d.firstByteMs)}; ` +
    `db ${fmtMiB(d.dbSize)} (Status); before it: ${d.keys} keys of ${d.valueSize} B written in ${(d.fillMs / 1000).toFixed(1)} s`
  );
}

/** fmtDuration formats milliseconds: "850 ms", "12.3 ms", "4.21 s". */
export function fmtDuration(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}
