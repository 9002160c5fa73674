import type { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import type { WatchResponse } from "@etcd-ts/mvcc";

/**
 * V2Backend is what the v2 store needs from the member: v3 reads and transactions (with the
 * member's own checks, quota and raft path), leases for TTLs, and watches. etcd's v2v3
 * emulation uses a v3 client to its own server the same way.
 */
export interface V2Backend {
  range(req: etcdserverpb.RangeRequest): Promise<etcdserverpb.RangeResponse>;
  txn(req: etcdserverpb.TxnRequest): Promise<etcdserverpb.TxnResponse>;
  /** leaseGrant grants a lease of ttl seconds and returns its ID. */
  leaseGrant(ttl: bigint): Promise<bigint>;
  /** leaseRevoke revokes a lease; a lease that is gone already is not an error. */
  leaseRevoke(id: bigint): Promise<void>;
  /** leaseExpiry is the clock time (ms) a lease expires at, undefined for a lease that is gone. */
  leaseExpiry(id: bigint): Promise<number | undefined>;
  /** watch streams the events of [key, end) from startRev on (see V2WatchFeed). */
  watch(key: Buffer, end: Buffer, startRev: bigint): V2WatchFeed;
  /** compactRevision is the member's compacted revision (0 when none). */
  readonly compactRevision: bigint;
  /** raftStatus is the member's raft committed index and term, for the X-Raft-Index and X-Raft-Term headers. */
  raftStatus(): { index: bigint; term: bigint };
}

/** V2WatchFeed is one v3 watch with previous key-values: its responses in order until closed. */
export interface V2WatchFeed {
  /** next resolves with the next response, or undefined once the feed has ended. */
  next(): Promise<WatchResponse | undefined>;
  close(): void;
}

export type { mvccpb };
