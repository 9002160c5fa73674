import type { etcdserverpb } from "@etcd-ts/proto";
import { Errors } from "./errors.js";

/**
 * validate.ts holds etcd's request shape checks (v3rpc/key.go), done before a request is
 * proposed: they cost nothing in the log and give the client etcd's exact error.
 */

export function checkRange(r: etcdserverpb.RangeRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey;
}

export function checkPut(r: etcdserverpb.PutRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey;
  if (r.ignoreValue && r.value.length !== 0) throw Errors.valueProvided;
  if (r.ignoreLease && r.lease !== 0n) throw Errors.leaseProvided;
}

export function checkDelete(r: etcdserverpb.DeleteRangeRequest): void {
  if (r.key.length === 0) throw Errors.emptyKey;
}

/** checkTxn enforces --max-txn-ops and the shape of every nested op, as etcd does. */
export function checkTxn(r: etcdserverpb.TxnRequest, maxTxnOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) throw Errors.tooManyOps;
  for (const c of r.compare) if (c.key.length === 0) throw Errors.emptyKey;
  for (const op of r.success) checkOp(op, maxTxnOps - opc);
  for (const op of r.failure) checkOp(op, maxTxnOps - opc);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}

function checkOp(op: etcdserverpb.RequestOp, maxTxnOps: number): void {
  if (op.requestRange !== undefined) return checkRange(op.requestRange);
  if (op.requestPut !== undefined) return checkPut(op.requestPut);
  if (op.requestDeleteRange !== undefined) return checkDelete(op.requestDeleteRange);
  if (op.requestTxn !== undefined) return checkTxn(op.requestTxn, maxTxnOps);
  throw Errors.keyNotFound; // an empty op, as etcd reports it
}

/** Interval is a deleted range [start, end); end undefined = the single key start; end empty = to the end of the keyspace. */
interface Interval {
  start: Buffer;
  end: Buffer | undefined;
}

function intersects(dels: readonly Interval[], key: Buffer): boolean {
  for (const d of dels) {
    if (d.end === undefined) {
      if (d.start.equals(key)) return true;
    } else if (Buffer.compare(key, d.start) >= 0 && (d.end.length === 0 || Buffer.compare(key, d.end) < 0)) {
      return true;
    }
  }
  return false;
}

/**
 * checkIntervals refuses a txn branch whose puts repeat a key or fall inside a range that
 * the branch also deletes, including through nested txns ("duplicate key given in txn
 * request"). Puts in the then and else branches of one nested txn may repeat each other.
 */
function checkIntervals(ops: readonly etcdserverpb.RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) {
    const d = op.requestDeleteRange;
    if (d === undefined) continue;
    const end = d.rangeEnd.length === 0 ? undefined : d.rangeEnd.length === 1 && d.rangeEnd[0] === 0 ? Buffer.alloc(0) : d.rangeEnd;
    dels.push({ start: d.key, end });
  }
  const puts = new Set<string>();
  for (const op of ops) {
    const t = op.requestTxn;
    if (t === undefined) continue;
    const then = checkIntervals(t.success);
    const els = checkIntervals(t.failure);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, Buffer.from(k, "latin1"))) throw Errors.duplicateKey;
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw Errors.duplicateKey;
      if (intersects(dels, Buffer.from(k, "latin1"))) throw Errors.duplicateKey;
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const op of ops) {
    const p = op.requestPut;
    if (p === undefined) continue;
    const k = p.key.toString("latin1");
    if (puts.has(k) || intersects(dels, p.key)) throw Errors.duplicateKey;
    puts.add(k);
  }
  return { puts, dels };
}

/** hasLease reports whether any put in the txn (any branch, nested) attaches a lease. */
export function txnHasLease(r: etcdserverpb.TxnRequest): boolean {
  for (const op of [...r.success, ...r.failure]) {
    if (op.requestPut !== undefined && op.requestPut.lease !== 0n) return true;
    if (op.requestTxn !== undefined && txnHasLease(op.requestTxn)) return true;
  }
  return false;
}

/** isTxnReadOnly reports whether no branch writes: such a txn is served like a read. */
export function isTxnReadOnly(r: etcdserverpb.TxnRequest): boolean {
  for (const op of [...r.success, ...r.failure]) {
    if (op.requestPut !== undefined || op.requestDeleteRange !== undefined) return false;
    if (op.requestTxn !== undefined && !isTxnReadOnly(op.requestTxn)) return false;
  }
  return true;
}

/** isTxnSerializable reports whether every range of a read-only txn asked for serializable. */
export function isTxnSerializable(r: etcdserverpb.TxnRequest): boolean {
  for (const op of [...r.success, ...r.failure]) {
    if (op.requestRange !== undefined && !op.requestRange.serializable) return false;
    if (op.requestTxn !== undefined && !isTxnSerializable(op.requestTxn)) return false;
  }
  return true;
}
