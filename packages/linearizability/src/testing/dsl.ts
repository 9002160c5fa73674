/**
 * dsl.ts (tests only): short constructors for hand-written histories.
 */
import type {
  Compare,
  DeleteOp,
  DeleteResult,
  KeyValue,
  Operation,
  PutOp,
  PutResult,
  RangeOp,
  RangeResult,
  Request,
  Result,
  TxnOpResult,
  TxnRequestOp,
  TxnResult,
  WatchEvent,
  WatchHistory,
  WatchResponse,
} from "../history.js";

/** op is one operation: client, [call, return] (return Infinity with output undefined: unknown). */
export function op(client: number, call: number, ret: number, input: Request, output: Result | undefined): Operation {
  return { client, call, return: ret, input, output };
}

/** unknown is an operation whose outcome the client never learnt. */
export function unknown(client: number, call: number, input: Request): Operation {
  return { client, call, return: Infinity, input, output: undefined };
}

export const put = (key: string, value: string, extra: { lease?: number; prevKv?: boolean } = {}): PutOp => ({ type: "put", key, value, ...extra });
export const get = (key: string, extra: { end?: string; limit?: number; countOnly?: boolean } = {}): RangeOp => ({ type: "range", key, ...extra });
export const del = (key: string, extra: { end?: string; prevKv?: boolean } = {}): DeleteOp => ({ type: "delete", key, ...extra });
export const grant = (id: number, ttl = 3600): Request => ({ type: "leaseGrant", id, ttl });
export const revoke = (id: number): Request => ({ type: "leaseRevoke", id });
export const txn = (compare: Compare[], success: TxnRequestOp[], failure: TxnRequestOp[] = []): Request => ({ type: "txn", compare, success, failure });

/** kv builds a KeyValue: key=value created at `create`, last modified at `mod`, `version`, `lease`. */
export function kv(key: string, value: string, create: number, mod: number, version: number, lease = 0): KeyValue {
  return { key, value, createRevision: create, modRevision: mod, version, lease };
}

export const putOk = (revision: number, prevKv?: KeyValue): PutResult => (prevKv === undefined ? { type: "put", revision } : { type: "put", revision, prevKv });
export const rangeOk = (revision: number, kvs: KeyValue[], count = kvs.length, more = false): RangeResult => ({ type: "range", revision, kvs, count, more });
export const delOk = (revision: number, deleted: number, prevKvs?: KeyValue[]): DeleteResult =>
  prevKvs === undefined ? { type: "delete", revision, deleted } : { type: "delete", revision, deleted, prevKvs };
export const txnOk = (revision: number, succeeded: boolean, results: TxnOpResult[]): TxnResult => ({ type: "txn", revision, succeeded, results });
export const grantOk = (revision: number): Result => ({ type: "leaseGrant", revision });
export const revokeOk = (revision: number): Result => ({ type: "leaseRevoke", revision });
export const leaseNotFound: Result = { type: "error", error: "lease not found" };

/** putEvent / delEvent are watch events; a delete's kv is etcd's tombstone (key and modRevision). */
export const putEvent = (k: KeyValue, prevKv?: KeyValue): WatchEvent => (prevKv === undefined ? { type: "put", kv: k } : { type: "put", kv: k, prevKv });
export const delEvent = (key: string, revision: number, prevKv?: KeyValue): WatchEvent => {
  const k: KeyValue = { key, value: "", createRevision: 0, modRevision: revision, version: 0, lease: 0 };
  return prevKv === undefined ? { type: "delete", kv: k } : { type: "delete", kv: k, prevKv };
};

/** resp is a watch response at `time` with header `revision`. */
export const resp = (time: number, revision: number, events: WatchEvent[]): WatchResponse => ({ time, revision, events, progressNotify: false });
/** progress is a progress notify at `time` reporting `revision`. */
export const progress = (time: number, revision: number): WatchResponse => ({ time, revision, events: [], progressNotify: true });

/** watch is one watch history. */
export function watch(
  watcher: number,
  created: number,
  request: WatchHistory["request"],
  responses: WatchResponse[],
  extra: { client?: number; resumeOf?: number } = {},
): WatchHistory {
  const w: WatchHistory = { watcher, client: extra.client ?? watcher, created, request, responses };
  if (extra.resumeOf !== undefined) w.resumeOf = extra.resumeOf;
  return w;
}
