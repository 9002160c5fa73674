import type { raftpb } from "@etcd-ts/proto";
import type { Raft, SoftState } from "./raft.js";
import { StateType } from "./raft.js";
import type { ProgressStateType } from "./tracker/progress.js";

/** ProgressStatus is a snapshot of the leader's replication progress for one member. */
export interface ProgressStatus {
  match: bigint;
  next: bigint;
  state: ProgressStateType;
  isLearner: boolean;
  recentActive: boolean;
  pendingSnapshot: bigint;
  /** inflight is the number of MsgApps awaiting acknowledgement. */
  inflight: number;
}

/**
 * Status describes a node: its hard and soft state, the applied index, the membership and,
 * on the leader only, the progress of every member (empty map otherwise).
 */
export interface Status {
  id: bigint;
  hardState: raftpb.HardState;
  softState: SoftState;
  applied: bigint;
  progress: Map<bigint, ProgressStatus>;
  leadTransferee: bigint;
  config: raftpb.ConfState;
}

export function getStatus(r: Raft): Status {
  const progress = new Map<bigint, ProgressStatus>();
  if (r.state === StateType.Leader) {
    r.prs.visit((id, pr) => {
      progress.set(id, {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        isLearner: pr.isLearner,
        recentActive: pr.recentActive,
        pendingSnapshot: pr.pendingSnapshot,
        inflight: pr.inflights.length(),
      });
    });
  }
  return {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    progress,
    leadTransferee: r.leadTransferee,
    config: r.prs.confState(),
  };
}
