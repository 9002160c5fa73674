import { raftpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { ErrProposalDropped, ErrStepLocalMsg, ErrStepPeerNotFound } from "./errors.js";
import { StateType } from "./raft.js";
import { RawNode, type Ready } from "./rawnode.js";
import { MemoryStorage } from "./storage.js";
import { newMessage } from "./util.js";

const MT = raftpb.MessageType;

/** persist does steps 1 of the Ready contract on storage. */
function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState !== undefined) s.setHardState(rd.hardState);
}

/** handle persists, applies (conf changes included) and advances one Ready; returns it. */
function handle(rn: RawNode, s: MemoryStorage): Ready {
  const rd = rn.ready();
  persist(s, rd);
  for (const e of rd.committedEntries) {
    if (e.type === raftpb.EntryType.ENTRY_CONF_CHANGE) rn.applyConfChange(raftpb.ConfChange.decode(e.data));
  }
  rn.advance(rd);
  return rd;
}

function newNode(s: MemoryStorage, applied?: bigint): RawNode {
  return new RawNode({ id: 1n, electionTick: 10, heartbeatTick: 1, storage: s, ...(applied !== undefined ? { applied } : {}) });
}

describe("RawNode single member", () => {
  it("bootstraps: first Ready persists and commits the conf change entry with a hard state", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n, context: Buffer.from("ctx") }]);
    expect(rn.hasReady()).toBe(true);
    const rd = handle(rn, s);
    expect(rd.entries.map((e) => [e.index, e.term, e.type])).toEqual([[1n, 1n, raftpb.EntryType.ENTRY_CONF_CHANGE]]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1n]);
    expect(raftpb.ConfChange.decode(rd.committedEntries[0]!.data).context.toString()).toBe("ctx");
    expect(rd.hardState).toEqual({ term: 1n, vote: 0n, commit: 1n });
    expect(rd.mustSync).toBe(true);
    expect(rn.hasReady()).toBe(false);
    expect(rn.status().config.voters).toEqual([1n]);
  });

  it("refuses to bootstrap a non-empty storage", () => {
    const s = new MemoryStorage();
    s.append([{ term: 1n, index: 1n, type: 0, data: Buffer.alloc(0) }]);
    expect(() => newNode(s).bootstrap([{ id: 1n }])).toThrow(/nonempty/);
  });

  it("becomes leader after ticks and commits its own proposals", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    let leaderAt = -1;
    for (let i = 0; i < 20 && leaderAt < 0; i++) {
      rn.tick();
      if (rn.hasReady()) {
        const rd = handle(rn, s);
        if (rd.softState?.raftState === StateType.Leader) leaderAt = i + 1;
      }
    }
    // Randomized election timeout in [10, 20).
    expect(leaderAt).toBeGreaterThanOrEqual(10);
    expect(leaderAt).toBeLessThan(20);
    expect(rn.status().softState).toEqual({ lead: 1n, raftState: StateType.Leader });

    for (const p of ["a", "b", "c"]) {
      rn.propose(Buffer.from(p));
      const rd = rn.ready();
      expect(rd.entries.map((e) => e.data.toString())).toEqual([p]);
      persist(s, rd);
      // A single voter commits as soon as the entry is appended: same Ready.
      expect(rd.committedEntries.map((e) => e.data.toString())).toEqual([p]);
      expect(rd.hardState?.commit).toBe(rd.entries[0]!.index);
      rn.advance(rd);
      expect(rn.hasReady()).toBe(false);
    }
    expect(rn.status().applied).toBe(s.lastIndex());
  });

  it("campaign() elects at once; the empty entry of the new term is committed", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    rn.campaign();
    const rd = handle(rn, s);
    expect(rd.softState).toEqual({ lead: 1n, raftState: StateType.Leader });
    expect(rd.hardState).toEqual({ term: 2n, vote: 1n, commit: 2n });
    expect(rd.entries).toHaveLength(1);
    expect(rd.entries[0]).toMatchObject({ index: 2n, term: 2n });
    expect(rd.entries[0]!.data.length).toBe(0);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([2n]);
    expect(rd.messages).toHaveLength(0);
  });

  it("campaign() right after bootstrap waits until the bootstrap conf change is applied", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    rn.campaign();
    expect(rn.status().softState.raftState).toBe(StateType.Follower);
    handle(rn, s);
    rn.campaign();
    expect(rn.status().softState.raftState).toBe(StateType.Leader);
  });

  it("drops proposals while there is no leader", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    expect(() => rn.propose(Buffer.from("x"))).toThrow(ErrProposalDropped);
  });

  it("rejects local message types in step()", () => {
    const rn = newNode(new MemoryStorage());
    expect(() => rn.step(newMessage({ type: MT.MSG_HUP }))).toThrow(ErrStepLocalMsg);
  });

  it("restarts from storage with hard state and entries, respecting the applied index", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    rn.campaign();
    handle(rn, s);
    const applied: string[] = [];
    for (const p of ["a", "b", "c", "d"]) {
      rn.propose(Buffer.from(p));
      const rd = handle(rn, s);
      for (const e of rd.committedEntries) applied.push(e.data.toString());
    }
    expect(applied).toEqual(["a", "b", "c", "d"]);
    const hs = s.initialState().hardState;
    expect(hs).toEqual({ term: 2n, vote: 1n, commit: 6n });

    // The application snapshotted at index 2 (recording the membership of the bootstrap
    // conf change) and restarts having applied up to index 4 ("b"): c and d are handed
    // out again.
    s.createSnapshot(2n, { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, Buffer.alloc(0));
    const rn2 = newNode(s, 4n);
    expect(rn2.status().hardState).toEqual(hs);
    expect(rn2.status().applied).toBe(4n);
    expect(rn2.status().softState.raftState).toBe(StateType.Follower);
    const rd = rn2.ready();
    expect(rd.hardState).toBeUndefined();
    expect(rd.entries).toHaveLength(0);
    expect(rd.committedEntries.map((e) => e.data.toString())).toEqual(["c", "d"]);
    rn2.advance(rd);
    expect(rn2.hasReady()).toBe(false);

    // It wins again at a higher term, and keeps the old log.
    rn2.campaign();
    const rd2 = handle(rn2, s);
    expect(rd2.hardState).toEqual({ term: 3n, vote: 1n, commit: 7n });
    rn2.propose(Buffer.from("e"));
    const rd3 = handle(rn2, s);
    expect(rd3.committedEntries.map((e) => [e.index, e.data.toString()])).toEqual([[8n, "e"]]);
  });

  it("restarts from a compacted storage: the snapshot sets first index and membership", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    rn.campaign();
    handle(rn, s);
    for (const p of ["a", "b", "c"]) {
      rn.propose(Buffer.from(p));
      handle(rn, s);
    }
    s.createSnapshot(4n, { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, Buffer.from("state"));
    s.compact(4n);
    const rn2 = newNode(s, 4n);
    const rd = rn2.ready();
    expect(rd.committedEntries.map((e) => e.data.toString())).toEqual(["c"]);
    rn2.advance(rd);
    rn2.campaign();
    expect(rn2.status().softState.raftState).toBe(StateType.Leader);
  });

  it("ReadIndex on a single voter answers at once with the commit index", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    rn.campaign();
    handle(rn, s);
    rn.readIndex(Buffer.from("req-1"));
    const rd = handle(rn, s);
    expect(rd.readStates).toEqual([{ index: 2n, requestCtx: Buffer.from("req-1") }]);
  });

  it("mustSync is false for a commit-only hard state change", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    rn.campaign();
    handle(rn, s);
    // Restart with an applied index below commit: the Ready carries only committed entries.
    const rn2 = newNode(s, 1n);
    const rd = rn2.ready();
    expect(rd.mustSync).toBe(false);
  });

  it("rejects responses from peers that are not members", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    expect(() => rn.step(newMessage({ type: MT.MSG_APP_RESP, from: 9n, to: 1n, term: 1n }))).toThrow(ErrStepPeerNotFound);
  });

  it("status reports progress only on the leader", () => {
    const s = new MemoryStorage();
    const rn = newNode(s);
    rn.bootstrap([{ id: 1n }]);
    handle(rn, s);
    expect(rn.status().progress.size).toBe(0);
    rn.campaign();
    handle(rn, s);
    const st = rn.status();
    expect(st.id).toBe(1n);
    expect(st.progress.get(1n)).toMatchObject({ match: 2n, next: 3n });
    expect(st.leadTransferee).toBe(0n);
  });

  it("a vote is persisted before it is sent: the Ready carrying it must sync", () => {
    const s1 = new MemoryStorage();
    const a = new RawNode({ id: 1n, electionTick: 10, heartbeatTick: 1, storage: s1 });
    a.bootstrap([{ id: 1n }, { id: 2n }]);
    handle(a, s1);
    const s2 = new MemoryStorage();
    const b = new RawNode({ id: 2n, electionTick: 10, heartbeatTick: 1, storage: s2 });
    b.bootstrap([{ id: 1n }, { id: 2n }]);
    handle(b, s2);
    a.campaign();
    const rdA = a.ready();
    expect(rdA.hardState).toMatchObject({ term: 2n, vote: 1n });
    expect(rdA.mustSync).toBe(true);
    const vote = rdA.messages.find((m) => m.type === MT.MSG_VOTE && m.to === 2n)!;
    a.advance(rdA);
    b.step(vote);
    const rdB = b.ready();
    expect(rdB.hardState).toMatchObject({ term: 2n, vote: 1n });
    expect(rdB.mustSync).toBe(true);
    expect(rdB.messages.map((m) => [m.type, m.reject])).toEqual([[MT.MSG_VOTE_RESP, false]]);
  });
});
