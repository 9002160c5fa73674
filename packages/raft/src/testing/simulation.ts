/**
 * Seeded random simulation of a raft cluster over the in-memory Network: message drop,
 * delay, reordering and duplication, partitions and one-way cuts (a deaf node, a link cut in
 * one direction), crashes and restarts (rebuilding the
 * RawNode from its MemoryStorage), clock skew, log compaction and snapshots, leadership
 * transfers, forced campaigns, ReadIndex requests, membership changes (voters, learners,
 * promotion, removal, joint consensus; removed members are shut down and ids never
 * reused) and, in half the seeds, Readies applied and advanced some steps after they were
 * taken. Each seed draws its own configuration (3-5 members, pre-vote, check-quorum,
 * message size and inflight limits) and event mix. Every handled Ready is checked against
 * the Raft safety properties; a violation throws SafetyViolation naming the seed. Each run
 * ends by healing all faults and requiring the cluster to converge (liveness).
 */
import { raftpb } from "@etcd-ts/proto";
import { ErrProposalDropped } from "../errors.js";
import { StateType } from "../raft.js";
import { seededRandom } from "../rand.js";
import type { Ready } from "../rawnode.js";
import { bigMax, noLimit } from "../util.js";
import { entryKey, Network, type Envelope, type SimNode } from "./network.js";

/** SafetyViolation reports a violated property (or a failure to converge) for one seed. */
export class SafetyViolation extends Error {
  constructor(seed: number, message: string) {
    super(`seed ${seed}: ${message}`);
    this.name = "SafetyViolation";
  }
}

/** SimOptions bound one run. */
export interface SimOptions {
  seed: number;
  /** steps is the number of random events before the final convergence phase. */
  steps: number;
}

/** SimStats summarizes a run (to check the simulation actually exercised things). */
export interface SimStats {
  nodes: number;
  leaderTerms: number;
  committed: number;
  proposalsAccepted: number;
  /** confChanges is the number of membership changes proposed (accepted or not). */
  confChanges: number;
  restarts: number;
  snapshotsInstalled: number;
  readsAnswered: number;
  /** finalMembers is the size of the membership at the end. */
  finalMembers: number;
  finalApplied: bigint;
}

interface PendingRead {
  node: bigint;
  /** floor is the highest index applied anywhere when the read was requested. */
  floor: bigint;
}

/**
 * Checker holds the global history and asserts, as each Ready is handled:
 * - election safety: at most one leader per term;
 * - committed entries never change: all nodes agree on the entry at each committed index;
 * - leader completeness: a new leader of term T holds every entry committed before T;
 * - state machine safety: every node applies the same entry at each index, in order;
 * - ReadIndex linearizability: a read index is >= everything applied before the request;
 * and, on demand, log matching between every pair of logs.
 */
export class Checker {
  readonly leaderOfTerm = new Map<bigint, bigint>();
  /** committed maps index -> key of the entry committed there. */
  readonly committed = new Map<bigint, string>();
  /** commitTerm maps index -> lowest term at which some node knew it committed. */
  readonly commitTerm = new Map<bigint, bigint>();
  /** knownCommit is the last commit index each node reported. */
  readonly knownCommit = new Map<bigint, bigint>();
  maxApplied = 0n;
  readonly pendingReads = new Map<string, PendingRead>();
  readsAnswered = 0;

  constructor(private readonly seed: number) {}

  fail(msg: string): never {
    throw new SafetyViolation(this.seed, msg);
  }

  /** recordCommitted records that the entry with key is committed at index. */
  private recordCommitted(index: bigint, key: string, node: bigint): void {
    const prev = this.committed.get(index);
    if (prev === undefined) this.committed.set(index, key);
    else if (prev !== key) this.fail(`node ${node} has ${key} committed at ${index}, others have ${prev}`);
  }

  onApply(n: SimNode, e: raftpb.Entry): void {
    this.recordCommitted(e.index, entryKey(e), n.id);
    if (e.index > this.maxApplied) this.maxApplied = e.index;
  }

  onRestart(n: SimNode): void {
    this.knownCommit.set(n.id, n.storage.initialState().hardState.commit);
  }

  onReady(n: SimNode, rd: Ready): void {
    const raft = n.rawNode.raft;
    const log = raft.raftLog;

    if (rd.snapshot !== undefined) {
      // The state machine is replaced by the snapshot's: it must agree with everything
      // applied elsewhere.
      const keys = JSON.parse(rd.snapshot.data.toString("utf8")) as string[];
      keys.forEach((key, i) => this.recordCommitted(BigInt(i + 1), key, n.id));
      this.maxApplied = bigMax(this.maxApplied, BigInt(keys.length));
    }

    // Commit observations.
    const prevCommit = this.knownCommit.get(n.id) ?? 0n;
    if (log.committed > prevCommit) {
      for (let i = prevCommit + 1n; i <= log.committed; i++) {
        const t = this.commitTerm.get(i);
        if (t === undefined || raft.term < t) this.commitTerm.set(i, raft.term);
      }
      const lo = bigMax(prevCommit + 1n, log.firstIndex());
      if (lo <= log.committed) {
        for (const e of log.slice(lo, log.committed + 1n, noLimit)) this.recordCommitted(e.index, entryKey(e), n.id);
      }
      this.knownCommit.set(n.id, log.committed);
    }

    // Election safety.
    if (raft.state === StateType.Leader) {
      const other = this.leaderOfTerm.get(raft.term);
      if (other !== undefined && other !== n.id) this.fail(`two leaders in term ${raft.term}: ${other} and ${n.id}`);
      this.leaderOfTerm.set(raft.term, n.id);
    }

    // Leader completeness, checked when the node has just become leader.
    if (rd.softState?.raftState === StateType.Leader) {
      const first = log.firstIndex();
      const last = log.lastIndex();
      for (const [i, key] of this.committed) {
        const ct = this.commitTerm.get(i);
        if (ct === undefined || ct >= raft.term || i < first) continue;
        if (i > last) this.fail(`leader ${n.id} of term ${raft.term} lacks committed index ${i} (last ${last})`);
        const e = log.slice(i, i + 1n, noLimit)[0]!;
        if (entryKey(e) !== key) this.fail(`leader ${n.id} of term ${raft.term} has ${entryKey(e)} at committed ${i}, want ${key}`);
      }
    }

    // ReadIndex answers.
    for (const rs of rd.readStates) {
      const ctx = rs.requestCtx.toString("latin1");
      const p = this.pendingReads.get(ctx);
      if (p === undefined) continue; // duplicate answer (duplicated message)
      if (p.node !== n.id) this.fail(`read ${ctx} answered on ${n.id}, asked on ${p.node}`);
      if (rs.index < p.floor) this.fail(`read ${ctx} got index ${rs.index} below ${p.floor} applied before it was asked`);
      this.pendingReads.delete(ctx);
      this.readsAnswered++;
    }
  }

  /** checkLogMatching: if two logs hold an entry with the same index and term, they agree up to it. */
  checkLogMatching(a: SimNode, b: SimNode): void {
    const la = a.rawNode.raft.raftLog;
    const lb = b.rawNode.raft.raftLog;
    const lo = bigMax(la.firstIndex(), lb.firstIndex());
    const hi = la.lastIndex() < lb.lastIndex() ? la.lastIndex() : lb.lastIndex();
    if (lo > hi) return;
    const ea = la.slice(lo, hi + 1n, noLimit);
    const eb = lb.slice(lo, hi + 1n, noLimit);
    let top = -1;
    for (let i = ea.length - 1; i >= 0; i--) {
      if (ea[i]!.term === eb[i]!.term) {
        top = i;
        break;
      }
    }
    for (let i = 0; i <= top; i++) {
      if (entryKey(ea[i]!) !== entryKey(eb[i]!)) {
        this.fail(`log matching: nodes ${a.id} and ${b.id} agree at ${lo + BigInt(top)} but differ at ${lo + BigInt(i)}`);
      }
    }
  }
}

/** runSimulation runs one seeded scenario; throws SafetyViolation on any violated property. */
export function runSimulation(opts: SimOptions): SimStats {
  const { seed } = opts;
  const rng = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rng() * xs.length)];
  const chance = (p: number) => rng() < p;
  const CCT = raftpb.ConfChangeType;

  const n = 3 + Math.floor(rng() * 3);
  const initial = Array.from({ length: n }, (_, i) => BigInt(i + 1));
  /** spares are ids that membership changes may add (never reused once removed). */
  const spares = [BigInt(n + 1), BigInt(n + 2), BigInt(n + 3)];
  const preVote = chance(0.5);
  const checkQuorum = chance(0.5);
  const electionTick = pick([5, 8, 10])!;
  const heartbeatTick = pick([1, 2])!;
  const maxSizePerMsg = pick([noLimit, 64, 1])!;
  const maxInflightMsgs = pick([1, 4, 256])!;
  const dropRate = pick([0, 0.05, 0.15, 0.3])!;
  const dupRate = pick([0, 0.03])!;
  /** maxDelay: each message is delivered 1..maxDelay steps after it was sent (reordering). */
  const maxDelay = pick([1, 3, 10, 30])!;
  /** faultLength bounds how many steps a partition or crash lasts. */
  const faultLength = pick([30, 100, 300])!;

  const checker = new Checker(seed);
  const nodeOptions = (id: bigint) => ({
    electionTick,
    heartbeatTick,
    preVote,
    checkQuorum,
    maxSizePerMsg,
    maxInflightMsgs,
    random: seededRandom(seed * 7919 + Number(id)),
  });
  /** everMember: ids that were in some applied membership. */
  const everMember = new Set<bigint>(initial);
  /** usedSpares: spare ids already proposed for addition (ids are never reused). */
  const usedSpares = new Set<bigint>();
  const members = (cs: raftpb.ConfState) => new Set([...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext]);
  /** newest is the membership of the highest-index conf change applied anywhere. */
  let newest: { index: bigint; conf: raftpb.ConfState } = {
    index: 0n,
    conf: { voters: initial, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
  };
  const net = Network.create(initial, nodeOptions, {
    onReady: (nd, rd) => checker.onReady(nd, rd),
    onApply: (nd, e) => {
      checker.onApply(nd, e);
      if (e.type === raftpb.EntryType.ENTRY_CONF_CHANGE) {
        for (const id of members(nd.confState)) everMember.add(id);
        if (e.index > newest.index) newest = { index: e.index, conf: nd.confState };
      }
    },
  });

  let proposals = 0;
  let accepted = 0;
  let restarts = 0;
  let reads = 0;
  let confChanges = 0;
  /** decommissioned: removed members, shut down for good (as etcd does). */
  const decommissioned = new Set<bigint>();

  const created = () => [...net.nodes.keys()].filter((id) => !decommissioned.has(id));
  const running = () => created().filter((id) => !net.isDown(id));

  const newestConf = () => newest.conf;
  /** decommission shuts down every node that a committed membership no longer contains. */
  const decommission = () => {
    const m = members(newestConf());
    for (const id of net.nodes.keys()) {
      if (everMember.has(id) && !m.has(id) && !decommissioned.has(id)) {
        decommissioned.add(id);
        net.crash(id);
      }
    }
  };

  const processAll = () => {
    net.processAll();
    for (const id of net.pendingIds()) if (chance(0.5)) net.finishReady(id);
    decommission();
  };

  const checkAllLogs = () => {
    const up = running();
    for (let i = 0; i < up.length; i++) {
      for (let j = i + 1; j < up.length; j++) checker.checkLogMatching(net.node(up[i]!), net.node(up[j]!));
    }
  };

  const deliverOrDrop = (env: Envelope) => {
    if (chance(dropRate)) net.drop(env);
    else net.deliverEnvelope(env);
  };

  // Messages in flight with their delivery step. Each step delivers the due ones (in
  // random order among themselves), then handles the resulting Readies.
  let delayed: { env: Envelope; due: number; seq: number }[] = [];
  let seq = 0;
  const deliverDue = (step: number) => {
    for (let round = 0; round < 4; round++) {
      for (const env of net.inflight) delayed.push({ env, due: step + 1 + Math.floor(rng() * maxDelay), seq: seq++ });
      net.inflight = [];
      const due = delayed.filter((d) => d.due <= step);
      if (due.length === 0) return;
      delayed = delayed.filter((d) => d.due > step);
      for (let i = due.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [due[i], due[j]] = [due[j]!, due[i]!];
      }
      for (const d of due) {
        if (chance(dupRate)) delayed.push({ env: d.env, due: step + 1 + Math.floor(rng() * maxDelay), seq: seq++ });
        deliverOrDrop(d.env);
      }
      processAll();
    }
  };

  let healAt = Infinity;
  const restartAt = new Map<bigint, number>();
  const restart = (id: bigint) => {
    restartAt.delete(id);
    if (decommissioned.has(id)) return;
    net.restart(id);
    checker.onRestart(net.node(id));
    restarts++;
  };

  /** proposeConfChange proposes a random membership change at a leader. */
  const proposeConfChange = () => {
    const leader = pick(net.leaders());
    if (leader === undefined) return;
    const cs = net.node(leader).rawNode.status().config;
    const spare = spares.find((id) => !usedSpares.has(id));
    const single = (type: raftpb.ConfChangeType, nodeId: bigint) => ({ type, nodeId });
    let cc: raftpb.ConfChange | undefined;
    if (cs.votersOutgoing.length > 0) {
      if (!cs.autoLeave) cc = raftpb.ConfChange.fromPartial({}); // leave the joint config
    } else {
      const k = rng();
      const removable = cs.voters.length > 2 ? [...cs.voters, ...cs.learners] : cs.learners;
      if (k < 0.3 && spare !== undefined) {
        cc = raftpb.ConfChange.fromPartial({ changes: [single(CCT.CONF_CHANGE_ADD_NODE, spare)] });
      } else if (k < 0.5 && spare !== undefined) {
        cc = raftpb.ConfChange.fromPartial({ changes: [single(CCT.CONF_CHANGE_ADD_LEARNER_NODE, spare)] });
      } else if (k < 0.65 && cs.learners.length > 0) {
        cc = raftpb.ConfChange.fromPartial({ changes: [single(CCT.CONF_CHANGE_ADD_NODE, pick(cs.learners)!)] });
      } else if (k < 0.85 && removable.length > 0) {
        cc = raftpb.ConfChange.fromPartial({ changes: [single(CCT.CONF_CHANGE_REMOVE_NODE, pick(removable)!)] });
      } else if (spare !== undefined && cs.voters.length > 2) {
        // Replace a voter through joint consensus.
        const T = raftpb.ConfChangeTransition;
        cc = raftpb.ConfChange.fromPartial({
          transition: pick([T.CONF_CHANGE_TRANSITION_AUTO, T.CONF_CHANGE_TRANSITION_JOINT_IMPLICIT, T.CONF_CHANGE_TRANSITION_JOINT_EXPLICIT])!,
          changes: [single(CCT.CONF_CHANGE_ADD_NODE, spare), single(CCT.CONF_CHANGE_REMOVE_NODE, pick(cs.voters)!)],
        });
      }
    }
    if (cc === undefined) return;
    for (const c of cc.changes) {
      if (!net.nodes.has(c.nodeId)) net.addNode(c.nodeId, nodeOptions(c.nodeId)); // joins with empty storage
      if (spares.includes(c.nodeId)) usedSpares.add(c.nodeId);
    }
    try {
      net.node(leader).rawNode.proposeConfChange(cc);
      confChanges++;
    } catch (err) {
      if (!(err instanceof ErrProposalDropped)) throw err;
    }
  };

  // Each seed draws its own event mix, so runs range from calm to very churny.
  type Ev =
    | "tick"
    | "tickOne"
    | "idle"
    | "propose"
    | "partition"
    | "crash"
    | "leaderFault"
    | "compact"
    | "transfer"
    | "read"
    | "burst"
    | "campaign"
    | "confChange";
  const weights: [Ev, number][] = [
    ["tick", 5 + rng() * 30],
    ["tickOne", rng() * 10],
    ["idle", 20 + rng() * 40],
    ["propose", 5 + rng() * 15],
    ["partition", rng() * 5],
    ["crash", rng() * 3],
    ["leaderFault", rng() * 3],
    ["compact", rng() * 3],
    ["transfer", rng() * 2],
    ["read", rng() * 4],
    ["burst", rng() * 2],
    ["campaign", rng() * 3],
    // Membership changes need pre-vote or check-quorum for liveness: without either, a
    // member that missed a reconfiguration while partitioned may sit at a higher term,
    // campaigning only among members that are gone, and silently ignore the appends of a
    // leader it does not know (as in etcd-io/raft; etcd's server always enables check-quorum).
    ["confChange", chance(0.3) || !(preVote || checkQuorum) ? 0 : rng() * 4],
  ];
  const totalWeight = weights.reduce((a, [, w]) => a + w, 0);
  const nextEvent = (): Ev => {
    let x = rng() * totalWeight;
    for (const [ev, w] of weights) {
      if (x < w) return ev;
      x -= w;
    }
    return "idle";
  };

  for (let step = 0; step < opts.steps; step++) {
    if (step >= healAt) {
      net.heal();
      healAt = Infinity;
    }
    for (const [id, at] of restartAt) if (step >= at) restart(id);
    switch (nextEvent()) {
      case "tick":
        for (const id of running()) net.node(id).rawNode.tick();
        break;
      case "tickOne": {
        // Clock skew: one node's clock runs ahead.
        const id = pick(running());
        if (id !== undefined) net.node(id).rawNode.tick();
        break;
      }
      case "idle":
        break;
      case "propose": {
        const id = pick(running());
        if (id !== undefined) {
          proposals++;
          try {
            net.node(id).rawNode.propose(Buffer.from(`s${seed}-p${proposals}`, "latin1"));
            accepted++;
          } catch (err) {
            if (!(err instanceof ErrProposalDropped)) throw err;
          }
        }
        break;
      }
      case "partition": {
        // Faults heal by themselves after a while.
        const ids = created();
        const r = rng();
        if (r < 0.3) {
          const id = pick(ids);
          if (id !== undefined) net.isolate(id);
        } else if (r < 0.45) {
          // A one-way cut: the node hears nobody but is still heard (a deaf leader must step
          // down and hand over; a deaf follower must not disrupt the others).
          const id = pick(ids);
          if (id !== undefined) net.deafen(id);
        } else if (r < 0.55) {
          const a = pick(ids);
          const b = pick(ids);
          if (a !== undefined && b !== undefined && a !== b) net.cutOneWay(a, b);
        } else {
          const shuffled = ids.slice().sort(() => rng() - 0.5);
          const cut = 1 + Math.floor(rng() * (shuffled.length - 1));
          net.partition(shuffled.slice(0, cut), shuffled.slice(cut));
        }
        healAt = Math.min(healAt, step + 10 + Math.floor(rng() * faultLength));
        break;
      }
      case "crash": {
        const id = pick(created());
        if (id === undefined) break;
        if (net.isDown(id) || chance(0.3)) {
          restart(id); // a crashed node comes back; a running one crashes and restarts at once
        } else {
          net.crash(id);
          restartAt.set(id, step + 5 + Math.floor(rng() * faultLength));
        }
        break;
      }
      case "leaderFault": {
        // Targeted fault: crash or cut off a current leader (drives leadership churn).
        const id = pick(net.leaders());
        if (id === undefined) break;
        if (chance(0.5)) {
          net.crash(id);
          restartAt.set(id, step + 5 + Math.floor(rng() * faultLength));
        } else {
          net.isolate(id);
          healAt = Math.min(healAt, step + 10 + Math.floor(rng() * faultLength));
        }
        break;
      }
      case "compact": {
        const id = pick(running());
        if (id !== undefined) net.node(id).compact(BigInt(Math.floor(rng() * 4)));
        break;
      }
      case "transfer": {
        const leader = pick(net.leaders());
        const to = pick(created());
        if (leader !== undefined && to !== undefined) net.node(leader).rawNode.transferLeader(to);
        break;
      }
      case "read": {
        const id = pick(running());
        if (id !== undefined) {
          const ctx = `s${seed}-r${reads++}`;
          checker.pendingReads.set(ctx, { node: id, floor: checker.maxApplied });
          net.node(id).rawNode.readIndex(Buffer.from(ctx, "latin1"));
        }
        break;
      }
      case "burst":
        // Deliver everything in flight now, in the order it was sent.
        for (const d of delayed) d.due = step;
        delayed.sort((a, b) => a.seq - b.seq);
        break;
      case "campaign": {
        const id = pick(running());
        if (id !== undefined) net.node(id).rawNode.campaign();
        break;
      }
      case "confChange":
        proposeConfChange();
        break;
    }
    processAll();
    deliverDue(step);
    if (step % 50 === 49) checkAllLogs();
  }
  // Whatever is still in flight is lost.
  for (const d of delayed) net.drop(d.env);
  delayed = [];

  // Convergence: heal everything and require one leader that brings every member up to
  // date (leaving a joint configuration if one is left over).
  net.heal();
  for (const id of created()) if (net.isDown(id)) restart(id);
  processAll();
  const memberIds = () => [...members(newestConf())];
  const converged = (): boolean => {
    const leaders = net.leaders();
    if (leaders.length !== 1) return false;
    const leader = net.node(leaders[0]!).rawNode;
    const r = leader.raft;
    const cs = leader.status().config;
    if (cs.votersOutgoing.length > 0) {
      if (!cs.autoLeave && r.pendingConfIndex <= r.raftLog.applied) {
        try {
          leader.proposeConfChange(raftpb.ConfChange.fromPartial({}));
        } catch (err) {
          if (!(err instanceof ErrProposalDropped)) throw err;
        }
      }
      return false;
    }
    const commit = r.raftLog.committed;
    return (
      r.raftLog.termOrZero(commit) === r.term &&
      r.leadTransferee === 0n &&
      r.raftLog.lastIndex() === commit &&
      memberIds().every((id) => {
        const m = net.node(id);
        return m.appliedIndex === commit && m.rawNode.raft.term === r.term && m.rawNode.raft.lead === r.id;
      })
    );
  };
  let done = false;
  for (let t = 0; t < 80 * electionTick && !done; t++) {
    net.tick();
    decommission();
    done = converged();
  }
  if (!done) {
    const detail = created().map((id) => {
      const r = net.node(id).rawNode.raft;
      const ls = net.leaders();
      const pr = ls.length === 1 ? net.node(ls[0]!).rawNode.raft.prs.progress.get(id)?.toString() : "";
      return `${id}${net.isDown(id) ? "(down)" : ""}: ${StateType[r.state]} term=${r.term} lead=${r.lead} commit=${r.raftLog.committed} first=${r.raftLog.firstIndex()} last=${r.raftLog.lastIndex()} applied=${net.node(id).appliedIndex} conf=${JSON.stringify(net.node(id).confState, (_k, v) => (typeof v === "bigint" ? Number(v) : v))} pr=[${pr}]`;
    });
    checker.fail(`no convergence:\n${detail.join("\n")}`);
  }

  // A final proposal must reach every member (heartbeats repair whatever was lost).
  const leaderId = net.leader();
  const finalPayload = `s${seed}-final`;
  net.node(leaderId).rawNode.propose(Buffer.from(finalPayload, "latin1"));
  const hasFinal = (id: bigint) => net.node(id).payloads().at(-1) === finalPayload;
  net.stabilize();
  for (let t = 0; t < 60 * electionTick && !memberIds().every(hasFinal); t++) net.tick();
  const ids = memberIds();
  if (!ids.every(hasFinal)) {
    checker.fail(`final proposal not applied everywhere: applied [${ids.map((id) => net.node(id).appliedIndex).join(",")}]`);
  }
  checkAllLogs();
  const final = net.node(leaderId).applied;
  for (const id of ids) {
    const a = net.node(id).applied;
    if (a.length !== final.length || a.some((k, i) => k !== final[i])) {
      checker.fail(`node ${id} applied a different sequence than the leader`);
    }
  }

  let snapshotsInstalled = 0;
  for (const nd of net.nodes.values()) snapshotsInstalled += nd.snapshotsInstalled;
  return {
    nodes: n,
    leaderTerms: checker.leaderOfTerm.size,
    committed: checker.committed.size,
    proposalsAccepted: accepted,
    confChanges,
    restarts,
    snapshotsInstalled,
    readsAnswered: checker.readsAnswered,
    finalMembers: ids.length,
    finalApplied: BigInt(final.length),
  };
}
