import type { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import type { KVStore, RangeResult, WriteTxn } from "@etcd-ts/mvcc";
import { ErrCompacted, ErrFutureRev } from "@etcd-ts/mvcc";
import { Errors } from "../errors.js";
import type { Applied, LeaseLookup } from "./applier.js";
import { compareKVs } from "./compare.js";
import { fetchLimit, shapeRange } from "./range.js";

/**
 * kv.ts gives etcd's KV requests their meaning over mvcc's keys, values and revisions (etcd's
 * applierV3backend Range/Put/DeleteRange/Txn): range_end conventions, prev_kv, ignore_value
 * and ignore_lease, sort and filters, txn compares and the checks on a txn's executed path.
 */

const emptyBuffer = Buffer.alloc(0);

/** rangeEnd maps a request's range_end: empty = the key alone (undefined), "\0" = no upper bound (empty). */
export function rangeEnd(end: Buffer): Buffer | undefined {
  if (end.length === 0) return undefined;
  if (end.length === 1 && end[0] === 0) return emptyBuffer;
  return end;
}

/** Reader reads ranges: the store at its current revision, or an open write transaction. */
type Reader = Pick<KVStore, "range"> | WriteTxn;

/**
 * rangeRequest answers a RangeRequest through r: synchronously at the current revision, with
 * `done` when it reads history (the response is complete once done settles).
 */
export function rangeRequest(r: Reader, req: etcdserverpb.RangeRequest): Applied<etcdserverpb.RangeResponse> {
  const read = r.range(req.key, rangeEnd(req.rangeEnd), { rev: req.revision, limit: fetchLimit(req), countOnly: req.countOnly });
  const response: etcdserverpb.RangeResponse = { header: undefined, kvs: [], more: false, count: 0n };
  if (read instanceof Promise) {
    const done = read.then((res) => fill(response, req, res));
    return { response, revision: currentRev(r), done };
  }
  fill(response, req, read);
  return { response, revision: read.rev };
}

function fill(resp: etcdserverpb.RangeResponse, req: etcdserverpb.RangeRequest, r: RangeResult): void {
  const shaped = shapeRange(req, r.kvs, r.count);
  resp.kvs = shaped.kvs;
  resp.more = shaped.more;
  resp.count = shaped.count;
}

function currentRev(r: Reader): bigint {
  return "currentRevision" in r ? (r as KVStore).currentRevision : (r as WriteTxn).rev;
}

/** current reads the live KeyValue of key within txn (a read at the current revision never waits). */
function current(txn: WriteTxn, key: Buffer): mvccpb.KeyValue | undefined {
  const r = txn.range(key, undefined, {});
  if (r instanceof Promise) throw new Error("apply: a read at the current revision went to the backend");
  return r.kvs[0];
}

/** putRequest applies a PutRequest in txn: ignore_value / ignore_lease take the existing key's, prev_kv answers the old one. */
export function putRequest(txn: WriteTxn, req: etcdserverpb.PutRequest): etcdserverpb.PutResponse {
  let value = req.value;
  let lease = req.lease;
  if (req.ignoreValue || req.ignoreLease) {
    const prev = current(txn, req.key);
    if (prev === undefined) throw Errors.keyNotFound;
    if (req.ignoreValue) value = prev.value;
    if (req.ignoreLease) lease = prev.lease;
  }
  const prev = txn.put(req.key, value, lease);
  return { header: undefined, prevKv: req.prevKv ? prev : undefined };
}

/** deleteRangeRequest applies a DeleteRangeRequest in txn; deleting nothing changes nothing. */
export function deleteRangeRequest(txn: WriteTxn, req: etcdserverpb.DeleteRangeRequest): etcdserverpb.DeleteRangeResponse {
  const prevs = txn.deleteRange(req.key, rangeEnd(req.rangeEnd));
  return { header: undefined, deleted: BigInt(prevs.length), prevKvs: req.prevKv ? prevs : [] };
}

/**
 * txnRequest applies a TxnRequest in txn, as etcd 3.4 does: the compares of the txn and of
 * every nested txn on the executed path are evaluated against the state before the txn; the
 * executed path's operations are checked (a put with ignore_value / ignore_lease needs an
 * existing key, a put's lease must exist, a range's revision must be readable; reads only
 * for a read-only txn); then they run, all changes sharing one revision and ranges seeing
 * the txn's earlier writes. Nested responses carry etcd's partial headers. `done` is set
 * when ranges read history.
 */
export function txnRequest(txn: WriteTxn, req: etcdserverpb.TxnRequest, leases: LeaseLookup): Applied<etcdserverpb.TxnResponse> {
  const path: boolean[] = [];
  comparePath(txn, req, path);
  if (!isTxnReadOnly(req)) checkOps(req, path, { i: 0 }, (op) => checkPut(txn, op, leases));
  checkOps(req, path, { i: 0 }, (op) => checkRange(txn, op));
  const reads: Promise<void>[] = [];
  const response = execute(txn, req, path, { i: 0 }, reads);
  const applied: Applied<etcdserverpb.TxnResponse> = { response, revision: txn.rev };
  if (reads.length > 0) applied.done = Promise.all(reads).then(() => undefined);
  return applied;
}

/** comparePath appends, in pre-order, whether each txn on the executed path succeeds. */
function comparePath(txn: WriteTxn, req: etcdserverpb.TxnRequest, path: boolean[]): void {
  let ok = true;
  for (const c of req.compare) {
    const r = txn.range(c.key, rangeEnd(c.rangeEnd), {});
    if (r instanceof Promise) throw new Error("apply: a compare went to the backend");
    if (!compareKVs(c, r.kvs)) {
      ok = false;
      break;
    }
  }
  path.push(ok);
  for (const op of ok ? req.success : req.failure) {
    if (op.requestTxn !== undefined) comparePath(txn, op.requestTxn, path);
  }
}

/** checkOps runs check on every non-txn operation of the executed path. */
function checkOps(req: etcdserverpb.TxnRequest, path: boolean[], cursor: { i: number }, check: (op: etcdserverpb.RequestOp) => void): void {
  const ops = path[cursor.i++] ? req.success : req.failure;
  for (const op of ops) {
    if (op.requestTxn !== undefined) checkOps(op.requestTxn, path, cursor, check);
    else check(op);
  }
}

function checkPut(txn: WriteTxn, op: etcdserverpb.RequestOp, leases: LeaseLookup): void {
  const put = op.requestPut;
  if (put === undefined) return;
  if ((put.ignoreValue || put.ignoreLease) && current(txn, put.key) === undefined) throw Errors.keyNotFound;
  if (put.lease !== 0n && !leases.exists(put.lease)) throw Errors.leaseNotFound;
}

function checkRange(txn: WriteTxn, op: etcdserverpb.RequestOp): void {
  const range = op.requestRange;
  if (range === undefined || range.revision === 0n) return;
  if (range.revision > txn.rev) throw ErrFutureRev();
  if (range.revision < txn.compactRev) throw ErrCompacted();
}

function execute(
  txn: WriteTxn,
  req: etcdserverpb.TxnRequest,
  path: boolean[],
  cursor: { i: number },
  reads: Promise<void>[],
): etcdserverpb.TxnResponse {
  const succeeded = path[cursor.i++] as boolean;
  const responses: etcdserverpb.ResponseOp[] = [];
  for (const op of succeeded ? req.success : req.failure) {
    if (op.requestRange !== undefined) {
      const r = rangeRequest(txn, op.requestRange);
      r.response.header = partialHeader(txn.rev);
      if (r.done !== undefined) reads.push(r.done);
      responses.push({ responseRange: r.response });
    } else if (op.requestPut !== undefined) {
      const resp = putRequest(txn, op.requestPut);
      resp.header = partialHeader(txn.rev);
      responses.push({ responsePut: resp });
    } else if (op.requestDeleteRange !== undefined) {
      const resp = deleteRangeRequest(txn, op.requestDeleteRange);
      resp.header = partialHeader(txn.rev);
      responses.push({ responseDeleteRange: resp });
    } else if (op.requestTxn !== undefined) {
      const resp = execute(txn, op.requestTxn, path, cursor, reads);
      resp.header = partialHeader(0n);
      responses.push({ responseTxn: resp });
    } else {
      responses.push({});
    }
  }
  return { header: undefined, succeeded, responses };
}

/** partialHeader is the header etcd gives responses nested in a txn: the revision alone. */
function partialHeader(revision: bigint): etcdserverpb.ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0n };
}

/** isTxnReadOnly reports whether both branches hold only ranges (a nested txn counts as a write). */
function isTxnReadOnly(req: etcdserverpb.TxnRequest): boolean {
  for (const op of req.success) if (op.requestRange === undefined) return false;
  for (const op of req.failure) if (op.requestRange === undefined) return false;
  return true;
}
