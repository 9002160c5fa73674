import type { etcdserverpb, serverpb } from "@etcd-ts/proto";

/**
 * RequestOrigin tells where an applied request comes from: "local" when this member proposed
 * it and waits for its result, "log" when it comes from the log without a local waiter
 * (another member's proposal, or a replay after restart), "read" when it is served from the
 * local state without going through raft (a read-only txn, a range).
 */
export type RequestOrigin = "local" | "log" | "read";

/**
 * RequestContext travels with a request from the gRPC call to the applier: who asked (the
 * authenticated user and the auth revision their token was checked at; empty and 0 while
 * auth is off) and where the request comes from. Decorators (auth, quota) decide on it.
 */
export interface RequestContext {
  /** requestId is the proposal's ID; 0 for requests served without the log. */
  readonly requestId: bigint;
  /** index is the raft index of the entry being applied; 0 for requests served without the log. */
  readonly index: bigint;
  readonly user: string;
  readonly authRevision: bigint;
  readonly origin: RequestOrigin;
}

/** READ_CONTEXT is the context of a read served locally with no user (auth off). */
export const READ_CONTEXT: RequestContext = { requestId: 0n, index: 0n, user: "", authRevision: 0n, origin: "read" };

/** readContext is the context of a read served locally as `user`, checked at auth revision `authRevision`. */
export function readContext(user: string, authRevision: bigint): RequestContext {
  return user === "" && authRevision === 0n ? READ_CONTEXT : { requestId: 0n, index: 0n, user, authRevision, origin: "read" };
}

/** AUTH_REQUEST_KINDS are the auth requests of the log: the InternalRaftRequest fields that hold them. */
export const AUTH_REQUEST_KINDS = [
  "authEnable",
  "authDisable",
  "authenticate",
  "authUserAdd",
  "authUserDelete",
  "authUserChangePassword",
  "authUserGrantRole",
  "authUserGet",
  "authUserRevokeRole",
  "authRoleAdd",
  "authRoleGrantPermission",
  "authRoleGet",
  "authRoleRevokePermission",
  "authRoleDelete",
  "authUserList",
  "authRoleList",
] as const;

export type AuthRequestKind = (typeof AUTH_REQUEST_KINDS)[number];

/** AuthRequest is one auth request from the log: which kind, and the request. */
export type AuthRequest = { [K in AuthRequestKind]: { kind: K; req: NonNullable<serverpb.InternalRaftRequest[K]> } }[AuthRequestKind];

/**
 * Applied is one applied request's outcome: the response without its header, the revision
 * for the header, and, when the answer must wait for more work (a txn reading history, a
 * physical compaction), `done`, after which `response` is complete.
 */
export interface Applied<T> {
  response: T;
  revision: bigint;
  done?: Promise<void>;
}

/**
 * Applier applies one request to the member's stores (etcd's applierV3). The base applier
 * (base_applier.ts) applies to mvcc, leases and membership; decorators wrap it to refuse or
 * check requests (auth, quota, alarms) and forward the rest. Every method runs synchronously
 * inside the apply of a batch and throws the error the request fails with; its writes go into
 * the member's batch transaction.
 */
export interface Applier {
  range(ctx: RequestContext, req: etcdserverpb.RangeRequest): Applied<etcdserverpb.RangeResponse>;
  put(ctx: RequestContext, req: etcdserverpb.PutRequest): Applied<etcdserverpb.PutResponse>;
  deleteRange(ctx: RequestContext, req: etcdserverpb.DeleteRangeRequest): Applied<etcdserverpb.DeleteRangeResponse>;
  txn(ctx: RequestContext, req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse>;
  compaction(ctx: RequestContext, req: etcdserverpb.CompactionRequest): Applied<etcdserverpb.CompactionResponse>;
  alarm(ctx: RequestContext, req: etcdserverpb.AlarmRequest): Applied<etcdserverpb.AlarmResponse>;
  leaseGrant(ctx: RequestContext, req: etcdserverpb.LeaseGrantRequest): Applied<etcdserverpb.LeaseGrantResponse>;
  /** leaseRevoke deletes the lease's keys in one revision, then the lease. */
  leaseRevoke(ctx: RequestContext, req: etcdserverpb.LeaseRevokeRequest): Applied<etcdserverpb.LeaseRevokeResponse>;
  /** leaseCheckpoint records the remaining TTLs the leader checkpointed. */
  leaseCheckpoint(ctx: RequestContext, req: etcdserverpb.LeaseCheckpointRequest): Applied<etcdserverpb.LeaseCheckpointResponse>;
  /** auth applies an auth request (user, role, permission, enable/disable, authenticate); the response is the RPC's, header left out. */
  auth(ctx: RequestContext, r: AuthRequest): Applied<unknown>;
}

/**
 * ApplierDecorator forwards every request to the applier it wraps; a decorator extends it
 * and overrides what it refuses or checks.
 */
export class ApplierDecorator implements Applier {
  constructor(protected readonly next: Applier) {}

  range(ctx: RequestContext, req: etcdserverpb.RangeRequest): Applied<etcdserverpb.RangeResponse> {
    return this.next.range(ctx, req);
  }
  put(ctx: RequestContext, req: etcdserverpb.PutRequest): Applied<etcdserverpb.PutResponse> {
    return this.next.put(ctx, req);
  }
  deleteRange(ctx: RequestContext, req: etcdserverpb.DeleteRangeRequest): Applied<etcdserverpb.DeleteRangeResponse> {
    return this.next.deleteRange(ctx, req);
  }
  txn(ctx: RequestContext, req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse> {
    return this.next.txn(ctx, req);
  }
  compaction(ctx: RequestContext, req: etcdserverpb.CompactionRequest): Applied<etcdserverpb.CompactionResponse> {
    return this.next.compaction(ctx, req);
  }
  alarm(ctx: RequestContext, req: etcdserverpb.AlarmRequest): Applied<etcdserverpb.AlarmResponse> {
    return this.next.alarm(ctx, req);
  }
  leaseGrant(ctx: RequestContext, req: etcdserverpb.LeaseGrantRequest): Applied<etcdserverpb.LeaseGrantResponse> {
    return this.next.leaseGrant(ctx, req);
  }
  leaseRevoke(ctx: RequestContext, req: etcdserverpb.LeaseRevokeRequest): Applied<etcdserverpb.LeaseRevokeResponse> {
    return this.next.leaseRevoke(ctx, req);
  }
  leaseCheckpoint(ctx: RequestContext, req: etcdserverpb.LeaseCheckpointRequest): Applied<etcdserverpb.LeaseCheckpointResponse> {
    return this.next.leaseCheckpoint(ctx, req);
  }
  auth(ctx: RequestContext, r: AuthRequest): Applied<unknown> {
    return this.next.auth(ctx, r);
  }
}

/** LeaseLookup tells whether a lease exists (the lessor implements it). */
export interface LeaseLookup {
  exists(id: bigint): boolean;
}

/**
 * LeaseStore is what the base applier needs of the lessor (@etcd-ts/lease's Lessor
 * implements it): grant, revoke and checkpoint at apply, the keys attached to a lease, and
 * the key attachments every put and delete changes.
 */
export interface LeaseStore extends LeaseLookup {
  grant(id: bigint, ttl: bigint): { readonly id: bigint; readonly ttl: bigint };
  revoke(id: bigint): void;
  keys(id: bigint): Buffer[];
  attach(id: bigint, key: Buffer): void;
  detach(id: bigint, key: Buffer): void;
  applyCheckpoint(id: bigint, remainingTtl: bigint): void;
}
