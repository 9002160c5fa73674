import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { CompactionInterrupted, type KVStore, type WriteTxn } from "@etcd-ts/mvcc";
import type { AlarmStore } from "../alarm_store.js";
import { Errors } from "../errors.js";
import type { AuthStore } from "@etcd-ts/auth";
import type { Applied, Applier, AuthRequest, LeaseStore, RequestContext } from "./applier.js";
import { applyAuthRequest, type TokenAssigner } from "./auth_requests.js";
import { deleteRangeRequest, putRequest, rangeRequest, txnRequest } from "./kv.js";

/**
 * BaseApplier applies requests to the stores themselves (etcd's applierV3backend): KV
 * requests to mvcc (each in one write transaction; see kv.ts for their meaning), with the
 * lease of every put checked at apply time, when the lease set is the one every member
 * agrees on; lease requests to the lessor; alarm requests to the alarm store. Every write
 * transaction's events keep the lessor's key attachments current (a put attaches its key to
 * its lease and detaches it from the previous one, a delete detaches it), as etcd's mvcc
 * does; auth requests to the auth store (auth_requests.ts). `kv` and `alarms` are replaced
 * when a snapshot is installed (the auth store reloads in place).
 */
export class BaseApplier implements Applier {
  constructor(
    public kv: KVStore,
    public alarms: AlarmStore,
    private readonly leases: LeaseStore,
    /** alarmsChanged runs after an alarm was raised or cleared (the server rebuilds its applier chain). */
    private readonly alarmsChanged: (m: etcdserverpb.AlarmMember, raised: boolean) => void,
    private readonly onFatal: (err: unknown) => void,
    private readonly authStore: AuthStore,
    private readonly tokens: TokenAssigner,
  ) {}

  auth(ctx: RequestContext, r: AuthRequest): Applied<unknown> {
    return { response: applyAuthRequest(this.authStore, this.tokens, ctx, r), revision: this.kv.currentRevision };
  }

  range(_ctx: RequestContext, req: etcdserverpb.RangeRequest): Applied<etcdserverpb.RangeResponse> {
    return rangeRequest(this.kv, req);
  }

  put(_ctx: RequestContext, req: etcdserverpb.PutRequest): Applied<etcdserverpb.PutResponse> {
    if (req.lease !== 0n && !this.leases.exists(req.lease)) throw Errors.leaseNotFound;
    const txn = this.kv.write();
    try {
      const response = putRequest(txn, req);
      return { response, revision: this.end(txn) };
    } catch (err) {
      this.end(txn);
      throw err;
    }
  }

  deleteRange(_ctx: RequestContext, req: etcdserverpb.DeleteRangeRequest): Applied<etcdserverpb.DeleteRangeResponse> {
    const txn = this.kv.write();
    const response = deleteRangeRequest(txn, req);
    return { response, revision: this.end(txn) };
  }

  txn(_ctx: RequestContext, req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse> {
    const txn = this.kv.write();
    let applied: Applied<etcdserverpb.TxnResponse>;
    try {
      applied = txnRequest(txn, req, this.leases);
    } catch (err) {
      this.end(txn);
      throw err;
    }
    applied.revision = this.end(txn);
    return applied;
  }

  /**
   * end ends a write transaction and moves its keys' lease attachments as its events say;
   * it returns the transaction's revision.
   */
  private end(txn: WriteTxn): bigint {
    const { revision, events } = txn.end();
    for (const ev of events) {
      const kv = ev.kv;
      if (kv === undefined) continue;
      const prevLease = ev.prevKv?.lease ?? 0n;
      if (ev.type === mvccpb.Event_EventType.DELETE) {
        if (prevLease !== 0n) this.leases.detach(prevLease, kv.key);
        continue;
      }
      if (prevLease !== 0n && prevLease !== kv.lease) this.leases.detach(prevLease, kv.key);
      if (kv.lease !== 0n) this.leases.attach(kv.lease, kv.key);
    }
    return revision;
  }

  /** leaseGrant creates a lease (its TTL raised to the minimum; see the lessor). */
  leaseGrant(_ctx: RequestContext, req: etcdserverpb.LeaseGrantRequest): Applied<etcdserverpb.LeaseGrantResponse> {
    if (req.ID === 0n) throw Errors.leaseNotFound;
    const l = this.leases.grant(req.ID, req.TTL);
    return { response: { header: undefined, ID: l.id, TTL: l.ttl, error: "" }, revision: this.kv.currentRevision };
  }

  /**
   * leaseRevoke deletes the keys attached to the lease, in key order, in one write
   * transaction (one revision, none when no key is attached), then the lease itself.
   */
  leaseRevoke(_ctx: RequestContext, req: etcdserverpb.LeaseRevokeRequest): Applied<etcdserverpb.LeaseRevokeResponse> {
    if (!this.leases.exists(req.ID)) throw Errors.leaseNotFound;
    const keys = this.leases.keys(req.ID);
    let revision = this.kv.currentRevision;
    if (keys.length > 0) {
      const txn = this.kv.write();
      for (const k of keys) txn.deleteRange(k, undefined);
      revision = this.end(txn);
    }
    this.leases.revoke(req.ID);
    return { response: { header: undefined }, revision };
  }

  /** leaseCheckpoint records each checkpointed lease's remaining TTL (unknown leases are skipped). */
  leaseCheckpoint(_ctx: RequestContext, req: etcdserverpb.LeaseCheckpointRequest): Applied<etcdserverpb.LeaseCheckpointResponse> {
    for (const cp of req.checkpoints) this.leases.applyCheckpoint(cp.ID, cp.remainingTTL);
    return { response: { header: undefined }, revision: this.kv.currentRevision };
  }

  compaction(_ctx: RequestContext, req: etcdserverpb.CompactionRequest): Applied<etcdserverpb.CompactionResponse> {
    const c = this.kv.compact(req.revision);
    const applied: Applied<etcdserverpb.CompactionResponse> = {
      response: etcdserverpb.CompactionResponse.create(),
      revision: this.kv.currentRevision,
    };
    // Only a physical compaction makes the caller wait for the deletion to finish.
    if (req.physical) applied.done = c.done;
    else {
      c.done.catch((err: unknown) => {
        // A member stopping interrupts the deletions; they resume when it starts again.
        if (!(err instanceof CompactionInterrupted)) this.onFatal(err);
      });
    }
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
