import { bigMax, bigMin } from "../util.js";
import { Inflights } from "./inflights.js";

/** ProgressStateType is the replication mode the leader uses for one follower. */
export enum ProgressStateType {
  /** Probe: send one MsgApp at a time until the follower's match point is found. */
  Probe = 0,
  /** Replicate: stream MsgApps optimistically, limited by the inflights window. */
  Replicate = 1,
  /** Snapshot: a snapshot is in flight; send nothing until it is reported. */
  Snapshot = 2,
}

/**
 * Progress is the leader's view of one follower: match (highest index known replicated),
 * next (next index to send), the replication state and the flow-control window.
 * Invariant: match < next.
 */
export class Progress {
  match: bigint;
  next: bigint;
  state: ProgressStateType = ProgressStateType.Probe;
  /** pendingSnapshot is the index of the snapshot in flight (Snapshot state only). */
  pendingSnapshot = 0n;
  /** recentActive: heard from the follower since the last check-quorum round. */
  recentActive: boolean;
  /**
   * lastActiveTick is the leader's tick count (Raft's `ticks`) when it last heard from this
   * follower (an append or heartbeat response); -1 until the leader starts counting for it.
   */
  lastActiveTick = -1;
  /** probeSent: in Probe state, one MsgApp was sent and is awaiting an answer. */
  probeSent = false;
  inflights: Inflights;
  isLearner: boolean;

  constructor(init: { match: bigint; next: bigint; maxInflight: number; isLearner: boolean; recentActive?: boolean }) {
    this.match = init.match;
    this.next = init.next;
    this.inflights = new Inflights(init.maxInflight);
    this.isLearner = init.isLearner;
    this.recentActive = init.recentActive ?? false;
  }

  clone(): Progress {
    const p = new Progress({
      match: this.match,
      next: this.next,
      maxInflight: this.inflights.size,
      isLearner: this.isLearner,
      recentActive: this.recentActive,
    });
    p.state = this.state;
    p.pendingSnapshot = this.pendingSnapshot;
    p.probeSent = this.probeSent;
    p.lastActiveTick = this.lastActiveTick;
    p.inflights = this.inflights.clone();
    return p;
  }

  private resetState(state: ProgressStateType): void {
    this.probeSent = false;
    this.pendingSnapshot = 0n;
    this.state = state;
    this.inflights.reset();
  }

  /** becomeProbe moves to Probe; after a snapshot, probing resumes past the snapshot. */
  becomeProbe(): void {
    if (this.state === ProgressStateType.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressStateType.Probe);
      this.next = bigMax(this.match + 1n, pending + 1n);
    } else {
      this.resetState(ProgressStateType.Probe);
      this.next = this.match + 1n;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressStateType.Replicate);
    this.next = this.match + 1n;
  }

  becomeSnapshot(snapshotIndex: bigint): void {
    this.resetState(ProgressStateType.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** maybeUpdate records an ack up to n; returns whether match advanced. */
  maybeUpdate(n: bigint): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < n + 1n) this.next = n + 1n;
    return updated;
  }

  /** optimisticUpdate advances next past a MsgApp just sent in Replicate state. */
  optimisticUpdate(n: bigint): void {
    this.next = n + 1n;
  }

  /**
   * maybeDecrTo handles a rejection of the MsgApp at index `rejected`; matchHint is the
   * index the follower (or the leader's term search) suggests probing next. Returns false
   * for stale rejections.
   */
  maybeDecrTo(rejected: bigint, matchHint: bigint): boolean {
    if (this.state === ProgressStateType.Replicate) {
      // A rejection at or below match is stale (an earlier MsgApp reordered).
      if (rejected <= this.match) return false;
      this.next = this.match + 1n;
      return true;
    }
    // In Probe, only the rejection of the last probe (at next-1) counts.
    if (this.next - 1n !== rejected) return false;
    this.next = bigMax(bigMin(rejected, matchHint + 1n), this.match + 1n);
    if (this.next < 1n) this.next = 1n;
    this.probeSent = false;
    return true;
  }

  /** isPaused reports whether the leader must not send MsgApp to this follower now. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressStateType.Probe:
        return this.probeSent;
      case ProgressStateType.Replicate:
        return this.inflights.full();
      case ProgressStateType.Snapshot:
        return true;
    }
  }

  toString(): string {
    let s = `${ProgressStateType[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += " learner";
    if (this.isPaused()) s += " paused";
    if (this.pendingSnapshot > 0n) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += " inactive";
    const n = this.inflights.length();
    if (n > 0) s += ` inflight=${n}${this.inflights.full() ? "[full]" : ""}`;
    return s;
  }
}
