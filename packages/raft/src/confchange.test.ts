import { raftpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { Changer, ConfChangeError, enterJointOf, isLeaveJoint, restoreConfState, type ChangeResult } from "./confchange.js";
import { ProgressTracker } from "./tracker/tracker.js";

const CCT = raftpb.ConfChangeType;
const T = raftpb.ConfChangeTransition;

const add = (nodeId: bigint) => ({ type: CCT.CONF_CHANGE_ADD_NODE, nodeId });
const learner = (nodeId: bigint) => ({ type: CCT.CONF_CHANGE_ADD_LEARNER_NODE, nodeId });
const remove = (nodeId: bigint) => ({ type: CCT.CONF_CHANGE_REMOVE_NODE, nodeId });

function changer(state: ChangeResult, lastIndex = 10n): Changer {
  return new Changer(state.config, state.progress, 16, lastIndex);
}

function confState(state: ChangeResult): raftpb.ConfState {
  const t = new ProgressTracker(16);
  t.config = state.config;
  t.progress = state.progress;
  return t.confState();
}

function voters(...ids: bigint[]): ChangeResult {
  return restoreConfState({ voters: ids, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, 16, 10n);
}

describe("Changer", () => {
  it("simple: adds and removes one voter at a time; new members probe from the last index", () => {
    const s = changer(voters(1n, 2n)).simple([add(3n)]);
    expect(confState(s).voters).toEqual([1n, 2n, 3n]);
    const pr = s.progress.get(3n)!;
    expect([pr.match, pr.next, pr.recentActive, pr.isLearner]).toEqual([0n, 10n, true, false]);
    const r = changer(s).simple([remove(1n)]);
    expect(confState(r).voters).toEqual([2n, 3n]);
    expect(r.progress.has(1n)).toBe(false);
  });

  it("simple: refuses changing two voters, removing all voters, or acting in a joint config", () => {
    expect(() => changer(voters(1n)).simple([add(2n), add(3n)])).toThrow(/more than one voter/);
    expect(() => changer(voters(1n)).simple([remove(1n)])).toThrow(/removed all voters/);
    const joint = changer(voters(1n, 2n)).enterJoint(false, [add(3n)]);
    expect(() => changer(joint).simple([add(4n)])).toThrow(ConfChangeError);
  });

  it("learners: added, promoted by adding as voter, demoted voter becomes learner", () => {
    let s = changer(voters(1n, 2n)).simple([learner(3n)]);
    expect(confState(s)).toMatchObject({ voters: [1n, 2n], learners: [3n] });
    expect(s.progress.get(3n)!.isLearner).toBe(true);
    s = changer(s).simple([add(3n)]);
    expect(confState(s)).toMatchObject({ voters: [1n, 2n, 3n], learners: [] });
    expect(s.progress.get(3n)!.isLearner).toBe(false);
    s = changer(s).simple([learner(2n)]);
    expect(confState(s)).toMatchObject({ voters: [1n, 3n], learners: [2n] });
  });

  it("joint: outgoing keeps the old voters; a demoted voter waits in learnersNext until leaving", () => {
    const s = changer(voters(1n, 2n, 3n)).enterJoint(true, [add(4n), learner(3n)]);
    expect(confState(s)).toEqual({
      voters: [1n, 2n, 4n],
      votersOutgoing: [1n, 2n, 3n],
      learners: [],
      learnersNext: [3n],
      autoLeave: true,
    });
    expect(() => changer(s).enterJoint(false, [add(5n)])).toThrow(/already joint/);
    const left = changer(s).leaveJoint();
    expect(confState(left)).toEqual({ voters: [1n, 2n, 4n], votersOutgoing: [], learners: [3n], learnersNext: [], autoLeave: false });
    expect(left.progress.get(3n)!.isLearner).toBe(true);
    expect(() => changer(left).leaveJoint()).toThrow(/non-joint/);
  });

  it("joint: a removed voter keeps its progress until the joint config is left", () => {
    const s = changer(voters(1n, 2n, 3n)).enterJoint(false, [remove(3n)]);
    expect(s.progress.has(3n)).toBe(true);
    expect(changer(s).leaveJoint().progress.has(3n)).toBe(false);
  });

  it("restoreConfState rebuilds joint configurations", () => {
    const cs: raftpb.ConfState = { voters: [1n, 2n, 4n], votersOutgoing: [1n, 2n, 3n], learners: [5n], learnersNext: [3n], autoLeave: true };
    expect(confState(restoreConfState(cs, 16, 10n))).toEqual(cs);
  });

  it("classifies conf changes: simple, joint (auto/implicit/explicit), leave", () => {
    const cc = (transition: raftpb.ConfChangeTransition, changes: raftpb.ConfChangeSingle[]) =>
      raftpb.ConfChange.fromPartial({ transition, changes });
    expect(enterJointOf(cc(T.CONF_CHANGE_TRANSITION_AUTO, [add(1n)]))).toBeUndefined();
    expect(enterJointOf(cc(T.CONF_CHANGE_TRANSITION_AUTO, [add(1n), add(2n)]))).toEqual({ autoLeave: true });
    expect(enterJointOf(cc(T.CONF_CHANGE_TRANSITION_JOINT_IMPLICIT, [add(1n)]))).toEqual({ autoLeave: true });
    expect(enterJointOf(cc(T.CONF_CHANGE_TRANSITION_JOINT_EXPLICIT, [add(1n)]))).toEqual({ autoLeave: false });
    expect(isLeaveJoint(cc(T.CONF_CHANGE_TRANSITION_AUTO, []))).toBe(true);
    expect(isLeaveJoint(cc(T.CONF_CHANGE_TRANSITION_AUTO, [add(1n)]))).toBe(false);
  });
});
