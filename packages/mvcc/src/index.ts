/**
 * @etcd-ts/mvcc is etcd's multi-version key-value store: revisions, the in-memory key index,
 * range / put / delete / txn with etcd's semantics, compaction and hashes, over
 * @etcd-ts/backend. It knows nothing of raft or gRPC; the server applies committed entries to
 * it and commits each applied batch with its raft index.
 */
export { KVStore, type EventListener, type WriteResult } from "./kvstore.js";
export type { RangeResult } from "./range.js";
export { MvccError, ErrCompacted, ErrFutureRev, ErrKeyNotFound, type MvccErrorCode } from "./errors.js";
