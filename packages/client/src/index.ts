/**
 * @etcd-ts/client is a typed etcd v3 client for Node.js over gRPC, with endpoint failover and
 * per-call deadlines.
 */
export { Client, DEFAULT_DIAL_TIMEOUT_MS } from "./client.js";
export { channelCredentials } from "./credentials.js";
export type { ClientOptions, CallOptions, Credentials, TLSOptions } from "./options.js";
export { Auth, permissionType, type Permission, type PermissionType } from "./auth.js";
export {
  ERR_AUTH_NOT_ENABLED,
  ERR_AUTH_OLD_REVISION,
  ERR_INVALID_AUTH_TOKEN,
  ERR_USER_EMPTY,
  TOKEN_METADATA_KEY,
  type AuthState,
} from "./token.js";
export { EtcdError, ERR_DEADLINE_UNREACHABLE } from "./errors.js";
export { parseEndpoint, type Endpoint, type EndpointScheme } from "./endpoint.js";
export { KV, txnIsReadOnly } from "./kv.js";
export { Maintenance, type LeaderEndpoint } from "./maintenance.js";
export { Cluster } from "./cluster.js";
export { checkPeerURLs } from "./urls.js";
export type { RetryPolicy } from "./balancer.js";
export { Lease, KeptAliveLease, ERR_LEASE_NOT_FOUND, type LeaseGrantOptions, type TimeToLiveOptions, type KeepAliveOptions } from "./lease.js";
export {
  Watcher,
  Watch,
  WatchCanceledError,
  WATCH_ID_NONE,
  ERR_COMPACTED,
  ERR_FUTURE_REV,
  ERR_NO_LEADER,
  type WatchOptions,
  type WatchResponse,
} from "./watch.js";
export {
  Session,
  Mutex,
  Election,
  leaseHex,
  DEFAULT_SESSION_TTL,
  ERR_ELECTION_NOT_LEADER,
  ERR_ELECTION_NO_LEADER,
  ERR_SESSION_EXPIRED,
  type SessionOptions,
} from "./concurrency.js";
export { prefixEnd, keyRange, toBuffer, type Bytes } from "./bytes.js";
export { Etcd, EtcdElection, TxnBuilder, type EtcdOptions, type HeldLock, type Revisioned, type TxnResult } from "./etcd.js";
export { EtcdWatch, type EtcdWatchOptions, type WatchEvent } from "./etcd_watch.js";
export { Barrier, PriorityQueue, Queue } from "./recipes.js";
export { StmConflictError, type Isolation, type StmOptions, type StmResult, type Tx } from "./stm.js";
export { KeyValue } from "./key_value.js";
export { Namespace } from "./namespace.js";
export {
  op,
  compare,
  type Op,
  type GetOp,
  type PutOp,
  type DeleteOp,
  type TxnOp,
  type Compare,
  type CompareOp,
  type GetOptions,
  type PutOptions,
  type DeleteOptions,
  type RangeSelect,
  type SortTarget,
  type GetResult,
  type PutResult,
  type DeleteResult,
  type NestedTxnResult,
  type OpResult,
  type ResultOf,
  type ResultsOf,
} from "./ops.js";
