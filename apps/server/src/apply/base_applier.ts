import { etcdserverpb } from "@etcd-ts/proto";
import type { KVStore } from "@etcd-ts/mvcc";
import type { AlarmStore } from "../alarm_store.js";
import { Errors } from "../errors.js";
import type { Applied, Applier, LeaseLookup, RequestContext } from "./applier.js";
import { deleteRangeRequest, putRequest, rangeRequest, txnRequest } from "./kv.js";

/**
 * BaseApplier applies requests to the stores themselves (etcd's applierV3backend): KV
 * requests to mvcc (each in one write transaction; see kv.ts for their meaning), with the
 * lease of every put checked at apply time, when the lease set is the one every member
 * agrees on; alarm requests to the alarm store. `kv` and `alarms`
 * are replaced when a snapshot is installed.
 */
export class BaseApplier implements Applier {
  constructor(
    public kv: KVStore,
    public alarms: AlarmStore,
    private readonly leases: LeaseLookup,
    /** alarmsChanged runs after an alarm was raised or cleared (the server rebuilds its applier chain). */
    private readonly alarmsChanged: (m: etcdserverpb.AlarmMember, raised: boolean) => void,
    private readonly onFatal: (err: unknown) => void,
  ) {}

  range(_ctx: RequestContext, req: etcdserverpb.RangeRequest): Applied<etcdserverpb.RangeResponse> {
    return rangeRequest(this.kv, req);
  }

  put(_ctx: RequestContext, req: etcdserverpb.PutRequest): Applied<etcdserverpb.PutResponse> {
    if (req.lease !== 0n && !this.leases.exists(req.lease)) throw Errors.leaseNotFound;
    const txn = this.kv.write();
    try {
      const response = putRequest(txn, req);
      return { response, revision: txn.end().revision };
    } catch (err) {
      txn.end();
      throw err;
    }
  }

  deleteRange(_ctx: RequestContext, req: etcdserverpb.DeleteRangeRequest): Applied<etcdserverpb.DeleteRangeResponse> {
    const txn = this.kv.write();
    const response = deleteRangeRequest(txn, req);
    return { response, revision: txn.end().revision };
  }

  txn(_ctx: RequestContext, req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse> {
    const txn = this.kv.write();
    let applied: Applied<etcdserverpb.TxnResponse>;
    try {
      applied = txnRequest(txn, req, this.leases);
    } catch (err) {
      txn.end();
      throw err;
    }
    applied.revision = txn.end().revision;
    return applied;
  }

  compaction(_ctx: RequestContext, req: etcdserverpb.CompactionRequest): Applied<etcdserverpb.CompactionResponse> {
    const c = this.kv.compact(req.revision);
    const applied: Applied<etcdserverpb.CompactionResponse> = {
      response: etcdserverpb.CompactionResponse.create(),
      revision: this.kv.currentRevision,
    };
    // Only a physical compaction makes the caller wait for the deletion to finish.
    if (req.physical) applied.done = c.done;
    else c.done.catch(this.onFatal);
    return applied;
  }

  /**
   * alarm raises, clears or lists alarms: the response holds the alarms raised or cleared by
   * this request (none when nothing changed), or every alarm of the type asked for.
   */
  alarm(_ctx: RequestContext, req: etcdserverpb.AlarmRequest): Applied<etcdserverpb.AlarmResponse> {
    const AlarmAction = etcdserverpb.AlarmRequest_AlarmAction;
    const response: etcdserverpb.AlarmResponse = { header: undefined, alarms: [] };
    switch (req.action) {
      case AlarmAction.GET:
        response.alarms = this.alarms.get(req.alarm);
        break;
      case AlarmAction.ACTIVATE: {
        const m = this.alarms.activate(req.memberID, req.alarm);
        if (m !== undefined) {
          response.alarms.push(m);
          this.alarmsChanged(m, true);
        }
        break;
      }
      case AlarmAction.DEACTIVATE: {
        const m = this.alarms.deactivate(req.memberID, req.alarm);
        if (m !== undefined) {
          response.alarms.push(m);
          this.alarmsChanged(m, false);
        }
        break;
      }
      default:
        break;
    }
    return { response, revision: this.kv.currentRevision };
  }
}
