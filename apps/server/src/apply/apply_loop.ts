import { raftpb, serverpb } from "@etcd-ts/proto";
import { consistentIndexKey, type BatchTx } from "@etcd-ts/backend";
import type { RawNode } from "@etcd-ts/raft";
import { FP } from "../failpoint.js";
import type { MembershipStore } from "../membership_store.js";
import type { ApplyHandler } from "../raft_node.js";
import type { Wait } from "../wait.js";
import { AUTH_REQUEST_KINDS, type Applied, type Applier, type AuthRequest, type RequestContext } from "./applier.js";

/**
 * ApplyResult is what a proposer receives once its entry is applied: the outcome, or the
 * error the apply produced.
 */
export type ApplyResult = { ok: true; applied: Applied<unknown> } | { ok: false; err: unknown };

/**
 * ApplyLoop applies committed raft entries in order; it is etcd's apply routine. Normal
 * entries go through the applier chain, conf changes and member attributes to the membership
 * store. Every store writes into the one batch transaction, which the loop commits once per
 * applied batch together with the consistent index (the last applied index), so a restart
 * sees either all of a batch or none of it.
 * Raft restarts from the last snapshot (its applied index is the snapshot's), so the entries
 * between the snapshot and the consistent index come again: conf changes are re-applied to
 * raft, everything else is skipped.
 */
export class ApplyLoop implements ApplyHandler {
  appliedIndex: bigint;
  /**
   * proposed maps the data buffer of an entry this member proposed to the request it encodes,
   * so applying a local proposal skips decoding it again. Keyed by buffer identity (raft hands
   * back the very buffer it was given); entries read from the WAL or a peer are decoded.
   */
  readonly proposed = new WeakMap<Buffer, serverpb.InternalRaftRequest>();
  private readonly ciValue = Buffer.alloc(8);
  /**
   * onEmptyEntry runs when an empty normal entry (a new leader's first) is applied: the
   * server promotes its lessor there when it leads, as etcd does, so leases start expiring
   * only after every revoke and checkpoint of earlier terms is applied.
   */
  onEmptyEntry: (() => void) | undefined;

  constructor(
    /** applier is the head of the applier chain; the server swaps it (alarms, snapshot install). */
    public applier: Applier,
    consistentIndex: bigint,
    private readonly tx: BatchTx,
    private readonly membership: MembershipStore,
    private readonly node: () => RawNode,
    private readonly wait: Wait<ApplyResult>,
    private readonly onFatal: (err: unknown) => void,
  ) {
    this.appliedIndex = consistentIndex;
  }

  applyEntries(entries: raftpb.Entry[]): void {
    let wrote = false;
    for (const e of entries) {
      if (e.type === raftpb.EntryType.ENTRY_CONF_CHANGE) {
        if (FP.beforeApplyOneConfChange.armed && e.index > this.appliedIndex) FP.beforeApplyOneConfChange.hitSync();
        const cc = raftpb.ConfChange.decode(e.data);
        this.node().applyConfChange(cc);
        if (e.index > this.appliedIndex) {
          const ctx = serverpb.ConfChangeContext.decode(cc.context);
          this.membership.applyConfChange(cc, ctx);
          this.wait.trigger(ctx.requestId, { ok: true, applied: { response: undefined, revision: 0n } });
        }
      } else if (e.index > this.appliedIndex && e.type === raftpb.EntryType.ENTRY_NORMAL && e.data.length === 0) {
        if (FP.beforeApplyOneEntryNormal.armed) FP.beforeApplyOneEntryNormal.hitSync();
        // The empty entry a new leader appends: everything of earlier terms is applied now.
        this.onEmptyEntry?.();
      } else if (e.index > this.appliedIndex && e.type === raftpb.EntryType.ENTRY_NORMAL) {
        if (FP.beforeApplyOneEntryNormal.armed) FP.beforeApplyOneEntryNormal.hitSync();
        const local = this.proposed.get(e.data);
        // The raft log keeps the entry's buffer until a snapshot compacts it; the decoded
        // request is needed only once (kept, it doubled the log's memory).
        if (local !== undefined) this.proposed.delete(e.data);
        const req = local ?? serverpb.InternalRaftRequest.decode(e.data);
        const h = req.header;
        const ctx: RequestContext = {
          requestId: h?.id ?? 0n,
          index: e.index,
          user: h?.username ?? "",
          authRevision: h?.authRevision ?? 0n,
          origin: local !== undefined ? "local" : "log",
        };
        let result: ApplyResult;
        try {
          result = { ok: true, applied: this.applyRequest(ctx, req) };
        } catch (err) {
          result = { ok: false, err };
        }
        this.wait.trigger(ctx.requestId, result);
      }
      if (e.index > this.appliedIndex) {
        this.appliedIndex = e.index;
        wrote = true;
      }
    }
    if (wrote) {
      this.ciValue.writeBigUInt64BE(this.appliedIndex);
      this.tx.put(consistentIndexKey, Buffer.from(this.ciValue));
      if (FP.beforeCommit.armed) FP.beforeCommit.hitSync();
      const written = this.tx.commit();
      written.catch(this.onFatal);
      if (FP.afterCommit.armed) written.then(() => FP.afterCommit.hitSync(), () => undefined);
    }
  }

  private applyRequest(ctx: RequestContext, req: serverpb.InternalRaftRequest): Applied<unknown> {
    const a = this.applier;
    if (req.put !== undefined) return a.put(ctx, req.put);
    if (req.deleteRange !== undefined) return a.deleteRange(ctx, req.deleteRange);
    if (req.txn !== undefined) return a.txn(ctx, req.txn);
    if (req.compaction !== undefined) return a.compaction(ctx, req.compaction);
    if (req.alarm !== undefined) return a.alarm(ctx, req.alarm);
    if (req.leaseGrant !== undefined) return a.leaseGrant(ctx, req.leaseGrant);
    if (req.leaseRevoke !== undefined) return a.leaseRevoke(ctx, req.leaseRevoke);
    if (req.leaseCheckpoint !== undefined) return a.leaseCheckpoint(ctx, req.leaseCheckpoint);
    if (req.range !== undefined) {
      const r = a.range(ctx, req.range);
      if (r.done !== undefined) throw new Error("apply: a range in the log must read the current revision");
      return r;
    }
    for (const kind of AUTH_REQUEST_KINDS) {
      const r = req[kind];
      if (r !== undefined) return a.auth(ctx, { kind, req: r } as AuthRequest);
    }
    if (req.clusterVersionSet !== undefined) {
      this.membership.applyClusterVersion(req.clusterVersionSet.ver);
      return { response: undefined, revision: 0n };
    }
    if (req.memberAttributes !== undefined) {
      this.membership.applyMemberAttributes(req.memberAttributes);
      return { response: undefined, revision: 0n };
    }
    throw new Error("apply: entry holds no known request");
  }
}

/** decodeConsistentIndex decodes the stored consistent index (0 when none is stored). */
export function decodeConsistentIndex(v: Buffer | undefined): bigint {
  if (v === undefined) return 0n;
  if (v.length !== 8) throw new Error(`apply: stored consistent index has ${v.length} bytes, want 8`);
  return v.readBigUInt64BE(0);
}
