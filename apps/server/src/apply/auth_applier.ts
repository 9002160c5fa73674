import type { AuthInfo, AuthStore } from "@etcd-ts/auth";
import type { etcdserverpb } from "@etcd-ts/proto";
import { ApplierDecorator, type Applied, type Applier, type AuthRequest, type AuthRequestKind, type LeaseStore, type RequestContext } from "./applier.js";

/** ADMIN_KINDS are the auth requests only a user with the root role may make (etcd's needAdminPermission). */
const ADMIN_KINDS: ReadonlySet<AuthRequestKind> = new Set<AuthRequestKind>([
  "authEnable",
  "authDisable",
  "authUserAdd",
  "authUserDelete",
  "authUserChangePassword",
  "authUserGrantRole",
  "authUserRevokeRole",
  "authRoleAdd",
  "authRoleGrantPermission",
  "authRoleRevokePermission",
  "authRoleDelete",
  "authUserList",
  "authRoleList",
]);

/**
 * AuthApplier checks, at apply, that the user a request runs as (its header's user and auth
 * revision) may make it (etcd's authApplierV3): reads need read permission on their keys,
 * writes write permission, a put with prev_kv or a delete with prev_kv read permission too;
 * every compare and every operation of both branches of a txn, nested txns included; a put
 * attaching a lease, or a lease revoke, write permission on every key the lease holds; user
 * and role management the root role, except reading one's own user and one's own roles.
 * While auth is off every check passes. Refusals throw AuthError.
 */
export class AuthApplier extends ApplierDecorator {
  constructor(
    next: Applier,
    private readonly store: () => AuthStore,
    private readonly leases: LeaseStore,
  ) {
    super(next);
  }

  override range(ctx: RequestContext, req: etcdserverpb.RangeRequest): Applied<etcdserverpb.RangeResponse> {
    if (this.store().enabled) this.store().isRangePermitted(info(ctx), buf(req.key), buf(req.rangeEnd));
    return this.next.range(ctx, req);
  }

  override put(ctx: RequestContext, req: etcdserverpb.PutRequest): Applied<etcdserverpb.PutResponse> {
    const s = this.store();
    if (!s.enabled) return this.next.put(ctx, req);
    const ai = info(ctx);
    s.isPutPermitted(ai, buf(req.key));
    this.checkLeaseKeys(ai, req.lease);
    if (req.prevKv) s.isRangePermitted(ai, buf(req.key), undefined);
    return this.next.put(ctx, req);
  }

  override deleteRange(ctx: RequestContext, req: etcdserverpb.DeleteRangeRequest): Applied<etcdserverpb.DeleteRangeResponse> {
    const s = this.store();
    if (!s.enabled) return this.next.deleteRange(ctx, req);
    const ai = info(ctx);
    s.isDeleteRangePermitted(ai, buf(req.key), buf(req.rangeEnd));
    if (req.prevKv) s.isRangePermitted(ai, buf(req.key), buf(req.rangeEnd));
    return this.next.deleteRange(ctx, req);
  }

  override txn(ctx: RequestContext, req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse> {
    if (this.store().enabled) checkTxn(this.store(), info(ctx), req);
    return this.next.txn(ctx, req);
  }

  override leaseRevoke(ctx: RequestContext, req: etcdserverpb.LeaseRevokeRequest): Applied<etcdserverpb.LeaseRevokeResponse> {
    this.checkLeaseKeys(info(ctx), req.ID);
    return this.next.leaseRevoke(ctx, req);
  }

  override auth(ctx: RequestContext, r: AuthRequest): Applied<unknown> {
    const s = this.store();
    const ai = info(ctx);
    if (ADMIN_KINDS.has(r.kind)) s.isAdminPermitted(ai);
    else if (r.kind === "authUserGet" && r.req.name !== ai.user) s.isAdminPermitted(ai);
    else if (r.kind === "authRoleGet" && !s.hasRole(ai.user, r.req.role)) s.isAdminPermitted(ai);
    return this.next.auth(ctx, r);
  }

  /** checkLeaseKeys: attaching to or revoking a lease needs write permission on every key it holds. */
  private checkLeaseKeys(ai: AuthInfo, lease: bigint): void {
    if (lease === 0n || !this.store().enabled || !this.leases.exists(lease)) return;
    for (const k of this.leases.keys(lease)) this.store().isPutPermitted(ai, k);
  }
}

/** buf views a protobuf bytes field as a Buffer without copying it. */
function buf(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function info(ctx: RequestContext): AuthInfo {
  return { user: ctx.user, revision: ctx.authRevision };
}

/** checkTxn checks every compare (read) and every operation of both branches, recursing into nested txns. */
export function checkTxn(s: AuthStore, ai: AuthInfo, req: etcdserverpb.TxnRequest): void {
  for (const c of req.compare) s.isRangePermitted(ai, buf(c.key), buf(c.rangeEnd));
  for (const op of [...req.success, ...req.failure]) {
    if (op.requestRange !== undefined) {
      s.isRangePermitted(ai, buf(op.requestRange.key), buf(op.requestRange.rangeEnd));
    } else if (op.requestPut !== undefined) {
      s.isPutPermitted(ai, buf(op.requestPut.key));
      if (op.requestPut.prevKv) s.isRangePermitted(ai, buf(op.requestPut.key), undefined);
    } else if (op.requestDeleteRange !== undefined) {
      const d = op.requestDeleteRange;
      if (d.prevKv) s.isRangePermitted(ai, buf(d.key), buf(d.rangeEnd));
      s.isDeleteRangePermitted(ai, buf(d.key), buf(d.rangeEnd));
    } else if (op.requestTxn !== undefined) {
      checkTxn(s, ai, op.requestTxn);
    }
  }
}
