import { etcdserverpb, raftpb, serverpb } from "@etcd-ts/proto";
import type { KVStore } from "@etcd-ts/mvcc";
import type { RawNode } from "@etcd-ts/raft";
import type { Wait } from "./wait.js";
import type { ApplyHandler } from "./raft_node.js";

/**
 * ApplyResult is what a proposer receives once its entry is applied: the response (without
 * header) and the revision for the header, or the error the apply produced. `done` is set
 * when the answer must wait for more work (a physical compaction, a txn reading history).
 */
export interface ApplyResult {
  response?: unknown;
  revision: bigint;
  err?: unknown;
  done?: Promise<void>;
}

/** MembershipApplier applies the membership side of committed entries (the server implements it). */
export interface MembershipApplier {
  /** applyConfChange updates the member list after raft applied `cc`; returns the proposer's result. */
  applyConfChange(cc: raftpb.ConfChange, ctx: serverpb.ConfChangeContext, confState: raftpb.ConfState): ApplyResult;
  applyMemberAttributes(req: serverpb.MemberAttributesRequest): void;
}

/**
 * Applier applies committed raft entries, in order; it is etcd's apply layer. All entries of
 * one Ready are applied synchronously and then written to the backend as one batch that also
 * records the consistent index (the last applied index).
 * Raft itself restarts from the last snapshot (its applied index is the snapshot's), so the
 * entries between the snapshot and the consistent index come again: conf changes are
 * re-applied to raft, everything else is skipped.
 */
export class Applier implements ApplyHandler {
  appliedIndex: bigint;
  /**
   * proposed maps the data buffer of an entry this member proposed to the request it encodes,
   * so applying a local proposal skips decoding it again. Keyed by buffer identity (raft hands
   * back the very buffer it was given); entries read from the WAL or a peer are decoded.
   */
  readonly proposed = new WeakMap<Buffer, serverpb.InternalRaftRequest>();

  constructor(
    public kv: KVStore,
    private readonly node: () => RawNode,
    private readonly wait: Wait<ApplyResult>,
    private readonly membership: MembershipApplier,
    private readonly onFatal: (err: unknown) => void,
  ) {
    this.appliedIndex = kv.consistentIndex;
  }

  applyEntries(entries: raftpb.Entry[]): void {
    let wrote = false;
    for (const e of entries) {
      if (e.type === raftpb.EntryType.ENTRY_CONF_CHANGE) {
        const cc = raftpb.ConfChange.decode(e.data);
        const confState = this.node().applyConfChange(cc);
        if (e.index > this.appliedIndex) {
          const ctx = serverpb.ConfChangeContext.decode(cc.context);
          const result = this.membership.applyConfChange(cc, ctx, confState);
          this.wait.trigger(ctx.requestId, result);
        }
      } else if (e.index > this.appliedIndex && e.type === raftpb.EntryType.ENTRY_NORMAL && e.data.length > 0) {
        const req = this.proposed.get(e.data) ?? serverpb.InternalRaftRequest.decode(e.data);
        const id = req.header?.id ?? 0n;
        let result: ApplyResult;
        try {
          result = this.applyRequest(req);
        } catch (err) {
          result = { revision: this.kv.currentRevision, err };
        }
        this.wait.trigger(id, result);
      }
      if (e.index > this.appliedIndex) {
        this.appliedIndex = e.index;
        wrote = true;
      }
    }
    if (wrote) this.kv.commit(this.appliedIndex).catch(this.onFatal);
  }

  private applyRequest(req: serverpb.InternalRaftRequest): ApplyResult {
    if (req.put !== undefined) return this.kv.put(req.put);
    if (req.deleteRange !== undefined) return this.kv.deleteRange(req.deleteRange);
    if (req.txn !== undefined) {
      // A txn reading history answers its ranges once they are read (`ready`).
      const r = this.kv.txn(req.txn);
      return r.ready === undefined ? r : { ...r, done: r.ready };
    }
    if (req.compaction !== undefined) {
      const c = this.kv.compact(req.compaction.revision);
      const res: ApplyResult = {
        response: etcdserverpb.CompactionResponse.create(),
        revision: this.kv.currentRevision,
      };
      // Only a physical compaction makes the caller wait for the deletion to finish.
      if (req.compaction.physical) res.done = c.done;
      else c.done.catch(this.onFatal);
      return res;
    }
    if (req.memberAttributes !== undefined) {
      this.membership.applyMemberAttributes(req.memberAttributes);
      return { revision: this.kv.currentRevision };
    }
    if (req.range !== undefined) {
      const r = this.kv.range(req.range);
      if (r instanceof Promise) throw new Error("apply: a range in the log must read the current revision");
      return { response: r, revision: r.revision };
    }
    throw new Error("apply: entry holds no known request");
  }
}
