import { status as Status } from "@grpc/grpc-js";

/**
 * RpcError is an error with the gRPC status code and message etcd returns for it. Handlers
 * throw these; the gRPC layer sends them as they are. Messages are etcd's, byte for byte.
 */
export class RpcError extends Error {
  constructor(
    readonly code: Status,
    message: string,
  ) {
    super(message);
    this.name = "RpcError";
  }

}

const e = (code: Status, msg: string) => new RpcError(code, msg);

/** Errors is etcd's table of server errors (etcdserver/api/v3rpc/rpctypes) that etcd-ts returns. */
export const Errors = {
  emptyKey: e(Status.INVALID_ARGUMENT, "etcdserver: key is not provided"),
  keyNotFound: e(Status.INVALID_ARGUMENT, "etcdserver: key not found"),
  valueProvided: e(Status.INVALID_ARGUMENT, "etcdserver: value is provided"),
  leaseProvided: e(Status.INVALID_ARGUMENT, "etcdserver: lease is provided"),
  tooManyOps: e(Status.INVALID_ARGUMENT, "etcdserver: too many operations in txn request"),
  duplicateKey: e(Status.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request"),
  compacted: e(Status.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"),
  futureRev: e(Status.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"),
  leaseNotFound: e(Status.NOT_FOUND, "etcdserver: requested lease not found"),
  leaseExist: e(Status.FAILED_PRECONDITION, "etcdserver: lease already exists"),
  leaseTTLTooLarge: e(Status.OUT_OF_RANGE, "etcdserver: too large lease TTL"),
  requestTooLarge: e(Status.INVALID_ARGUMENT, "etcdserver: request is too large"),
  /**
   * tooManyRequests: committed index more than 5000 ahead of the applied index. etcd 3.4 maps
   * it to rpctypes' client-side error value, which is no gRPC status, so grpc-go sends it as
   * Unknown: the code here is what etcd's clients actually receive.
   */
  tooManyRequests: e(Status.UNKNOWN, "etcdserver: too many requests"),
  noLeader: e(Status.UNAVAILABLE, "etcdserver: no leader"),
  notLeader: e(Status.FAILED_PRECONDITION, "etcdserver: not leader"),
  leaderChanged: e(Status.UNAVAILABLE, "etcdserver: leader changed"),
  stopped: e(Status.UNAVAILABLE, "etcdserver: server stopped"),
  timeout: e(Status.UNAVAILABLE, "etcdserver: request timed out"),
  timeoutDueToLeaderFail: e(Status.UNAVAILABLE, "etcdserver: request timed out, possibly due to previous leader failure"),
  timeoutDueToConnectionLost: e(Status.UNAVAILABLE, "etcdserver: request timed out, possibly due to connection lost"),
  /**
   * proposalDeadline: a proposal raft never took (no leader was known during the whole request
   * timeout). etcd 3.4's Propose returns the bare context error, which grpc-go sends as
   * Unknown "context deadline exceeded" (measured against etcd 3.4.23: `etcdctl put` on a
   * member without a leader answers this after 7 s).
   */
  proposalDeadline: e(Status.UNKNOWN, "context deadline exceeded"),
  /** proposalDropped: raft refused a proposal while a leader is known (e.g. a leader transfer is in progress); etcd sends raft's error as Unknown. */
  proposalDropped: e(Status.UNKNOWN, "raft proposal dropped"),
  corrupt: e(Status.DATA_LOSS, "etcdserver: corrupt cluster"),
  noSpace: e(Status.RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded"),
  memberNotFound: e(Status.NOT_FOUND, "etcdserver: member not found"),
  memberExist: e(Status.FAILED_PRECONDITION, "etcdserver: member ID already exist"),
  peerUrlExist: e(Status.FAILED_PRECONDITION, "etcdserver: Peer URLs already exists"),
  /** notEnoughStarted: like tooManyRequests, etcd 3.4 maps it to a client-side error value, which grpc-go sends as Unknown. */
  notEnoughStarted: e(Status.UNKNOWN, "etcdserver: re-configuration failed due to not enough started members"),
  unhealthy: e(Status.UNAVAILABLE, "etcdserver: unhealthy cluster"),
  memberBadUrls: e(Status.INVALID_ARGUMENT, "etcdserver: given member URLs are invalid"),
  memberNotLearner: e(Status.FAILED_PRECONDITION, "etcdserver: can only promote a learner member"),
  learnerNotReady: e(Status.FAILED_PRECONDITION, "etcdserver: can only promote a learner member which is in sync with leader"),
  tooManyLearners: e(Status.FAILED_PRECONDITION, "etcdserver: too many learner members in cluster"),
  badLeaderTransferee: e(Status.FAILED_PRECONDITION, "etcdserver: bad leader transferee"),
  leaderTransferTimeout: e(Status.UNAVAILABLE, "etcdserver: request timed out, leader transfer took too long"),
  learnerNotSupported: e(Status.UNAVAILABLE, "etcdserver: rpc not supported for learner"),
} as const;
