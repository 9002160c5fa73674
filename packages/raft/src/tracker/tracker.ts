import type { raftpb } from "@etcd-ts/proto";
import { JointConfig, VoteResult } from "../quorum.js";
import { Progress } from "./progress.js";

function sortIds(ids: Iterable<bigint>): bigint[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * TrackerConfig is the active membership. voters may be joint (outgoing non-empty).
 * learners never vote; learnersNext are voters of the outgoing config that become learners
 * when the joint config is left. Invariant: learners and voters are disjoint.
 */
export class TrackerConfig {
  voters: JointConfig;
  learners: Set<bigint>;
  learnersNext: Set<bigint>;
  /** autoLeave: leave the joint config automatically once it is committed. */
  autoLeave: boolean;

  constructor(
    voters: JointConfig = new JointConfig(),
    learners: Iterable<bigint> = [],
    learnersNext: Iterable<bigint> = [],
    autoLeave = false,
  ) {
    this.voters = voters;
    this.learners = new Set(learners);
    this.learnersNext = new Set(learnersNext);
    this.autoLeave = autoLeave;
  }

  clone(): TrackerConfig {
    return new TrackerConfig(this.voters.clone(), this.learners, this.learnersNext, this.autoLeave);
  }

  toString(): string {
    let s = `voters=${this.voters.toString()}`;
    if (this.learners.size > 0) s += ` learners=(${sortIds(this.learners).join(" ")})`;
    if (this.learnersNext.size > 0) s += ` learners_next=(${sortIds(this.learnersNext).join(" ")})`;
    if (this.autoLeave) s += " autoleave";
    return s;
  }
}

/** ProgressMap maps member id to the leader's replication progress for it. */
export type ProgressMap = Map<bigint, Progress>;

/**
 * ProgressTracker holds the membership, the per-member progress and the votes of the
 * current election.
 */
export class ProgressTracker {
  config = new TrackerConfig();
  progress: ProgressMap = new Map();
  votes = new Map<bigint, boolean>();
  readonly maxInflight: number;

  constructor(maxInflight: number) {
    this.maxInflight = maxInflight;
  }

  /** confState renders the membership as a raftpb.ConfState (ids sorted). */
  confState(): raftpb.ConfState {
    return {
      voters: sortIds(this.config.voters.incoming),
      votersOutgoing: sortIds(this.config.voters.outgoing),
      learners: sortIds(this.config.learners),
      learnersNext: sortIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  /** isSingleton: exactly one voter and not joint. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  /** committed is the highest index replicated on a quorum of voters. */
  committed(): bigint {
    return this.config.voters.committedIndex((id) => this.progress.get(id)?.match);
  }

  /** visit calls f for every tracked member in ascending id order (deterministic). */
  visit(f: (id: bigint, pr: Progress) => void): void {
    for (const id of this.sortedIds()) {
      const pr = this.progress.get(id);
      if (pr !== undefined) f(id, pr);
    }
  }

  private sortedFor: ProgressMap | undefined = undefined;
  private sortedSize = -1;
  private sorted: bigint[] = [];

  /** sortedIds caches the ids of `progress` in ascending order (maps are replaced, not edited, on config changes). */
  private sortedIds(): bigint[] {
    if (this.sortedFor !== this.progress || this.sortedSize !== this.progress.size) {
      this.sorted = sortIds(this.progress.keys());
      this.sortedFor = this.progress;
      this.sortedSize = this.progress.size;
    }
    return this.sorted;
  }

  /** quorumActive reports whether a quorum of voters was recently active. */
  quorumActive(): boolean {
    const votes = new Map<bigint, boolean>();
    for (const [id, pr] of this.progress) {
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    }
    return this.config.voters.voteResult(votes) === VoteResult.VoteWon;
  }

  /**
   * quorumHeardSince reports whether a quorum of voters was heard from after tick `since`
   * (lastActiveTick > since); `self` counts as heard now.
   */
  quorumHeardSince(self: bigint, since: number): boolean {
    const votes = new Map<bigint, boolean>();
    for (const [id, pr] of this.progress) {
      if (!pr.isLearner) votes.set(id, id === self || pr.lastActiveTick > since);
    }
    return this.config.voters.voteResult(votes) === VoteResult.VoteWon;
  }

  voterNodes(): bigint[] {
    return sortIds(this.config.voters.ids());
  }

  learnerNodes(): bigint[] {
    return sortIds(this.config.learners);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  /** recordVote records id's vote unless it already voted. */
  recordVote(id: bigint, v: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, v);
  }

  /** tallyVotes counts granted/rejected votes of voters and the election's result. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}
