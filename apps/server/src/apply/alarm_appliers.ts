import { etcdserverpb } from "@etcd-ts/proto";
import type { AlarmStore } from "../alarm_store.js";
import { Errors } from "../errors.js";
import { ApplierDecorator, type Applied, type Applier, type RequestContext } from "./applier.js";

/**
 * CappedApplier is the chain while a NOSPACE alarm is raised (etcd's applierV3Capped): puts,
 * txns holding a put and lease grants fail with `etcdserver: mvcc: database space exceeded`; reads,
 * deletes and compaction still work, so an operator can free space.
 */
export class CappedApplier extends ApplierDecorator {
  override put(): Applied<etcdserverpb.PutResponse> {
    throw Errors.noSpace;
  }

  override txn(ctx: RequestContext, req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse> {
    if (txnHasPut(req)) throw Errors.noSpace;
    return this.next.txn(ctx, req);
  }

  override leaseGrant(): Applied<etcdserverpb.LeaseGrantResponse> {
    throw Errors.noSpace;
  }
}

/**
 * CorruptApplier is the chain while a CORRUPT alarm is raised (etcd's applierV3Corrupt):
 * every KV and lease grant/revoke request in the log fails with `etcdserver: corrupt cluster`. Reads served without
 * the log still answer, and alarms can be listed and cleared.
 */
export class CorruptApplier extends ApplierDecorator {
  override range(): Applied<etcdserverpb.RangeResponse> {
    throw Errors.corrupt;
  }
  override put(): Applied<etcdserverpb.PutResponse> {
    throw Errors.corrupt;
  }
  override deleteRange(): Applied<etcdserverpb.DeleteRangeResponse> {
    throw Errors.corrupt;
  }
  override txn(): Applied<etcdserverpb.TxnResponse> {
    throw Errors.corrupt;
  }
  override compaction(): Applied<etcdserverpb.CompactionResponse> {
    throw Errors.corrupt;
  }
  override leaseGrant(): Applied<etcdserverpb.LeaseGrantResponse> {
    throw Errors.corrupt;
  }
  override leaseRevoke(): Applied<etcdserverpb.LeaseRevokeResponse> {
    throw Errors.corrupt;
  }
}

/**
 * applierFor puts what the raised alarms call for (etcd's capped or corrupt applier) around
 * chain, the applier that applies when no alarm is raised (the base applier, behind the quota
 * check when there is one).
 */
export function applierFor(chain: Applier, alarms: AlarmStore): Applier {
  if (alarms.has(etcdserverpb.AlarmType.CORRUPT)) return new CorruptApplier(chain);
  if (alarms.has(etcdserverpb.AlarmType.NOSPACE)) return new CappedApplier(chain);
  return chain;
}

/** txnHasPut reports whether either branch of a txn holds a put (etcd's quota cost > 0; puts in nested txns cost nothing there either). */
function txnHasPut(req: etcdserverpb.TxnRequest): boolean {
  for (const op of req.success) if (op.requestPut !== undefined) return true;
  for (const op of req.failure) if (op.requestPut !== undefined) return true;
  return false;
}
