import { etcdserverpb } from "@etcd-ts/proto";
import type { KVStore, RangeResult } from "@etcd-ts/mvcc";
import type { AlarmStore } from "../alarm_store.js";
import { Errors } from "../errors.js";
import type { Applied, Applier, LeaseLookup, RequestContext } from "./applier.js";

/**
 * BaseApplier applies requests to the stores themselves (etcd's applierV3backend): KV
 * requests to mvcc, with the lease of every put checked at apply time, when the lease set
 * is the one every member agrees on; alarm requests to the alarm store. `kv` and `alarms`
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
    const r = this.kv.range(req);
    if (r instanceof Promise) {
      const response: etcdserverpb.RangeResponse = { header: undefined, kvs: [], more: false, count: 0n };
      return { response, revision: this.kv.currentRevision, done: r.then((res) => {
        fillRange(response, res);
      }) };
    }
    return { response: fillRange({ header: undefined, kvs: [], more: false, count: 0n }, r), revision: r.revision };
  }

  put(_ctx: RequestContext, req: etcdserverpb.PutRequest): Applied<etcdserverpb.PutResponse> {
    if (req.lease !== 0n && !this.leases.exists(req.lease)) throw Errors.leaseNotFound;
    const r = this.kv.put(req);
    return { response: r.response, revision: r.revision };
  }

  deleteRange(_ctx: RequestContext, req: etcdserverpb.DeleteRangeRequest): Applied<etcdserverpb.DeleteRangeResponse> {
    const r = this.kv.deleteRange(req);
    return { response: r.response, revision: r.revision };
  }

  txn(_ctx: RequestContext, req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse> {
    // Every put of the txn must name an existing lease (both branches: the chosen one is only
    // known inside mvcc's txn).
    if (!this.leasesExist(req)) throw Errors.leaseNotFound;
    const r = this.kv.txn(req);
    const applied: Applied<etcdserverpb.TxnResponse> = { response: r.response, revision: r.revision };
    if (r.ready !== undefined) applied.done = r.ready;
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

  private leasesExist(req: etcdserverpb.TxnRequest): boolean {
    for (const op of [...req.success, ...req.failure]) {
      const put = op.requestPut;
      if (put !== undefined && put.lease !== 0n && !this.leases.exists(put.lease)) return false;
      if (op.requestTxn !== undefined && !this.leasesExist(op.requestTxn)) return false;
    }
    return true;
  }
}

function fillRange(resp: etcdserverpb.RangeResponse, r: RangeResult): etcdserverpb.RangeResponse {
  resp.kvs = r.kvs;
  resp.more = r.more;
  resp.count = r.count;
  return resp;
}
