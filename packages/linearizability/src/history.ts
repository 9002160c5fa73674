/**
 * history.ts: the recorded history a robustness run hands to the checkers. Keys, values and
 * lease IDs are the run's own (ASCII strings, small integers); revisions are etcd's int64
 * revisions, which a recorder converts to `number` after checking they are below 2^53.
 * Times are microseconds from the start of the run, from one monotonic clock.
 */

/** KeyValue is one key's state as etcd reports it (mvccpb.KeyValue). lease 0 means none. */
export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
}

/** CompareTarget is what a txn compare looks at (etcdserverpb.Compare.target). */
export type CompareTarget = "value" | "version" | "create" | "mod" | "lease";
/** CompareResult is the relation a txn compare asks for (etcdserverpb.Compare.result). */
export type CompareResult = "=" | "!=" | "<" | ">";

/** Compare is one txn guard: `target(key) result value`; value is a string for "value", else a number. */
export interface Compare {
  key: string;
  target: CompareTarget;
  result: CompareResult;
  value: string | number;
}

/** PutOp writes key=value, attached to `lease` when it is non-zero. */
export interface PutOp {
  type: "put";
  key: string;
  value: string;
  lease?: number;
  prevKv?: boolean;
}

/** RangeOp reads [key, end) at the latest revision (end absent: the one key). */
export interface RangeOp {
  type: "range";
  key: string;
  end?: string;
  limit?: number;
  countOnly?: boolean;
}

/** DeleteOp deletes [key, end) (end absent: the one key). */
export interface DeleteOp {
  type: "delete";
  key: string;
  end?: string;
  prevKv?: boolean;
}

/** TxnRequestOp is an operation inside a txn branch. */
export type TxnRequestOp = PutOp | RangeOp | DeleteOp;

/** TxnOp is etcd's Txn: if every compare holds, `success` runs, else `failure`. */
export interface TxnOp {
  type: "txn";
  compare: Compare[];
  success: TxnRequestOp[];
  failure: TxnRequestOp[];
}

/** LeaseGrantOp grants lease `id` (chosen by the client) for `ttl` seconds. */
export interface LeaseGrantOp {
  type: "leaseGrant";
  id: number;
  ttl: number;
}

/** LeaseRevokeOp revokes lease `id`, deleting the keys attached to it in one revision. */
export interface LeaseRevokeOp {
  type: "leaseRevoke";
  id: number;
}

/** Request is any operation a client can record. */
export type Request = PutOp | RangeOp | DeleteOp | TxnOp | LeaseGrantOp | LeaseRevokeOp;

/** PutResult answers a PutOp; revision is the response header's. */
export interface PutResult {
  type: "put";
  revision: number;
  prevKv?: KeyValue;
}

/** RangeResult answers a RangeOp: kvs in key order, count of all matching keys. */
export interface RangeResult {
  type: "range";
  revision: number;
  kvs: KeyValue[];
  count: number;
  more: boolean;
}

/** DeleteResult answers a DeleteOp. */
export interface DeleteResult {
  type: "delete";
  revision: number;
  deleted: number;
  prevKvs?: KeyValue[];
}

/** TxnOpResult answers one operation of the branch that ran; its revision field is unused (0). */
export type TxnOpResult = PutResult | RangeResult | DeleteResult;

/** TxnResult answers a TxnOp. */
export interface TxnResult {
  type: "txn";
  revision: number;
  succeeded: boolean;
  results: TxnOpResult[];
}

/** LeaseGrantResult and LeaseRevokeResult carry the response header's revision. */
export interface LeaseGrantResult {
  type: "leaseGrant";
  revision: number;
}
export interface LeaseRevokeResult {
  type: "leaseRevoke";
  revision: number;
}

/**
 * ErrorResult is a definite failure that did not change state: etcd's answer names a
 * condition the request was checked against (`lease not found` for a put or revoke naming a
 * missing lease, `lease already exists` for a grant). An error that leaves the outcome
 * unknown (timeout, no leader, connection lost) is recorded as an unknown output instead.
 */
export interface ErrorResult {
  type: "error";
  error: "lease not found" | "lease already exists";
}

/** Result is any answer. */
export type Result = PutResult | RangeResult | DeleteResult | TxnResult | LeaseGrantResult | LeaseRevokeResult | ErrorResult;

/**
 * Operation is one recorded call: invoked at `call`, answered at `return`. An operation whose
 * outcome is unknown (the client gave up: timeout, lost connection, an ambiguous error) has
 * `output` undefined and `return` Infinity: it may have taken effect at any time after `call`,
 * or never.
 */
export interface Operation {
  client: number;
  call: number;
  return: number;
  input: Request;
  output: Result | undefined;
  /**
   * persistedRevision (optional, added for patchHistory): for an operation whose output is
   * unknown but that is known to have taken effect (its written value was seen in a watch event
   * or a read), the revision its writes got. The checkers then require the operation to write,
   * at exactly this revision. A recorder leaves it unset.
   */
  persistedRevision?: number;
}

/** WatchEvent is one event of a watch response (mvccpb.Event). */
export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
  prevKv?: KeyValue;
}

/** WatchResponse is one response a watcher received, at `time`. */
export interface WatchResponse {
  time: number;
  /** revision is the response header's revision. */
  revision: number;
  events: WatchEvent[];
  /** progressNotify: an empty response that only reports progress (a bookmark). */
  progressNotify: boolean;
  /** canceled: the server ended the watch; compactRevision set when it was compacted away. */
  canceled?: boolean;
  compactRevision?: number;
}

/** WatchRequest is what a watcher asked for; startRevision 0 or absent means "from now". */
export interface WatchRequest {
  key: string;
  end?: string;
  startRevision?: number;
  prevKv?: boolean;
  progressNotify?: boolean;
}

/**
 * WatchHistory is one watch from its creation to its end. A client that resumes after a
 * reconnect records a new WatchHistory whose startRevision is one past the last revision it
 * had received, with `resumeOf` naming the watch it continues.
 */
export interface WatchHistory {
  watcher: number;
  client: number;
  /** created is when the watch was created (its "created" response). */
  created: number;
  request: WatchRequest;
  responses: WatchResponse[];
  resumeOf?: number;
}

/** History is everything one run recorded. */
export interface History {
  operations: Operation[];
  watches: WatchHistory[];
}
