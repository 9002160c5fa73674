import { raftpb } from "@etcd-ts/proto";
import { MemoryStorage, RawNode } from "@etcd-ts/raft";
import type { WAL } from "@etcd-ts/wal";
import { afterEach, describe, expect, it } from "vitest";
import { Errors } from "./errors.js";
import { Logger } from "./log.js";
import { RaftNode } from "./raft_node.js";

const MT = raftpb.MessageType;

/** Harness is one RaftNode (member 1) around a real RawNode, with a WAL whose writes a test can hold. */
interface Harness {
  raft: RaftNode;
  node: RawNode;
  sent: raftpb.Message[];
  /**
   * events logs, in order: "save <indexes>" when a WAL write starts, "saved <indexes>" when it
   * ends, "send <to> <indexes>" for a message carrying entries, "apply <index>".
   */
  events: string[];
  /** hold makes WAL writes wait until release(). */
  hold(): void;
  release(): void;
}

const started: RaftNode[] = [];
afterEach(() => {
  for (const r of started.splice(0)) r.stop(Errors.stopped);
});

function harness(o: {
  voters: bigint[];
  learners?: bigint[];
  electionTick?: number;
  requestTimeoutMs?: number;
  readIndexRetryMs?: number;
}): Harness {
  const storage = new MemoryStorage();
  storage.applySnapshot(
    raftpb.Snapshot.fromPartial({ metadata: { index: 1n, term: 1n, confState: { voters: o.voters, learners: o.learners ?? [] } } }),
  );
  storage.setHardState({ term: 1n, vote: 0n, commit: 1n });
  const node = new RawNode({ id: 1n, electionTick: o.electionTick ?? 1000, heartbeatTick: 1, storage, applied: 1n });
  const sent: raftpb.Message[] = [];
  const events: string[] = [];
  let holding = false;
  let waiting: (() => void)[] = [];
  const wal = {
    save: async (_hs: raftpb.HardState | undefined, ents: raftpb.Entry[]): Promise<void> => {
      const ids = ents.map((e) => e.index).join(",");
      events.push(`save ${ids}`);
      if (holding) await new Promise<void>((r) => waiting.push(r));
      events.push(`saved ${ids}`);
    },
  };
  const applier = {
    appliedIndex: 1n,
    applyEntries(es: raftpb.Entry[]): void {
      for (const e of es) {
        events.push(`apply ${e.index}`);
        this.appliedIndex = e.index;
      }
    },
  };
  const raft = new RaftNode({
    node,
    storage,
    wal: wal as unknown as WAL,
    memberId: 1n,
    heartbeatMs: 10,
    transport: {
      send: (ms) => {
        sent.push(...ms);
        for (const m of ms) if (m.entries.length > 0) events.push(`send ${m.to} ${m.entries.map((e) => e.index).join(",")}`);
      },
    },
    applier,
    logger: new Logger("error"),
    onFatal: (err) => {
      throw err;
    },
    installSnapshot: async () => undefined,
    requestTimeoutMs: o.requestTimeoutMs ?? 10_000,
    ...(o.readIndexRetryMs === undefined ? {} : { readIndexRetryMs: o.readIndexRetryMs }),
  });
  started.push(raft);
  return {
    raft,
    node,
    sent,
    events,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      const ws = waiting;
      waiting = [];
      for (const w of ws) w();
    },
  };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** settle lets the loop run a few turns. */
const settle = () => new Promise((r) => setTimeout(r, 50));

const appTo = (h: Harness, to: bigint, index: bigint) =>
  h.sent.some((m) => m.type === MT.MSG_APP && m.to === to && m.entries.some((e) => e.index === index));

/** leaderOfTwo makes member 1 the leader of voters {1, 2} at term 2, member 2 caught up to index 2. */
async function leaderOfTwo(): Promise<Harness> {
  const h = harness({ voters: [1n, 2n] });
  h.raft.start(false);
  h.node.campaign();
  await until(() => h.sent.some((m) => m.type === MT.MSG_VOTE));
  h.raft.step({ ...raftpb.Message.create(), type: MT.MSG_VOTE_RESP, from: 2n, to: 1n, term: 2n });
  await until(() => h.raft.isLeader && appTo(h, 2n, 2n));
  h.raft.step({ ...raftpb.Message.create(), type: MT.MSG_APP_RESP, from: 2n, to: 1n, term: 2n, index: 2n });
  await until(() => h.events.includes("apply 2"));
  return h;
}

/** followerOf makes member 1 a follower of voters {1, 2} that has heard from leader 2 at term 2. */
function hearLeader(h: Harness): void {
  h.raft.step({ ...raftpb.Message.create(), type: MT.MSG_HEARTBEAT, from: 2n, to: 1n, term: 2n, commit: 1n });
}

describe("RaftNode: the leader's WAL write in parallel with replication", () => {
  it("sends a new entry to followers before its own WAL write ends, and applies it only after", async () => {
    const h = await leaderOfTwo();
    h.hold();
    const dropped: unknown[] = [];
    h.raft.propose(100n, Buffer.from("x"), (e) => dropped.push(e));
    await until(() => h.events.includes("save 3"));
    // The append went out while the leader's own write is still in flight.
    expect(appTo(h, 2n, 3n)).toBe(true);
    // The follower acks: raft counts the leader's own copy, so index 3 is committed in raft...
    h.raft.step({ ...raftpb.Message.create(), type: MT.MSG_APP_RESP, from: 2n, to: 1n, term: 2n, index: 3n });
    await settle();
    // ...but nothing is applied (or answered) before the local write is durable.
    expect(h.events).not.toContain("apply 3");
    h.release();
    await until(() => h.events.includes("apply 3"));
    expect(h.events.indexOf("saved 3")).toBeLessThan(h.events.indexOf("apply 3"));
    expect(dropped).toEqual([]);
  });

  it("holds back messages whose commit index covers its own unsaved entry (single voter with a learner)", async () => {
    const h = harness({ voters: [1n], learners: [2n] });
    h.raft.start(true);
    await until(() => h.raft.isLeader && h.events.includes("apply 2"));
    // The learner answers a heartbeat, gets entry 2 (probe), acks it: replication is on.
    h.raft.step({ ...raftpb.Message.create(), type: MT.MSG_HEARTBEAT_RESP, from: 2n, to: 1n, term: 2n });
    await until(() => appTo(h, 2n, 2n));
    h.raft.step({ ...raftpb.Message.create(), type: MT.MSG_APP_RESP, from: 2n, to: 1n, term: 2n, index: 2n });
    await settle();
    // A single voter commits at append: the Ready holding entry 3 already has commit 3, so a
    // learner told that could apply an entry this leader may still lose in a crash.
    h.hold();
    h.raft.propose(101n, Buffer.from("y"), () => undefined);
    await until(() => h.events.includes("save 3"));
    await settle();
    expect(appTo(h, 2n, 3n)).toBe(false);
    h.release();
    await until(() => appTo(h, 2n, 3n) && h.events.includes("apply 3"));
    expect(h.events.indexOf("saved 3")).toBeLessThan(h.events.indexOf("send 2 3"));
    // Committed in the Ready that appends it: applied only after its own write.
    expect(h.events.indexOf("saved 3")).toBeLessThan(h.events.indexOf("apply 3"));
  });

  it("applies entries saved by an earlier Ready while the next Ready's write is in flight", async () => {
    const h = await leaderOfTwo();
    h.hold();
    h.raft.propose(100n, Buffer.from("x"), () => undefined);
    await until(() => h.events.includes("save 3"));
    h.raft.step({ ...raftpb.Message.create(), type: MT.MSG_APP_RESP, from: 2n, to: 1n, term: 2n, index: 3n });
    h.raft.propose(101n, Buffer.from("y"), () => undefined);
    await settle();
    // The next Ready appends entry 4 and commits entry 3 (durable once "saved 3").
    h.release();
    h.hold();
    await until(() => h.events.includes("save 4"));
    await until(() => h.events.includes("apply 3"));
    expect(h.events).not.toContain("saved 4");
    h.release();
    await until(() => h.events.includes("saved 4"));
    expect(h.events.indexOf("saved 3")).toBeLessThan(h.events.indexOf("apply 3"));
  });

  it("a follower acknowledges an append only after its WAL write", async () => {
    const h = harness({ voters: [1n, 2n] });
    h.raft.start(false);
    h.hold();
    h.raft.step({
      ...raftpb.Message.create(),
      type: MT.MSG_APP,
      from: 2n,
      to: 1n,
      term: 2n,
      index: 1n,
      logTerm: 1n,
      commit: 1n,
      entries: [{ term: 2n, index: 2n, type: raftpb.EntryType.ENTRY_NORMAL, data: Buffer.alloc(0) }],
    });
    await until(() => h.events.includes("save 2"));
    await settle();
    expect(h.sent.filter((m) => m.type === MT.MSG_APP_RESP)).toEqual([]);
    h.release();
    await until(() => h.sent.some((m) => m.type === MT.MSG_APP_RESP && m.index === 2n));
  });
});

describe("RaftNode: ReadIndex", () => {
  const readResp = (h: Harness, req: raftpb.Message, index: bigint): void =>
    h.raft.step({ ...raftpb.Message.create(), type: MT.MSG_READ_INDEX_RESP, from: 2n, to: 1n, term: 2n, index, entries: req.entries });
  const readReqs = (h: Harness) => h.sent.filter((m) => m.type === MT.MSG_READ_INDEX && m.to === 2n);

  it("resends an unanswered request every retry interval until the leader answers", async () => {
    const h = harness({ voters: [1n, 2n], readIndexRetryMs: 40 });
    h.raft.start(false);
    hearLeader(h);
    await until(() => h.raft.leader === 2n);
    let done = false;
    const p = h.raft.readIndex().then(() => {
      done = true;
    });
    await until(() => readReqs(h).length >= 3);
    expect(done).toBe(false);
    // Every retry carries the same context, and any answer releases the reader.
    const reqs = readReqs(h);
    expect(new Set(reqs.map((m) => m.entries[0]?.data.toString("hex"))).size).toBe(1);
    readResp(h, reqs[0] as raftpb.Message, 1n);
    await p;
    expect(h.raft.pendingReads).toBe(0);
  });

  it("sends a request raft dropped (no leader) to the leader as soon as one is known", async () => {
    const h = harness({ voters: [1n, 2n], readIndexRetryMs: 60_000 });
    h.raft.start(false);
    let done = false;
    const p = h.raft.readIndex().then(() => {
      done = true;
    });
    await settle();
    expect(readReqs(h)).toEqual([]); // no leader: raft dropped it
    hearLeader(h);
    await until(() => readReqs(h).length === 1);
    readResp(h, readReqs(h)[0] as raftpb.Message, 1n);
    await p;
    expect(done).toBe(true);
    expect(h.raft.pendingReads).toBe(0);
  });

  it("fails the readers with etcd's 'request timed out' after the request timeout, leaving nothing behind", async () => {
    const h = harness({ voters: [1n, 2n], requestTimeoutMs: 200, readIndexRetryMs: 50 });
    h.raft.start(false);
    const reads = [h.raft.readIndex(), h.raft.readIndex()];
    for (const r of reads) await expect(r).rejects.toBe(Errors.timeout);
    expect(h.raft.pendingReads).toBe(0);
    // A leader answering late finds nothing to release, and a new read still works.
    hearLeader(h);
    const next = h.raft.readIndex();
    await until(() => readReqs(h).length >= 1);
    readResp(h, readReqs(h).at(-1) as raftpb.Message, 1n);
    await next;
    expect(h.raft.pendingReads).toBe(0);
  });

  it("waits for the apply to reach the read index before releasing the reader", async () => {
    const h = harness({ voters: [1n, 2n] });
    h.raft.start(false);
    hearLeader(h);
    await until(() => h.raft.leader === 2n);
    let done = false;
    const p = h.raft.readIndex().then(() => {
      done = true;
    });
    await until(() => readReqs(h).length === 1);
    readResp(h, readReqs(h)[0] as raftpb.Message, 2n);
    await settle();
    expect(done).toBe(false);
    h.raft.step({
      ...raftpb.Message.create(),
      type: MT.MSG_APP,
      from: 2n,
      to: 1n,
      term: 2n,
      index: 1n,
      logTerm: 1n,
      commit: 2n,
      entries: [{ term: 2n, index: 2n, type: raftpb.EntryType.ENTRY_NORMAL, data: Buffer.alloc(0) }],
    });
    await p;
    expect(h.events.indexOf("apply 2")).toBeGreaterThanOrEqual(0);
  });

  it("fails pending readers with the stop error on stop", async () => {
    const h = harness({ voters: [1n, 2n] });
    h.raft.start(false);
    const r = h.raft.readIndex();
    await settle();
    h.raft.stop(Errors.stopped);
    await expect(r).rejects.toBe(Errors.stopped);
    expect(h.raft.pendingReads).toBe(0);
  });
});

describe("RaftNode: proposals without a leader", () => {
  const props = (h: Harness) => h.sent.filter((m) => m.type === MT.MSG_PROP && m.to === 2n);

  it("holds a proposal while no leader is known and forwards it, in order, once one is", async () => {
    const h = harness({ voters: [1n, 2n] });
    h.raft.start(false);
    const dropped: unknown[] = [];
    h.raft.propose(1n, Buffer.from("a"), (e) => dropped.push(e));
    h.raft.propose(2n, Buffer.from("b"), (e) => dropped.push(e));
    h.raft.propose(3n, Buffer.from("c"), (e) => dropped.push(e));
    await settle();
    expect(h.raft.heldCount).toBe(3);
    expect(props(h)).toEqual([]);
    // The owner gives up on one (its request timed out): it never reaches raft.
    expect(h.raft.cancelHeld(2n)).toBe(true);
    expect(h.raft.cancelHeld(2n)).toBe(false);
    hearLeader(h);
    await until(() => props(h).length === 2);
    expect(props(h).map((m) => m.entries[0]?.data.toString())).toEqual(["a", "c"]);
    expect(h.raft.heldCount).toBe(0);
    expect(dropped).toEqual([]);
  });

  it("fails held proposals with the stop error on stop", async () => {
    const h = harness({ voters: [1n, 2n] });
    h.raft.start(false);
    const dropped: unknown[] = [];
    h.raft.propose(1n, Buffer.from("a"), (e) => dropped.push(e));
    h.raft.stop(Errors.stopped);
    expect(dropped).toEqual([Errors.stopped]);
    expect(h.raft.heldCount).toBe(0);
  });
});
