import { etcdserverpb, type mvccpb } from "@etcd-ts/proto";
import { keyRange, toBuffer, type Bytes } from "./bytes.js";
import { KeyValue } from "./key_value.js";
import type { Namespace } from "./namespace.js";

/** RangeSelect picks a range instead of one key: every key with the prefix, every key >= key, or [key, rangeEnd). */
export interface RangeSelect {
  prefix?: boolean;
  fromKey?: boolean;
  rangeEnd?: Bytes;
}

/** SortTarget is what a range is sorted by. */
export type SortTarget = "key" | "version" | "createRevision" | "modRevision" | "value";

/** GetOptions shape a read. Revisions are full 64-bit values. */
export interface GetOptions extends RangeSelect {
  /** revision reads the store as of this revision (0n or unset: the latest). */
  revision?: bigint;
  /** limit caps the keys returned (the count still covers every match). */
  limit?: number | bigint;
  /** sort orders the keys (default: by key, ascending). */
  sort?: { target: SortTarget; order: "ascend" | "descend" };
  /** keysOnly returns keys without values. */
  keysOnly?: boolean;
  /** countOnly returns the count and no keys. */
  countOnly?: boolean;
  /** serializable reads the member's local state without a quorum round (may be stale). */
  serializable?: boolean;
  minModRevision?: bigint;
  maxModRevision?: bigint;
  minCreateRevision?: bigint;
  maxCreateRevision?: bigint;
}

/** PutOptions shape a put. */
export interface PutOptions {
  /** lease attaches the key to a lease (its ID, or an object with one such as a Lease). */
  lease?: bigint | { readonly id: bigint };
  /** prevKv returns the key's value before the put. */
  prevKv?: boolean;
  /** ignoreValue keeps the current value (the key must exist). */
  ignoreValue?: boolean;
  /** ignoreLease keeps the current lease (the key must exist). */
  ignoreLease?: boolean;
}

/** DeleteOptions shape a deletion. */
export interface DeleteOptions extends RangeSelect {
  /** prevKv returns the deleted keys with their values. */
  prevKv?: boolean;
}

/** GetResult is a read's outcome. */
export interface GetResult {
  kvs: KeyValue[];
  /** count is the number of keys in the range (before the limit). */
  count: bigint;
  /** more is set when the limit left keys out. */
  more: boolean;
}

/** PutResult is a put's outcome. */
export interface PutResult {
  /** prevKv is the key before the put, when asked for and it existed. */
  prevKv: KeyValue | undefined;
}

/** DeleteResult is a deletion's outcome. */
export interface DeleteResult {
  deleted: bigint;
  /** prevKvs are the deleted keys, when asked for. */
  prevKvs: KeyValue[];
}

/** Op is one operation of a transaction, made by the `op` helpers. */
export type Op = GetOp | PutOp | DeleteOp | TxnOp;

export interface GetOp {
  readonly kind: "get";
  readonly key: Bytes;
  readonly options: GetOptions;
}
export interface PutOp {
  readonly kind: "put";
  readonly key: Bytes;
  readonly value: Bytes;
  readonly options: PutOptions;
}
export interface DeleteOp {
  readonly kind: "delete";
  readonly key: Bytes;
  readonly options: DeleteOptions;
}
export interface TxnOp {
  readonly kind: "txn";
  readonly compares: readonly Compare[];
  readonly success: readonly Op[];
  readonly failure: readonly Op[];
}

/** NestedTxnResult is the outcome of a transaction inside a transaction. */
export interface NestedTxnResult {
  succeeded: boolean;
  results: OpResult[];
}

/** OpResult is the outcome of one Op; ResultOf gives the exact one for an Op type. */
export type OpResult =
  | ({ kind: "get" } & GetResult)
  | ({ kind: "put" } & PutResult)
  | ({ kind: "delete" } & DeleteResult)
  | ({ kind: "txn" } & NestedTxnResult);

export type ResultOf<O extends Op> = O extends GetOp
  ? { kind: "get" } & GetResult
  : O extends PutOp
    ? { kind: "put" } & PutResult
    : O extends DeleteOp
      ? { kind: "delete" } & DeleteResult
      : { kind: "txn" } & NestedTxnResult;

/** ResultsOf maps a tuple of Ops to the tuple of their results. */
export type ResultsOf<T extends readonly Op[]> = { -readonly [K in keyof T]: T[K] extends Op ? ResultOf<T[K]> : never };

/** op makes the operations of a transaction (see Etcd.txn). */
export const op = {
  get(key: Bytes, options: GetOptions = {}): GetOp {
    return { kind: "get", key, options };
  },
  put(key: Bytes, value: Bytes, options: PutOptions = {}): PutOp {
    return { kind: "put", key, value, options };
  },
  /** putJSON puts JSON.stringify(value). */
  putJSON(key: Bytes, value: unknown, options: PutOptions = {}): PutOp {
    return { kind: "put", key, value: jsonBytes(value), options };
  },
  delete(key: Bytes, options: DeleteOptions = {}): DeleteOp {
    return { kind: "delete", key, options };
  },
  /** txn nests a transaction: if every compare holds, `then` runs, else `otherwise`. */
  txn(compares: readonly Compare[], then: readonly Op[], otherwise: readonly Op[] = []): TxnOp {
    return { kind: "txn", compares, success: then, failure: otherwise };
  },
};

/** CompareOp is how a compare relates the key's current state to the given one. */
export type CompareOp = "==" | "!=" | ">" | "<";

/** Compare is one condition of a transaction, made by the `compare` helpers. */
export interface Compare {
  readonly target: "value" | "version" | "createRevision" | "modRevision" | "lease";
  readonly key: Bytes;
  readonly op: CompareOp;
  readonly operand: Bytes | bigint;
  readonly range: RangeSelect;
}

/**
 * compare makes the conditions of a transaction. A missing key has version, create and mod
 * revision 0 and no value. With a RangeSelect the condition must hold for every key in the
 * range (etcd >= 3.3).
 */
export const compare = {
  value(key: Bytes, op: CompareOp, value: Bytes, range: RangeSelect = {}): Compare {
    return { target: "value", key, op, operand: value, range };
  },
  version(key: Bytes, op: CompareOp, version: bigint | number, range: RangeSelect = {}): Compare {
    return { target: "version", key, op, operand: BigInt(version), range };
  },
  createRevision(key: Bytes, op: CompareOp, revision: bigint | number, range: RangeSelect = {}): Compare {
    return { target: "createRevision", key, op, operand: BigInt(revision), range };
  },
  modRevision(key: Bytes, op: CompareOp, revision: bigint | number, range: RangeSelect = {}): Compare {
    return { target: "modRevision", key, op, operand: BigInt(revision), range };
  },
  /** lease compares the ID of the key's lease (0n: none). */
  lease(key: Bytes, op: CompareOp, lease: bigint | { readonly id: bigint }, range: RangeSelect = {}): Compare {
    return { target: "lease", key, op, operand: typeof lease === "bigint" ? lease : lease.id, range };
  },
};

const COMPARE_RESULT: Record<CompareOp, etcdserverpb.Compare_CompareResult> = {
  "==": etcdserverpb.Compare_CompareResult.EQUAL,
  "!=": etcdserverpb.Compare_CompareResult.NOT_EQUAL,
  ">": etcdserverpb.Compare_CompareResult.GREATER,
  "<": etcdserverpb.Compare_CompareResult.LESS,
};

const SORT_TARGET: Record<SortTarget, etcdserverpb.RangeRequest_SortTarget> = {
  key: etcdserverpb.RangeRequest_SortTarget.KEY,
  version: etcdserverpb.RangeRequest_SortTarget.VERSION,
  createRevision: etcdserverpb.RangeRequest_SortTarget.CREATE,
  modRevision: etcdserverpb.RangeRequest_SortTarget.MOD,
  value: etcdserverpb.RangeRequest_SortTarget.VALUE,
};

/** jsonBytes is JSON.stringify(value) as UTF-8; undefined (which JSON cannot hold) is refused. */
export function jsonBytes(value: unknown): Buffer {
  const s = JSON.stringify(value);
  if (s === undefined) throw new TypeError("client: a JSON value cannot be undefined (or a function or symbol)");
  return Buffer.from(s, "utf8");
}

/** nsRange resolves a key and its RangeSelect and puts both under the namespace. */
export function nsRange(ns: Namespace, key: Bytes, sel: RangeSelect): { key: Buffer; rangeEnd: Buffer } {
  const r = keyRange(key, sel);
  return { key: ns.key(r.key), rangeEnd: ns.rangeEnd(r.rangeEnd) };
}

/** rangeRequest is the RangeRequest of a read of key under ns. */
export function rangeRequest(ns: Namespace, key: Bytes, o: GetOptions): etcdserverpb.RangeRequest {
  const r = nsRange(ns, key, o);
  const sort = o.sort;
  return etcdserverpb.RangeRequest.fromPartial({
    key: r.key,
    rangeEnd: r.rangeEnd,
    limit: BigInt(o.limit ?? 0),
    revision: o.revision ?? 0n,
    sortOrder:
      sort === undefined
        ? etcdserverpb.RangeRequest_SortOrder.NONE
        : sort.order === "ascend"
          ? etcdserverpb.RangeRequest_SortOrder.ASCEND
          : etcdserverpb.RangeRequest_SortOrder.DESCEND,
    sortTarget: sort === undefined ? etcdserverpb.RangeRequest_SortTarget.KEY : SORT_TARGET[sort.target],
    serializable: o.serializable ?? false,
    keysOnly: o.keysOnly ?? false,
    countOnly: o.countOnly ?? false,
    minModRevision: o.minModRevision ?? 0n,
    maxModRevision: o.maxModRevision ?? 0n,
    minCreateRevision: o.minCreateRevision ?? 0n,
    maxCreateRevision: o.maxCreateRevision ?? 0n,
  });
}

/** putRequest is the PutRequest of a put of key under ns. */
export function putRequest(ns: Namespace, key: Bytes, value: Bytes, o: PutOptions): etcdserverpb.PutRequest {
  const lease = o.lease === undefined ? 0n : typeof o.lease === "bigint" ? o.lease : o.lease.id;
  return etcdserverpb.PutRequest.fromPartial({
    key: ns.key(toBuffer(key)),
    value: toBuffer(value),
    lease,
    prevKv: o.prevKv ?? false,
    ignoreValue: o.ignoreValue ?? false,
    ignoreLease: o.ignoreLease ?? false,
  });
}

/** deleteRequest is the DeleteRangeRequest of a deletion of key under ns. */
export function deleteRequest(ns: Namespace, key: Bytes, o: DeleteOptions): etcdserverpb.DeleteRangeRequest {
  const r = nsRange(ns, key, o);
  return etcdserverpb.DeleteRangeRequest.fromPartial({ key: r.key, rangeEnd: r.rangeEnd, prevKv: o.prevKv ?? false });
}

/** txnRequest is the TxnRequest of compares and ops under ns. */
export function txnRequest(ns: Namespace, compares: readonly Compare[], success: readonly Op[], failure: readonly Op[]): etcdserverpb.TxnRequest {
  return etcdserverpb.TxnRequest.fromPartial({
    compare: compares.map((c) => compareProto(ns, c)),
    success: success.map((o) => requestOp(ns, o)),
    failure: failure.map((o) => requestOp(ns, o)),
  });
}

function compareProto(ns: Namespace, c: Compare): etcdserverpb.Compare {
  const r = nsRange(ns, c.key, c.range);
  const cmp: etcdserverpb.Compare = { result: COMPARE_RESULT[c.op], target: etcdserverpb.Compare_CompareTarget.VERSION, key: r.key, rangeEnd: r.rangeEnd };
  const n = c.operand;
  switch (c.target) {
    case "value":
      if (typeof n === "bigint") throw new TypeError("client: a value compare takes bytes or a string");
      cmp.target = etcdserverpb.Compare_CompareTarget.VALUE;
      cmp.value = toBuffer(n);
      break;
    case "version":
      cmp.version = n as bigint;
      break;
    case "createRevision":
      cmp.target = etcdserverpb.Compare_CompareTarget.CREATE;
      cmp.createRevision = n as bigint;
      break;
    case "modRevision":
      cmp.target = etcdserverpb.Compare_CompareTarget.MOD;
      cmp.modRevision = n as bigint;
      break;
    case "lease":
      cmp.target = etcdserverpb.Compare_CompareTarget.LEASE;
      cmp.lease = n as bigint;
      break;
  }
  return cmp;
}

function requestOp(ns: Namespace, o: Op): etcdserverpb.RequestOp {
  switch (o.kind) {
    case "get":
      return { requestRange: rangeRequest(ns, o.key, o.options) };
    case "put":
      return { requestPut: putRequest(ns, o.key, o.value, o.options) };
    case "delete":
      return { requestDeleteRange: deleteRequest(ns, o.key, o.options) };
    case "txn":
      return { requestTxn: txnRequest(ns, o.compares, o.success, o.failure) };
  }
}

/** kvsOf converts returned key-values, taking the namespace off their keys. */
export function kvsOf(ns: Namespace, kvs: readonly mvccpb.KeyValue[]): KeyValue[] {
  return kvs.map((kv) => KeyValue.fromProto(kv, ns.strip));
}

/** getResult converts a RangeResponse. */
export function getResult(ns: Namespace, r: etcdserverpb.RangeResponse): GetResult {
  return { kvs: kvsOf(ns, r.kvs), count: r.count, more: r.more };
}

/** opResults converts the responses of a transaction's branch. */
export function opResults(ns: Namespace, responses: readonly etcdserverpb.ResponseOp[]): OpResult[] {
  return responses.map((r): OpResult => {
    if (r.responseRange !== undefined) return { kind: "get", ...getResult(ns, r.responseRange) };
    if (r.responsePut !== undefined) {
      const p = r.responsePut.prevKv;
      return { kind: "put", prevKv: p === undefined ? undefined : KeyValue.fromProto(p, ns.strip) };
    }
    if (r.responseDeleteRange !== undefined) {
      return { kind: "delete", deleted: r.responseDeleteRange.deleted, prevKvs: kvsOf(ns, r.responseDeleteRange.prevKvs) };
    }
    if (r.responseTxn !== undefined) return { kind: "txn", succeeded: r.responseTxn.succeeded, results: opResults(ns, r.responseTxn.responses) };
    throw new Error("client: the server answered a transaction operation with an empty response");
  });
}
