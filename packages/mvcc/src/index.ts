/**
 * @etcd-ts/mvcc is etcd's multi-version key-value store: revisions, the in-memory key index,
 * ranges and write transactions (put, delete range) over keys, values and revisions,
 * compaction and hashes, over @etcd-ts/backend. It knows nothing of raft, gRPC or etcd's
 * request messages: the server's apply layer gives requests their meaning (txn compares,
 * prev_kv, sort and filters) and commits each applied batch with its raft index.
 */
export { KVStore, type EventListener, type KVStats, type RangeOptions, type RangeResult, type WriteTxn } from "./kvstore.js";
export { encodeKV, encodedKVSize, writeKV } from "./stored_kv.js";
export { MvccError, ErrCompacted, ErrFutureRev, CompactionInterrupted, type MvccErrorCode } from "./errors.js";
export {
  WatchableStore,
  defaultMaxEventsPerSync,
  defaultMaxRevisionsPerSync,
  defaultMaxWatchersPerSync,
  type WatchableStoreOptions,
} from "./watchable_store.js";
export {
  WatchStream,
  WatchError,
  defaultMaxPendingBytes,
  defaultMaxQueued,
  defaultMaxWatchersPerStream,
  type WatchCreate,
  type WatchErrorCode,
  type WatchFilters,
  type WatchResponse,
  type WatchStreamOptions,
} from "./watch_stream.js";
export {
  ETCD_KEY_BUCKET,
  ETCD_META_BUCKET,
  KEY_PREFIX,
  META_PREFIX,
  toEtcdRevisionKey,
  fromEtcdRevisionKey,
  toEtcdMeta,
  fromEtcdMeta,
} from "./etcd_format.js";
