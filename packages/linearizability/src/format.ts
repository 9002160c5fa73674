/**
 * format.ts: human-readable printing of requests, answers and histories, for failure reports.
 * Values are printed as JSON strings; times are the history's (microseconds); an unknown answer
 * or return time prints as `?`.
 */
import type { Compare, Operation, Request, Result, TxnOpResult, TxnRequestOp } from "./history.js";
import { FROM_KEY, isSingleKey } from "./keys.js";
import { formatKv } from "./model.js";

function formatRange(key: string, end: string | undefined): string {
  if (isSingleKey(end)) return JSON.stringify(key);
  return `[${JSON.stringify(key)}, ${end === FROM_KEY ? "+inf" : JSON.stringify(end)})`;
}

function formatCompare(c: Compare): string {
  const v = typeof c.value === "string" ? JSON.stringify(c.value) : String(c.value);
  return `${c.target}(${JSON.stringify(c.key)}) ${c.result} ${v}`;
}

function formatTxnOp(op: TxnRequestOp): string {
  return formatRequest(op);
}

/** formatRequest prints one request, e.g. `put "k"="v" lease=5 prevKv`. */
export function formatRequest(r: Request): string {
  switch (r.type) {
    case "put": {
      const lease = (r.lease ?? 0) !== 0 ? ` lease=${r.lease}` : "";
      return `put ${JSON.stringify(r.key)}=${JSON.stringify(r.value)}${lease}${r.prevKv === true ? " prevKv" : ""}`;
    }
    case "range": {
      const limit = (r.limit ?? 0) > 0 ? ` limit=${r.limit}` : "";
      return `range ${formatRange(r.key, r.end)}${limit}${r.countOnly === true ? " countOnly" : ""}`;
    }
    case "delete":
      return `delete ${formatRange(r.key, r.end)}${r.prevKv === true ? " prevKv" : ""}`;
    case "txn":
      return (
        `txn if(${r.compare.map(formatCompare).join(", ")}) ` +
        `then(${r.success.map(formatTxnOp).join("; ")}) else(${r.failure.map(formatTxnOp).join("; ")})`
      );
    case "leaseGrant":
      return `leaseGrant ${r.id} ttl=${r.ttl}`;
    case "leaseRevoke":
      return `leaseRevoke ${r.id}`;
  }
}

function formatOpResult(r: TxnOpResult): string {
  return formatResultBody(r);
}

function formatResultBody(r: Result): string {
  switch (r.type) {
    case "put":
      return r.prevKv === undefined ? "ok" : `prevKv=${formatKv(r.prevKv)}`;
    case "range":
      return `count=${r.count}${r.more ? " more" : ""} kvs=[${r.kvs.map(formatKv).join(" ")}]`;
    case "delete":
      return `deleted=${r.deleted}${r.prevKvs !== undefined && r.prevKvs.length > 0 ? ` prevKvs=[${r.prevKvs.map(formatKv).join(" ")}]` : ""}`;
    case "txn":
      return `${r.succeeded ? "succeeded" : "failed"} [${r.results.map(formatOpResult).join("; ")}]`;
    case "leaseGrant":
    case "leaseRevoke":
      return "ok";
    case "error":
      return `error ${JSON.stringify(r.error)}`;
  }
}

/** formatResult prints one answer, e.g. `rev=7 count=1 kvs=[k="v"(c2 m7 v3)]`; undefined prints `?`. */
export function formatResult(r: Result | undefined): string {
  if (r === undefined) return "?";
  if (r.type === "error") return formatResultBody(r);
  return `rev=${r.revision} ${formatResultBody(r)}`;
}

/** formatOperation prints one operation on one line: client, call..return, request, answer. */
export function formatOperation(op: Operation): string {
  const ret = op.return === Infinity ? "?" : String(op.return);
  const persisted = op.persistedRevision !== undefined ? ` (took effect at rev ${op.persistedRevision})` : "";
  return `[client ${op.client}] ${op.call}..${ret}  ${formatRequest(op.input)}  ->  ${formatResult(op.output)}${persisted}`;
}

/** formatHistory prints operations one per line, sorted by call time (then client). */
export function formatHistory(ops: readonly Operation[]): string {
  return [...ops]
    .sort((a, b) => a.call - b.call || a.client - b.client)
    .map(formatOperation)
    .join("\n");
}
