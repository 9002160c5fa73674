import type { etcdserverpb } from "@etcd-ts/proto";
import { Errors } from "../errors.js";
import { costLeaseGrant, costPut, costTxn, type BackendQuota } from "../quota.js";
import { ApplierDecorator, type Applied, type Applier, type RequestContext } from "./applier.js";

/**
 * QuotaApplier is etcd's quotaApplierV3: a put, a txn or a lease grant that does not fit in
 * this member's backend quota is still applied (every member applies the same log, whatever
 * its own disk holds) but answered `etcdserver: mvcc: database space exceeded`, and
 * onExceeded is told, so the server can raise the NOSPACE alarm for this member.
 */
export class QuotaApplier extends ApplierDecorator {
  constructor(
    next: Applier,
    private readonly quota: BackendQuota,
    private readonly onExceeded: () => void,
  ) {
    super(next);
  }

  override put(ctx: RequestContext, req: etcdserverpb.PutRequest): Applied<etcdserverpb.PutResponse> {
    return this.checked(this.quota.available(costPut(req)), this.next.put(ctx, req));
  }

  override txn(ctx: RequestContext, req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse> {
    return this.checked(this.quota.available(costTxn(req)), this.next.txn(ctx, req));
  }

  override leaseGrant(ctx: RequestContext, req: etcdserverpb.LeaseGrantRequest): Applied<etcdserverpb.LeaseGrantResponse> {
    return this.checked(this.quota.available(costLeaseGrant()), this.next.leaseGrant(ctx, req));
  }

  /** checked returns what the wrapped applier applied, or, when it did not fit (fits was judged before applying), throws noSpace. */
  private checked<T>(fits: boolean, applied: Applied<T>): Applied<T> {
    if (fits) return applied;
    applied.done?.catch(() => undefined); // nobody waits for this answer now
    this.onExceeded();
    throw Errors.noSpace;
  }
}
