import { describe, expect, it } from "vitest";
import { JointConfig, majorityCommittedIndex, MAX_INDEX, VoteResult } from "./quorum.js";
import { Inflights } from "./tracker/inflights.js";
import { Progress, ProgressStateType } from "./tracker/progress.js";

describe("quorum", () => {
  it("majorityCommittedIndex picks the index a majority acked", () => {
    const acked = new Map([[1n, 5n], [2n, 3n], [3n, 9n]]);
    expect(majorityCommittedIndex(new Set([1n, 2n, 3n]), (id) => acked.get(id))).toBe(5n);
    expect(majorityCommittedIndex(new Set([1n, 2n, 3n, 4n]), (id) => acked.get(id))).toBe(3n);
    expect(majorityCommittedIndex(new Set([1n]), (id) => acked.get(id))).toBe(5n);
    expect(majorityCommittedIndex(new Set(), () => 0n)).toBe(MAX_INDEX);
  });

  it("joint configs need both majorities", () => {
    const acked = new Map([[1n, 5n], [2n, 3n], [3n, 9n], [4n, 1n], [5n, 1n]]);
    const j = new JointConfig([1n, 2n, 3n], [3n, 4n, 5n]);
    expect(j.committedIndex((id) => acked.get(id))).toBe(1n);
    expect(new JointConfig([1n, 2n, 3n]).committedIndex((id) => acked.get(id))).toBe(5n);

    const votes = new Map([[1n, true], [2n, true]]);
    expect(new JointConfig([1n, 2n, 3n]).voteResult(votes)).toBe(VoteResult.VoteWon);
    expect(j.voteResult(votes)).toBe(VoteResult.VotePending);
    votes.set(4n, false);
    votes.set(5n, false);
    expect(j.voteResult(votes)).toBe(VoteResult.VoteLost);
    votes.set(4n, true);
    votes.set(3n, true);
    expect(j.voteResult(votes)).toBe(VoteResult.VoteWon);
  });
});

describe("Inflights", () => {
  it("adds, frees up to an index, wraps around", () => {
    const f = new Inflights(4);
    for (const i of [1n, 2n, 3n, 4n]) f.add(i);
    expect(f.full()).toBe(true);
    expect(() => f.add(5n)).toThrow(/full/);
    f.freeLE(2n);
    expect(f.length()).toBe(2);
    f.add(5n);
    f.add(6n);
    expect(f.full()).toBe(true);
    f.freeFirstOne();
    expect(f.length()).toBe(3);
    f.freeLE(5n);
    expect(f.length()).toBe(1);
    f.freeLE(100n);
    expect(f.length()).toBe(0);
  });
});

describe("Progress", () => {
  function pr(match: bigint, next: bigint) {
    return new Progress({ match, next, maxInflight: 4, isLearner: false });
  }

  it("maybeDecrTo in Probe uses the hint but never goes below match+1; stale rejects ignored", () => {
    const p = pr(2n, 10n);
    expect(p.maybeDecrTo(5n, 4n)).toBe(false); // not the last probe (next-1 = 9)
    expect(p.maybeDecrTo(9n, 4n)).toBe(true);
    expect(p.next).toBe(5n);
    expect(p.maybeDecrTo(4n, 0n)).toBe(true);
    expect(p.next).toBe(3n);
  });

  it("maybeDecrTo in Replicate falls back to match+1", () => {
    const p = pr(5n, 10n);
    p.becomeReplicate();
    p.next = 10n;
    expect(p.maybeDecrTo(4n, 4n)).toBe(false);
    expect(p.maybeDecrTo(8n, 4n)).toBe(true);
    expect(p.next).toBe(6n);
  });

  it("pauses per state", () => {
    const p = pr(1n, 2n);
    expect(p.isPaused()).toBe(false);
    p.probeSent = true;
    expect(p.isPaused()).toBe(true);
    p.becomeReplicate();
    expect(p.isPaused()).toBe(false);
    for (const i of [2n, 3n, 4n, 5n]) p.inflights.add(i);
    expect(p.isPaused()).toBe(true);
    p.becomeSnapshot(10n);
    expect(p.isPaused()).toBe(true);
    p.becomeProbe();
    expect(p.state).toBe(ProgressStateType.Probe);
    expect(p.next).toBe(11n);
  });

  it("maybeUpdate advances match and next, clears probeSent", () => {
    const p = pr(1n, 2n);
    p.probeSent = true;
    expect(p.maybeUpdate(5n)).toBe(true);
    expect([p.match, p.next, p.probeSent]).toEqual([5n, 6n, false]);
    expect(p.maybeUpdate(3n)).toBe(false);
  });
});
