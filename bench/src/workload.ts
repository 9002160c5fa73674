/**
 * KvOp is what one request of a KV workload does: "put" writes one key; "range" reads one
 * key with the default linearizable consistency (etcd's ReadIndex path);
 * "range-serializable" reads one key from the member's local state.
 */
export type KvOp = "put" | "range" | "range-serializable";

/**
 * Op is what a workload measures: a KV op (one request per operation); "lease-put", where
 * one operation is a LeaseGrant followed by a Put attached to the granted lease; or
 * "watch", where watchers on one prefix count the events a fixed put load produces; or
 * "defrag", where half the clients put and half read (linearizable) while one
 * Maintenance.Defragment runs on a store filled beforehand (see defrag.ts); or "snapshot",
 * one Maintenance.Snapshot stream read whole from a store filled beforehand (see
 * snapshot.ts); or "range-all", one linearizable Range over every key of a prefix filled
 * beforehand, with the servers' extra memory while serving it (see range_all.ts).
 */
export type Op = KvOp | "lease-put" | "watch" | "defrag" | "snapshot" | "range-all";

/** OPS lists the ops in the order they are accepted on the command line. */
export const OPS: readonly Op[] = ["put", "range", "range-serializable", "lease-put", "watch", "defrag", "snapshot", "range-all"];

/** SNAPSHOT_WORKLOAD is the snapshot workload's name: one call, so no client count ("snapshot-1" is accepted too). */
export const SNAPSHOT_WORKLOAD = "snapshot";

/** RANGE_ALL_WORKLOAD is the range-all workload's name: one call, so no client count ("range-all-1" is accepted too). */
export const RANGE_ALL_WORKLOAD = "range-all";

/** ONE_CALL_WORKLOADS are the workloads of one call on one connection, by op: their only name. */
const ONE_CALL_WORKLOADS: ReadonlyMap<Op, string> = new Map<Op, string>([
  ["snapshot", SNAPSHOT_WORKLOAD],
  ["range-all", RANGE_ALL_WORKLOAD],
]);

/** isKvOp tells the one-request ops apart. */
export function isKvOp(op: Op): op is KvOp {
  return op === "put" || op === "range" || op === "range-serializable";
}

/**
 * Workload is one measured run: `clients` closed-loop clients, each keeping exactly one
 * operation outstanding, spread over `conns` gRPC connections (HTTP/2 channels), as etcd's
 * own `benchmark --clients N --conns M` does. For "watch", `clients` is the number of
 * watchers and `conns` the number of Watch streams (one per connection) they are spread
 * over, and `writers` closed-loop put clients make the events.
 */
export interface Workload {
  /** name is the command-line spelling, e.g. "put-100". */
  name: string;
  op: Op;
  /** clients is the number of concurrent outstanding operations, or watchers (>= 1). */
  clients: number;
  /** conns is the number of gRPC connections the clients share (1 <= conns <= clients). */
  conns: number;
  /** writers is the number of put clients feeding a watch workload (watch only). */
  writers?: number;
  /** writerConns is the number of connections the writers share: min(writers, the cap). */
  writerConns?: number;
}

/** DEFAULT_WORKLOADS is the workload list run when --workloads is not given. */
export const DEFAULT_WORKLOADS: readonly string[] = [
  "put-1",
  "put-100",
  "range-1",
  "range-100",
  "range-serializable-100",
  "lease-put-100",
  "watch-100",
];

/** DEFAULT_MAX_CONNS caps the connections per workload: 100 clients share 10 connections. */
export const DEFAULT_MAX_CONNS = 10;

/** DEFAULT_WATCH_WRITERS is the number of put clients feeding a watch workload. */
export const DEFAULT_WATCH_WRITERS = 10;

/** LEASE_TTL_SECONDS is the TTL every lease-put operation asks for. */
export const LEASE_TTL_SECONDS = 60;

/**
 * parseWorkload parses "<op>-<clients>" (e.g. "range-serializable-100"). The workload gets
 * min(clients, maxConns) connections; a watch workload gets `watchWriters` put clients.
 * "snapshot" (or "snapshot-1") is one Snapshot call on one connection, named "snapshot";
 * "range-all" (or "range-all-1") one Range call on one connection, named "range-all".
 * Throws "bench: ..." on a malformed name.
 */
export function parseWorkload(name: string, maxConns: number, watchWriters = DEFAULT_WATCH_WRITERS): Workload {
  for (const [op, only] of ONE_CALL_WORKLOADS) {
    // The bare name has no client count, which the <op>-<clients> pattern below wants.
    if (name.trim() === only) return { name: only, op, clients: 1, conns: 1 };
  }
  const m = /^([a-z-]+)-(\d+)$/.exec(name.trim());
  if (m === null) {
    throw new Error(`bench: bad workload "${name}" (want <op>-<clients>, op one of ${OPS.join(", ")})`);
  }
  const opName = m[1]!;
  const op = OPS.find((o) => o === opName);
  if (op === undefined) {
    throw new Error(`bench: unknown op "${opName}" in workload "${name}" (want one of ${OPS.join(", ")})`);
  }
  const clients = Number(m[2]);
  if (!Number.isSafeInteger(clients) || clients < 1 || clients > 10000) {
    throw new Error(`bench: workload "${name}": clients must be 1..10000`);
  }
  if (!Number.isSafeInteger(maxConns) || maxConns < 1) {
    throw new Error(`bench: connections per workload must be >= 1, got ${maxConns}`);
  }
  const w: Workload = { name: `${op}-${clients}`, op, clients, conns: Math.min(clients, maxConns) };
  if (op === "watch") {
    if (!Number.isSafeInteger(watchWriters) || watchWriters < 1) {
      throw new Error(`bench: a watch workload needs at least one writer, got ${watchWriters}`);
    }
    w.writers = watchWriters;
    w.writerConns = Math.min(watchWriters, maxConns);
  }
  const only = ONE_CALL_WORKLOADS.get(op);
  if (only !== undefined) {
    if (clients !== 1) throw new Error(`bench: workload "${name}": ${only} is one call, so "${only}" or "${only}-1"`);
    return { name: only, op, clients: 1, conns: 1 };
  }
  if (op === "defrag" && clients < 2) {
    throw new Error(`bench: workload "${name}": a defrag workload needs at least 2 clients (puts and ranges)`);
  }
  return w;
}

/**
 * needsData reports whether a workload reads keys and so needs the keyspace filled first.
 * lease-put and watch write keys of their own prefixes (see requests.ts), never the
 * keyspace the reads use.
 */
export function needsData(w: Workload): boolean {
  return w.op === "range" || w.op === "range-serializable";
}
