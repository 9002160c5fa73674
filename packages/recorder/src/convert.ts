import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import type { Compare, KeyValue, Request, Result, TxnOpResult, TxnRequestOp, WatchEvent } from "@etcd-ts/linearizability";

/**
 * convert.ts turns the history's requests into etcd's protobuf requests and etcd's answers
 * into the history's results. Keys and values are the run's ASCII strings; revisions are
 * checked to fit a number exactly.
 */

const utf8 = (s: string): Buffer => Buffer.from(s, "utf8");

/** num converts an int64 from the wire, refusing one a number cannot hold exactly. */
export function num(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`robustness: int64 ${v} does not fit a number`);
  return Number(v);
}

export function kvFrom(kv: mvccpb.KeyValue): KeyValue {
  return {
    key: kv.key.toString("utf8"),
    value: kv.value.toString("utf8"),
    createRevision: num(kv.createRevision),
    modRevision: num(kv.modRevision),
    version: num(kv.version),
    lease: num(kv.lease),
  };
}

export function putRequest(op: { key: string; value: string; lease?: number; prevKv?: boolean }): etcdserverpb.PutRequest {
  return etcdserverpb.PutRequest.fromPartial({ key: utf8(op.key), value: utf8(op.value), lease: BigInt(op.lease ?? 0), prevKv: op.prevKv ?? false });
}

export function rangeRequest(op: { key: string; end?: string; limit?: number; countOnly?: boolean }, serializable = false): etcdserverpb.RangeRequest {
  return etcdserverpb.RangeRequest.fromPartial({
    key: utf8(op.key),
    rangeEnd: op.end === undefined ? Buffer.alloc(0) : op.end === "\0" ? Buffer.from([0]) : utf8(op.end),
    limit: BigInt(op.limit ?? 0),
    countOnly: op.countOnly ?? false,
    serializable,
  });
}

export function deleteRequest(op: { key: string; end?: string; prevKv?: boolean }): etcdserverpb.DeleteRangeRequest {
  return etcdserverpb.DeleteRangeRequest.fromPartial({
    key: utf8(op.key),
    rangeEnd: op.end === undefined ? Buffer.alloc(0) : op.end === "\0" ? Buffer.from([0]) : utf8(op.end),
    prevKv: op.prevKv ?? false,
  });
}

const RESULT: Record<Compare["result"], etcdserverpb.Compare_CompareResult> = {
  "=": etcdserverpb.Compare_CompareResult.EQUAL,
  "!=": etcdserverpb.Compare_CompareResult.NOT_EQUAL,
  "<": etcdserverpb.Compare_CompareResult.LESS,
  ">": etcdserverpb.Compare_CompareResult.GREATER,
};

function compare(c: Compare): etcdserverpb.Compare {
  const base = { key: utf8(c.key), result: RESULT[c.result] };
  const n = (): bigint => BigInt(typeof c.value === "number" ? c.value : Number(c.value));
  switch (c.target) {
    case "value":
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.VALUE, value: utf8(String(c.value)) });
    case "version":
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.VERSION, version: n() });
    case "create":
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.CREATE, createRevision: n() });
    case "mod":
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.MOD, modRevision: n() });
    case "lease":
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.LEASE, lease: n() });
  }
}

function requestOp(op: TxnRequestOp): etcdserverpb.RequestOp {
  switch (op.type) {
    case "put":
      return { requestPut: putRequest(op) };
    case "range":
      return { requestRange: rangeRequest(op) };
    case "delete":
      return { requestDeleteRange: deleteRequest(op) };
  }
}

export function txnRequest(op: Extract<Request, { type: "txn" }>): etcdserverpb.TxnRequest {
  return etcdserverpb.TxnRequest.fromPartial({
    compare: op.compare.map(compare),
    success: op.success.map(requestOp),
    failure: op.failure.map(requestOp),
  });
}

const rev = (h: etcdserverpb.ResponseHeader | undefined): number => num(h?.revision ?? 0n);

export function putResult(r: etcdserverpb.PutResponse, withPrev: boolean): Result & { type: "put" } {
  return { type: "put", revision: rev(r.header), ...(withPrev && r.prevKv !== undefined ? { prevKv: kvFrom(r.prevKv) } : {}) };
}

export function rangeResult(r: etcdserverpb.RangeResponse): Result & { type: "range" } {
  return { type: "range", revision: rev(r.header), kvs: r.kvs.map(kvFrom), count: num(r.count), more: r.more };
}

export function deleteResult(r: etcdserverpb.DeleteRangeResponse, withPrev: boolean): Result & { type: "delete" } {
  return { type: "delete", revision: rev(r.header), deleted: num(r.deleted), ...(withPrev ? { prevKvs: r.prevKvs.map(kvFrom) } : {}) };
}

export function txnResult(op: Extract<Request, { type: "txn" }>, r: etcdserverpb.TxnResponse): Result & { type: "txn" } {
  const branch = r.succeeded ? op.success : op.failure;
  const results: TxnOpResult[] = r.responses.map((x, i) => {
    const sub = branch[i];
    if (x.responsePut !== undefined) return { ...putResult(x.responsePut, sub?.type === "put" && sub.prevKv === true), revision: 0 };
    if (x.responseRange !== undefined) return { ...rangeResult(x.responseRange), revision: 0 };
    if (x.responseDeleteRange !== undefined) return { ...deleteResult(x.responseDeleteRange, sub?.type === "delete" && sub.prevKv === true), revision: 0 };
    throw new Error("robustness: unexpected txn response op");
  });
  return { type: "txn", revision: rev(r.header), succeeded: r.succeeded, results };
}

export function eventFrom(e: mvccpb.Event): WatchEvent {
  if (e.kv === undefined) throw new Error("robustness: watch event without kv");
  return {
    type: e.type === mvccpb.Event_EventType.DELETE ? "delete" : "put",
    kv: kvFrom(e.kv),
    ...(e.prevKv !== undefined ? { prevKv: kvFrom(e.prevKv) } : {}),
  };
}
