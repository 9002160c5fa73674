import { raftpb } from "@etcd-ts/proto";
import { ErrStepLocalMsg, ErrStepPeerNotFound } from "./errors.js";
import { Raft, type Config, type SoftState } from "./raft.js";
import type { ReadState } from "./read_only.js";
import { getStatus, type Status } from "./status.js";
import {
  emptyHardState,
  hardStateEqual,
  isEmptyHardState,
  isLocalMsg,
  isResponseMsg,
  mustSync,
  newEntry,
  newMessage,
  None,
  snapIndex,
} from "./util.js";

const MT = raftpb.MessageType;

/**
 * Ready is one batch of work raft hands to the application. Handle it in this order:
 *
 * 1. Persist: if `snapshot` is set, install it in stable storage; append `entries`; save
 *    `hardState` if set. When `mustSync` is true these writes must be durable (fsync)
 *    before step 2.
 * 2. Send `messages` — only after step 1, because they may promise what was persisted
 *    (a vote, a term, appended entries). A MsgSnap's outcome is reported back with
 *    RawNode.reportSnapshot.
 * 3. Apply: install `snapshot` in the state machine, then apply `committedEntries` in order.
 *    They may include entries of this same Ready, so apply only after step 1. For each
 *    conf change entry call RawNode.applyConfChange before advancing. Serve `readStates`
 *    once the applied index reaches their index.
 * 4. Call RawNode.advance(ready). Do not call ready() again before that.
 *
 * Between ready() and advance() the node may keep receiving messages and ticks. A server
 * that applies in the background may call advance() once step 1 is done and the committed
 * entries are queued for applying in order, provided every conf change entry of the Ready
 * was already applied with applyConfChange.
 */
export interface Ready {
  /** softState is the new leader/role, present only when it changed. */
  softState?: SoftState;
  /** hardState is the new term/vote/commit to persist, present only when it changed. */
  hardState?: raftpb.HardState;
  /** readStates answer ReadIndex requests (see ReadState). */
  readStates: ReadState[];
  /** entries must be appended to stable storage BEFORE the messages are sent. */
  entries: raftpb.Entry[];
  /** snapshot, when present, must be persisted and installed (it replaces the log before it). */
  snapshot?: raftpb.Snapshot;
  /** committedEntries are to be applied, in order, after `entries` are persisted. */
  committedEntries: raftpb.Entry[];
  /** messages are to be sent after the entries, hard state and snapshot are persisted. */
  messages: raftpb.Message[];
  /**
   * mustSync: the persisted writes of this Ready must be fsynced before sending messages
   * (new entries, a snapshot, or a new term/vote). A commit-index-only change need not be.
   */
  mustSync: boolean;
}

/** Peer is a member of a new cluster, given to bootstrap(). context is opaque to raft. */
export interface Peer {
  id: bigint;
  context?: Buffer;
}

/**
 * RawNode is the application's handle on one raft node: a synchronous, single-threaded
 * wrapper that turns raft's state changes into Ready batches. It does no I/O and keeps no
 * timers; the application calls tick() periodically and runs the Ready loop.
 */
export class RawNode {
  /** raft is the underlying state machine (exposed for tests and diagnostics). */
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: raftpb.HardState;

  constructor(config: Config) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
  }

  /**
   * bootstrap initializes a new cluster on empty storage: one committed conf change entry
   * (add voter) per peer at term 1, already applied to the membership. The first Ready
   * carries these entries (to persist) and as committed entries (to apply, including
   * applyConfChange). A node with unapplied conf changes does not campaign, so handle that
   * first Ready before expecting an election. Throws if the storage is not empty.
   */
  bootstrap(peers: Peer[]): void {
    if (peers.length === 0) throw new Error("raft: must provide at least one peer to bootstrap");
    if (this.raft.raftLog.storage.lastIndex() !== 0n) throw new Error("raft: can't bootstrap a nonempty Storage");
    // Nothing is persisted yet: the first Ready must carry the HardState.
    this.prevHardState = emptyHardState();
    this.raft.becomeFollower(1n, None);
    const ents = peers.map((p, i) => {
      const cc: raftpb.ConfChange = {
        transition: raftpb.ConfChangeTransition.CONF_CHANGE_TRANSITION_AUTO,
        changes: [{ type: raftpb.ConfChangeType.CONF_CHANGE_ADD_NODE, nodeId: p.id }],
        context: p.context ?? Buffer.alloc(0),
      };
      return newEntry({
        term: 1n,
        index: BigInt(i + 1),
        type: raftpb.EntryType.ENTRY_CONF_CHANGE,
        data: Buffer.from(raftpb.ConfChange.encode(cc).finish()),
      });
    });
    this.raft.raftLog.append(ents);
    // Commit them (they are the agreed starting point of every member) and apply them to
    // the membership so the node can campaign; raftLog.applied stays 0 so the application
    // still sees them in committedEntries. Re-applying an add is a no-op.
    this.raft.raftLog.committed = BigInt(ents.length);
    for (const p of peers) {
      this.raft.applyConfChange({
        transition: raftpb.ConfChangeTransition.CONF_CHANGE_TRANSITION_AUTO,
        changes: [{ type: raftpb.ConfChangeType.CONF_CHANGE_ADD_NODE, nodeId: p.id }],
        context: Buffer.alloc(0),
      });
    }
  }

  /** tick advances the logical clock by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** campaign makes this node start an election now (pre-vote first if configured). */
  campaign(): void {
    this.raft.step(newMessage({ type: MT.MSG_HUP }));
  }

  /**
   * propose asks to append data to the log. Throws ErrProposalDropped when it cannot be
   * accepted now (no known leader, transfer in progress, size limit). An accepted proposal
   * may still be lost (e.g. leader change); the application retries if needed.
   */
  propose(data: Buffer): void {
    this.raft.step(newMessage({ type: MT.MSG_PROP, from: this.raft.id, entries: [newEntry({ data })] }));
  }

  /**
   * proposeConfChange proposes a membership change. One change at a time: while another is
   * unapplied, or if the change is invalid for the current membership, the leader turns it
   * into an empty entry (it is silently dropped). Throws ErrProposalDropped like propose.
   */
  proposeConfChange(cc: raftpb.ConfChange): void {
    const data = Buffer.from(raftpb.ConfChange.encode(cc).finish());
    this.raft.step(
      newMessage({
        type: MT.MSG_PROP,
        from: this.raft.id,
        entries: [newEntry({ type: raftpb.EntryType.ENTRY_CONF_CHANGE, data })],
      }),
    );
  }

  /**
   * step feeds a message received from a peer. Throws ErrStepLocalMsg for local-only types,
   * ErrStepPeerNotFound for responses from non-members, ErrProposalDropped for forwarded
   * proposals the leader cannot accept.
   */
  step(m: raftpb.Message): void {
    if (isLocalMsg(m.type)) throw new ErrStepLocalMsg();
    if (this.raft.prs.progress.has(m.from) || !isResponseMsg(m.type)) {
      this.raft.step(m);
      return;
    }
    throw new ErrStepPeerNotFound();
  }

  /** hasReady reports whether ready() would return anything to handle. */
  hasReady(): boolean {
    const r = this.raft;
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) return true;
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.prevHardState)) return true;
    if (r.raftLog.unstable.snapshot !== undefined && snapIndex(r.raftLog.unstable.snapshot) !== 0n) return true;
    if (r.msgs.length > 0 || r.raftLog.unstableEntries().length > 0 || r.raftLog.hasNextEnts()) return true;
    return r.readStates.length > 0;
  }

  /** ready returns the pending work; see Ready for how to handle it. Call advance() after. */
  ready(): Ready {
    const r = this.raft;
    const rd: Ready = {
      readStates: r.readStates,
      entries: r.raftLog.unstableEntries().slice(),
      committedEntries: r.raftLog.nextEnts(),
      messages: r.msgs,
      mustSync: false,
    };
    const ss = r.softState();
    if (ss.lead !== this.prevSoftState.lead || ss.raftState !== this.prevSoftState.raftState) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    const hs = r.hardState();
    if (!hardStateEqual(hs, this.prevHardState)) rd.hardState = hs;
    const snap = r.raftLog.unstable.snapshot;
    if (snap !== undefined) rd.snapshot = snap;
    // A snapshot is acknowledged to the leader like entries: it must be durable too.
    rd.mustSync = mustSync(hs, this.prevHardState, rd.entries.length) || snap !== undefined;
    r.msgs = [];
    r.readStates = [];
    return rd;
  }

  /**
   * advance tells raft the Ready was handled: entries/snapshot persisted, committed entries
   * applied. Raft then drops the persisted entries from memory and moves its applied index.
   */
  advance(rd: Ready): void {
    if (rd.hardState !== undefined) this.prevHardState = rd.hardState;
    const r = this.raft;
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    const applied = last !== undefined ? last.index : snapIndex(rd.snapshot);
    if (applied > 0n) r.appliedTo(applied);
    r.reduceUncommittedSize(rd.committedEntries);
    const lastEnt = rd.entries[rd.entries.length - 1];
    if (lastEnt !== undefined) r.raftLog.stableTo(lastEnt.index, lastEnt.term);
    if (rd.snapshot !== undefined) r.raftLog.stableSnapTo(snapIndex(rd.snapshot));
  }

  /** applyConfChange applies a committed conf change entry's change; returns the new membership. */
  applyConfChange(cc: raftpb.ConfChange): raftpb.ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * readIndex requests a read index for a linearizable read; the answer comes back as a
   * ReadState with the same requestCtx (which should be unique). May be silently dropped
   * (no leader); the application retries.
   */
  readIndex(requestCtx: Buffer): void {
    this.raft.step(newMessage({ type: MT.MSG_READ_INDEX, entries: [newEntry({ data: requestCtx })] }));
  }

  /**
   * transferLeader asks the leader to hand leadership to `to` (call it on the leader; on a
   * follower the request is forwarded and names that follower as the transferee).
   */
  transferLeader(to: bigint): void {
    this.raft.step(newMessage({ type: MT.MSG_TRANSFER_LEADER, from: to }));
  }

  /** reportUnreachable tells the leader a message to `id` could not be delivered. */
  reportUnreachable(id: bigint): void {
    this.raft.step(newMessage({ type: MT.MSG_UNREACHABLE, from: id }));
  }

  /** reportSnapshot tells the leader whether the snapshot sent to `id` was delivered and applied. */
  reportSnapshot(id: bigint, ok: boolean): void {
    this.raft.step(newMessage({ type: MT.MSG_SNAP_STATUS, from: id, reject: !ok }));
  }

  /** status describes the node (progress of every member when leader). */
  status(): Status {
    return getStatus(this.raft);
  }
}
