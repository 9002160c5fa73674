import { raftpb } from "@etcd-ts/proto";
import { JointConfig } from "./quorum.js";
import { Progress } from "./tracker/progress.js";
import { TrackerConfig, type ProgressMap } from "./tracker/tracker.js";
import { bigMax } from "./util.js";

const CCT = raftpb.ConfChangeType;

/** ConfChangeError: a membership change that is invalid for the current configuration. */
export class ConfChangeError extends Error {
  constructor(message: string) {
    super(`raft: confchange: ${message}`);
    this.name = "ConfChangeError";
  }
}

/** ChangeResult is a new configuration and progress map (the inputs are never mutated). */
export interface ChangeResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

/** isLeaveJoint: an AUTO-transition change with no single changes means "leave joint". */
export function isLeaveJoint(cc: raftpb.ConfChange): boolean {
  return cc.transition === raftpb.ConfChangeTransition.CONF_CHANGE_TRANSITION_AUTO && cc.changes.length === 0;
}

/**
 * enterJointOf reports whether cc must use joint consensus (several changes or an explicit
 * joint transition) and, if so, whether the joint config is left automatically.
 */
export function enterJointOf(cc: raftpb.ConfChange): { autoLeave: boolean } | undefined {
  const T = raftpb.ConfChangeTransition;
  if (cc.transition !== T.CONF_CHANGE_TRANSITION_AUTO || cc.changes.length > 1) {
    return { autoLeave: cc.transition !== T.CONF_CHANGE_TRANSITION_JOINT_EXPLICIT };
  }
  return undefined;
}

/**
 * Changer applies membership changes to a configuration: simple (at most one voter changes),
 * entering a joint configuration, and leaving it. lastIndex is used to initialize the
 * progress of added members.
 */
export class Changer {
  constructor(
    private readonly config: TrackerConfig,
    private readonly progress: ProgressMap,
    private readonly maxInflight: number,
    private readonly lastIndex: bigint,
  ) {}

  /** enterJoint makes the current voters the outgoing half and applies ccs to the incoming half. */
  enterJoint(autoLeave: boolean, ccs: raftpb.ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (config.voters.isJoint()) throw new ConfChangeError("config is already joint");
    if (config.voters.incoming.size === 0) throw new ConfChangeError("can't make a zero-voter config joint");
    config.voters.outgoing = new Set(config.voters.incoming);
    this.apply(config, progress, ccs);
    config.autoLeave = autoLeave;
    return checkAndReturn(config, progress);
  }

  /** leaveJoint drops the outgoing half; learnersNext become learners; dropped members lose progress. */
  leaveJoint(): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (!config.voters.isJoint()) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of config.learnersNext) {
      config.learners.add(id);
      progress.get(id)!.isLearner = true;
    }
    config.learnersNext = new Set();
    for (const id of config.voters.outgoing) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.voters.outgoing = new Set();
    config.autoLeave = false;
    return checkAndReturn(config, progress);
  }

  /** simple applies ccs outside joint consensus; at most one voter may be added or removed. */
  simple(ccs: raftpb.ConfChangeSingle[]): ChangeResult {
    const { config, progress } = this.checkAndCopy();
    if (config.voters.isJoint()) throw new ConfChangeError("can't apply simple config change in joint config");
    this.apply(config, progress, ccs);
    if (symdiff(this.config.voters.incoming, config.voters.incoming) > 1) {
      throw new ConfChangeError("more than one voter changed without entering joint config");
    }
    return checkAndReturn(config, progress);
  }

  private apply(config: TrackerConfig, progress: ProgressMap, ccs: raftpb.ConfChangeSingle[]): void {
    for (const cc of ccs) {
      if (cc.nodeId === 0n) continue; // etcd uses NodeID 0 for no-op changes
      switch (cc.type) {
        case CCT.CONF_CHANGE_ADD_NODE:
          this.makeVoter(config, progress, cc.nodeId);
          break;
        case CCT.CONF_CHANGE_ADD_LEARNER_NODE:
          this.makeLearner(config, progress, cc.nodeId);
          break;
        case CCT.CONF_CHANGE_REMOVE_NODE:
          remove(config, progress, cc.nodeId);
          break;
        case CCT.CONF_CHANGE_UPDATE_NODE:
          break;
        default:
          throw new ConfChangeError(`unexpected conf type ${cc.type}`);
      }
    }
    if (config.voters.incoming.size === 0) throw new ConfChangeError("removed all voters");
  }

  private makeVoter(config: TrackerConfig, progress: ProgressMap, id: bigint): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.initProgress(config, progress, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.incoming.add(id);
  }

  private makeLearner(config: TrackerConfig, progress: ProgressMap, id: bigint): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.initProgress(config, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Remove as a voter first (keeping the progress), then add back as a learner. A voter
    // of the outgoing config becomes a learner only when the joint config is left.
    remove(config, progress, id);
    progress.set(id, pr);
    if (config.voters.outgoing.has(id)) {
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  private initProgress(config: TrackerConfig, progress: ProgressMap, id: bigint, isLearner: boolean): void {
    if (isLearner) config.learners.add(id);
    else config.voters.incoming.add(id);
    // next starts at the last index (>= 1): the first probe finds the real match quickly.
    // The new member counts as recently active so check-quorum does not fire at once.
    progress.set(
      id,
      new Progress({
        match: 0n,
        next: bigMax(this.lastIndex, 1n),
        maxInflight: this.maxInflight,
        isLearner,
        recentActive: true,
      }),
    );
  }

  private checkAndCopy(): ChangeResult {
    const config = this.config.clone();
    const progress: ProgressMap = new Map();
    for (const [id, pr] of this.progress) progress.set(id, pr.clone());
    return checkAndReturn(config, progress);
  }
}

function remove(config: TrackerConfig, progress: ProgressMap, id: bigint): void {
  if (!progress.has(id)) return;
  config.voters.incoming.delete(id);
  config.learners.delete(id);
  config.learnersNext.delete(id);
  // A voter of the outgoing config keeps its progress until the joint config is left.
  if (!config.voters.outgoing.has(id)) progress.delete(id);
}

function symdiff(l: Set<bigint>, r: Set<bigint>): number {
  let n = 0;
  for (const id of l) if (!r.has(id)) n++;
  for (const id of r) if (!l.has(id)) n++;
  return n;
}

function checkInvariants(config: TrackerConfig, progress: ProgressMap): void {
  for (const ids of [config.voters.ids(), config.learners, config.learnersNext]) {
    for (const id of ids) {
      if (!progress.has(id)) throw new ConfChangeError(`no progress for ${id}`);
    }
  }
  for (const id of config.learnersNext) {
    if (!config.voters.outgoing.has(id)) throw new ConfChangeError(`${id} is in LearnersNext, but not Voters[1]`);
    if (progress.get(id)!.isLearner) throw new ConfChangeError(`${id} is in LearnersNext, but is already marked as learner`);
  }
  for (const id of config.learners) {
    if (config.voters.outgoing.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[1]`);
    if (config.voters.incoming.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[0]`);
    if (!progress.get(id)!.isLearner) throw new ConfChangeError(`${id} is in Learners, but is not marked as learner`);
  }
  if (!config.voters.isJoint()) {
    if (config.learnersNext.size > 0) throw new ConfChangeError("LearnersNext must be empty when not joint");
    if (config.autoLeave) throw new ConfChangeError("AutoLeave must be false when not joint");
  }
}

function checkAndReturn(config: TrackerConfig, progress: ProgressMap): ChangeResult {
  checkInvariants(config, progress);
  return { config, progress };
}

/**
 * restoreConfState builds the configuration described by cs from an empty one, as a chain
 * of simple changes (and a final enterJoint when cs is joint).
 */
export function restoreConfState(cs: raftpb.ConfState, maxInflight: number, lastIndex: bigint): ChangeResult {
  const single = (type: raftpb.ConfChangeType, nodeId: bigint): raftpb.ConfChangeSingle => ({ type, nodeId });
  const outgoing: raftpb.ConfChangeSingle[] = [];
  const incoming: raftpb.ConfChangeSingle[] = [];
  // The outgoing config is built first; then, entering the joint config, voters of the
  // outgoing config are removed and the incoming members added.
  for (const id of cs.votersOutgoing) {
    outgoing.push(single(CCT.CONF_CHANGE_ADD_NODE, id));
    incoming.push(single(CCT.CONF_CHANGE_REMOVE_NODE, id));
  }
  for (const id of cs.voters) incoming.push(single(CCT.CONF_CHANGE_ADD_NODE, id));
  for (const id of cs.learners) incoming.push(single(CCT.CONF_CHANGE_ADD_LEARNER_NODE, id));
  for (const id of cs.learnersNext) incoming.push(single(CCT.CONF_CHANGE_ADD_LEARNER_NODE, id));

  let state: ChangeResult = { config: new TrackerConfig(new JointConfig()), progress: new Map() };
  const changer = () => new Changer(state.config, state.progress, maxInflight, lastIndex);
  if (outgoing.length === 0) {
    for (const cc of incoming) state = changer().simple([cc]);
  } else {
    for (const cc of outgoing) state = changer().simple([cc]);
    state = changer().enterJoint(cs.autoLeave, incoming);
  }
  return state;
}
