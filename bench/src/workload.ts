/**
 * Op is what one benchmark request does: "put" writes one key; "range" reads one key with
 * the default linearizable consistency (etcd's ReadIndex path); "range-serializable" reads
 * one key from the member's local state.
 */
export type Op = "put" | "range" | "range-serializable";

/** OPS lists the ops in the order they are accepted on the command line. */
export const OPS: readonly Op[] = ["put", "range", "range-serializable"];

/**
 * Workload is one measured run: `clients` closed-loop clients, each keeping exactly one
 * request outstanding, spread over `conns` gRPC connections (HTTP/2 channels), as etcd's
 * own `benchmark --clients N --conns M` does.
 */
export interface Workload {
  /** name is the command-line spelling, e.g. "put-100". */
  name: string;
  op: Op;
  /** clients is the number of concurrent outstanding requests (>= 1). */
  clients: number;
  /** conns is the number of gRPC connections the clients share (1 <= conns <= clients). */
  conns: number;
}

/** DEFAULT_WORKLOADS is the workload list run when --workloads is not given. */
export const DEFAULT_WORKLOADS: readonly string[] = [
  "put-1",
  "put-100",
  "range-1",
  "range-100",
  "range-serializable-100",
];

/** DEFAULT_MAX_CONNS caps the connections per workload: 100 clients share 10 connections. */
export const DEFAULT_MAX_CONNS = 10;

/**
 * parseWorkload parses "<op>-<clients>" (e.g. "range-serializable-100"). The workload gets
 * min(clients, maxConns) connections. Throws "bench: ..." on a malformed name.
 */
export function parseWorkload(name: string, maxConns: number): Workload {
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
  return { name: `${op}-${clients}`, op, clients, conns: Math.min(clients, maxConns) };
}

/** needsData reports whether a workload reads keys and so needs the keyspace filled first. */
export function needsData(w: Workload): boolean {
  return w.op !== "put";
}
