import { raftpb } from "@etcd-ts/proto";
import { Changer, ConfChangeError, enterJointOf, isLeaveJoint, restoreConfState, type ChangeResult } from "./confchange.js";
import {
  ErrCompacted,
  ErrProposalDropped,
  ErrSnapshotTemporarilyUnavailable,
  ErrUnavailable,
  RaftInvariantError,
} from "./errors.js";
import { RaftLog } from "./log.js";
import { discardLogger, type Logger } from "./logger.js";
import { VoteResult } from "./quorum.js";
import { seededRandom, seedFromId } from "./rand.js";
import { ReadOnly, ReadOnlyOption, type ReadState } from "./read_only.js";
import type { Storage } from "./storage.js";
import { ProgressStateType } from "./tracker/progress.js";
import { ProgressTracker, type ProgressMap, type TrackerConfig } from "./tracker/tracker.js";
import {
  bigMax,
  bigMin,
  EMPTY_BUFFER,
  emptyConfState,
  isConfChangeEntry,
  isEmptyHardState,
  newEntry,
  newMessage,
  noLimit,
  None,
  payloadSize,
  snapIndex,
  snapTerm,
  voteRespMsgType,
  type MessageInit,
} from "./util.js";

const MT = raftpb.MessageType;

/** StateType is the role of a node. */
export enum StateType {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

/** SoftState is volatile state that need not be persisted: the known leader and own role. */
export interface SoftState {
  lead: bigint;
  raftState: StateType;
}

/**
 * Config configures one raft node. Times are in ticks (the caller decides what a tick is;
 * etcd uses 100 ms). Sizes are in bytes.
 */
export interface Config {
  /** id is this node's member id; never 0. */
  id: bigint;
  /**
   * electionTick: ticks without hearing from a leader before a follower campaigns; the
   * actual timeout is randomized in [electionTick, 2*electionTick). Must exceed heartbeatTick.
   */
  electionTick: number;
  /** heartbeatTick: ticks between the leader's heartbeats. */
  heartbeatTick: number;
  /** storage is the persisted log; raft reads it, the application writes it. */
  storage: Storage;
  /**
   * applied is the last index the application already applied (restart only); default 0.
   * The membership changes up to it must be reflected in storage.initialState().confState;
   * committed entries after it are handed out again in Ready.committedEntries.
   */
  applied?: bigint;
  /** maxSizePerMsg caps the entry bytes of one MsgApp (one entry at least); default 1 MiB. */
  maxSizePerMsg?: number;
  /** maxCommittedSizePerReady caps the committed entry bytes per Ready; default maxSizePerMsg. */
  maxCommittedSizePerReady?: number;
  /** maxInflightMsgs caps the MsgApps in flight to one follower in Replicate state; default 256. */
  maxInflightMsgs?: number;
  /** checkQuorum: a leader steps down when a quorum was not active within an election timeout. */
  checkQuorum?: boolean;
  /** preVote: campaign in two phases so a partitioned node does not disrupt the cluster. */
  preVote?: boolean;
  /** readOnlyOption: how ReadIndex is confirmed; default ReadOnlySafe. LeaseBased needs checkQuorum. */
  readOnlyOption?: ReadOnlyOption;
  /** maxUncommittedEntriesSize caps the leader's uncommitted payload bytes; default unlimited. */
  maxUncommittedEntriesSize?: number;
  /** random is the randomness source in [0, 1); default a PRNG seeded from id. */
  random?: () => number;
  /** logger receives log lines on rare events; default discards them. */
  logger?: Logger;
}

type CampaignType = "pre-election" | "election" | "transfer";

/** CAMPAIGN_TRANSFER is the context of votes requested by a leadership transfer. */
const CAMPAIGN_TRANSFER = Buffer.from("CampaignTransfer");

const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024;
const DEFAULT_MAX_INFLIGHT = 256;

function validateConfig(c: Config): void {
  if (c.id === None) throw new Error("raft: cannot use none as id");
  if (!(c.heartbeatTick > 0)) throw new Error("raft: heartbeat tick must be greater than 0");
  if (!(c.electionTick > c.heartbeatTick)) throw new Error("raft: election tick must be greater than heartbeat tick");
  if (c.storage === undefined) throw new Error("raft: storage cannot be nil");
  if (c.maxInflightMsgs !== undefined && !(c.maxInflightMsgs > 0)) {
    throw new Error("raft: max inflight messages must be greater than 0");
  }
  if (c.readOnlyOption === ReadOnlyOption.ReadOnlyLeaseBased && !c.checkQuorum) {
    throw new Error("raft: CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased");
  }
}

/**
 * Raft is the consensus state machine of one node. It is driven by step() (messages),
 * tick() (time) and advance() (persistence done); its outputs are msgs, readStates and
 * the log/commit state that RawNode turns into Ready batches. It never blocks or does I/O.
 */
export class Raft {
  readonly id: bigint;
  term = 0n;
  vote = None;
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  readonly maxMsgSize: number;
  readonly maxUncommittedSize: number;
  prs: ProgressTracker;
  state: StateType = StateType.Follower;
  /** isLearner: this node is a learner in its own configuration. */
  isLearner = false;
  /** msgs are the messages to send once the current Ready is persisted. */
  msgs: raftpb.Message[] = [];
  /** lead is the known leader of the current term (None if unknown). */
  lead = None;
  /** leadTransferee is the target of an ongoing leadership transfer (None if none). */
  leadTransferee = None;
  /**
   * pendingConfIndex: a new conf change may be proposed only once the log is applied up to
   * here (one unapplied conf change at a time).
   */
  pendingConfIndex = 0n;
  /** uncommittedSize is the payload bytes of the leader's uncommitted tail (estimate). */
  uncommittedSize = 0;
  readOnly: ReadOnly;
  /** electionElapsed counts ticks since the last election timeout reset (leader: since last quorum check). */
  electionElapsed = 0;
  /** heartbeatElapsed counts ticks since the last heartbeat (leader only). */
  heartbeatElapsed = 0;
  /** ticks counts every tick since this node started; check-quorum measures silence with it. */
  private ticks = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  /** randomizedElectionTimeout is in [electionTimeout, 2*electionTimeout). */
  randomizedElectionTimeout = 0;
  /** pendingReadIndexMessages wait until the new leader commits an entry of its term. */
  private pendingReadIndexMessages: raftpb.Message[] = [];
  private readonly random: () => number;
  readonly logger: Logger;

  constructor(c: Config) {
    validateConfig(c);
    this.id = c.id;
    this.maxMsgSize = c.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG;
    this.raftLog = new RaftLog(c.storage, c.maxCommittedSizePerReady ?? this.maxMsgSize);
    this.maxUncommittedSize = c.maxUncommittedEntriesSize ?? noLimit;
    this.prs = new ProgressTracker(c.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum ?? false;
    this.preVote = c.preVote ?? false;
    this.readOnly = new ReadOnly(c.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe);
    this.random = c.random ?? seededRandom(seedFromId(c.id));
    this.logger = c.logger ?? discardLogger;

    const { hardState, confState } = c.storage.initialState();
    const restored = restoreConfState(confState, this.prs.maxInflight, this.raftLog.lastIndex());
    this.switchToConfig(restored);
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (c.applied !== undefined && c.applied > 0n) this.raftLog.appliedTo(c.applied);
    this.becomeFollower(this.term, None);
    this.logger.info(
      `raft: newRaft ${this.id.toString(16)} [peers: [${this.prs.voterNodes().map((n) => n.toString(16)).join(",")}], ` +
        `term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, ` +
        `lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}]`,
    );
  }

  hasLeader(): boolean {
    return this.lead !== None;
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): raftpb.HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** send stamps from (and term, except for forwarded proposals/read requests) and queues m. */
  private send(init: MessageInit): void {
    const m = newMessage(init);
    m.from = this.id;
    const t = m.type;
    if (t === MT.MSG_VOTE || t === MT.MSG_VOTE_RESP || t === MT.MSG_PRE_VOTE || t === MT.MSG_PRE_VOTE_RESP) {
      if (m.term === 0n) throw new RaftInvariantError(`term should be set when sending ${raftpb.messageTypeToJSON(t)}`);
    } else {
      if (m.term !== 0n) {
        throw new RaftInvariantError(`term should not be set when sending ${raftpb.messageTypeToJSON(t)} (was ${m.term})`);
      }
      // Proposals and read requests are forwarded to the leader like local messages.
      if (t !== MT.MSG_PROP && t !== MT.MSG_READ_INDEX) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /**
   * forward re-sends the request m (MsgProp, MsgReadIndex) to the leader, keeping its
   * payload. A request already forwarded by another member keeps that member as `from`,
   * so the answer to a ReadIndex goes to the member that asked.
   */
  private forward(m: raftpb.Message): void {
    this.msgs.push({ ...m, to: this.lead, from: m.from === None ? this.id : m.from, term: 0n });
  }

  /** sendAppend sends a MsgApp (or MsgSnap) to `to`, even without new entries. */
  sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * maybeSendAppend sends the entries `to` needs (or a snapshot if they were compacted).
   * With sendIfEmpty false nothing is sent when there are no entries. Returns whether a
   * message was sent.
   */
  maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;

    let term: bigint | undefined;
    let ents: raftpb.Entry[] | undefined;
    try {
      term = this.raftLog.term(pr.next - 1n);
      ents = this.raftLog.entries(pr.next, this.maxMsgSize);
    } catch (err) {
      if (!isCompactedOrUnavailable(err)) throw err;
    }
    if (ents !== undefined && ents.length === 0 && !sendIfEmpty) return false;

    if (term === undefined || ents === undefined) {
      // The entries `to` needs are compacted: send a snapshot instead.
      if (!pr.recentActive) return false;
      let snapshot: raftpb.Snapshot;
      try {
        snapshot = this.raftLog.snapshot();
      } catch (err) {
        if (err instanceof ErrSnapshotTemporarilyUnavailable) return false;
        throw err;
      }
      if (snapIndex(snapshot) === 0n) throw new RaftInvariantError("need non-empty snapshot");
      pr.becomeSnapshot(snapIndex(snapshot));
      this.logger.debug(
        `raft: ${this.id.toString(16)} sent snapshot[index: ${snapIndex(snapshot)}, term: ${snapTerm(snapshot)}] to ${to.toString(16)} [${pr.toString()}]`,
      );
      this.send({ type: MT.MSG_SNAP, to, snapshot });
      return true;
    }

    const n = ents.length;
    const prevIndex = pr.next - 1n;
    if (n !== 0) {
      switch (pr.state) {
        case ProgressStateType.Replicate: {
          const last = ents[n - 1]!.index;
          pr.optimisticUpdate(last);
          pr.inflights.add(last);
          break;
        }
        case ProgressStateType.Probe:
          pr.probeSent = true;
          break;
        default:
          throw new RaftInvariantError(`${this.id} is sending append in unhandled state ${pr.state}`);
      }
    }
    this.send({
      type: MT.MSG_APP,
      to,
      index: prevIndex,
      logTerm: term,
      entries: ents,
      commit: this.raftLog.committed,
    });
    return true;
  }

  /** sendHeartbeat sends a heartbeat carrying min(match, committed) so followers never commit unmatched entries. */
  private sendHeartbeat(to: bigint, ctx: Buffer): void {
    const pr = this.prs.progress.get(to);
    const commit = bigMin(pr?.match ?? 0n, this.raftLog.committed);
    this.send({ type: MT.MSG_HEARTBEAT, to, commit, context: ctx });
  }

  /** bcastAppend sends appends to every other member that is not up to date. */
  bcastAppend(): void {
    this.prs.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  /** bcastHeartbeat sends heartbeats, carrying the newest pending ReadIndex context if any. */
  private bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx() ?? EMPTY_BUFFER);
  }

  private bcastHeartbeatWithCtx(ctx: Buffer): void {
    this.prs.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    });
  }

  /**
   * appliedTo records that the application applied up to index; a leader in an auto-leave
   * joint config then proposes leaving it.
   */
  appliedTo(index: bigint): void {
    this.raftLog.appliedTo(index);
    if (this.prs.config.autoLeave && index >= this.pendingConfIndex && this.state === StateType.Leader) {
      const ent = newEntry({
        type: raftpb.EntryType.ENTRY_CONF_CHANGE,
        data: Buffer.from(raftpb.ConfChange.encode(raftpb.ConfChange.create()).finish()),
      });
      if (!this.appendEntry([ent])) {
        // Retry after the next applied entry.
        this.pendingConfIndex = this.raftLog.lastIndex();
      } else {
        // The leave-joint entry is itself a conf change: no other until it is applied.
        this.pendingConfIndex = this.raftLog.lastIndex();
        this.logger.info(`raft: ${this.id.toString(16)} initiating automatic transition out of joint configuration ${this.prs.config.toString()}`);
        this.bcastAppend();
      }
    }
  }

  /** maybeCommit advances the commit index to what a quorum acked; true if it moved. */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.prs.committed(), this.term);
  }

  private reset(term: bigint): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.prs.resetVotes();
    const last = this.raftLog.lastIndex();
    this.prs.visit((id, pr) => {
      pr.match = id === this.id ? last : 0n;
      pr.next = last + 1n;
      pr.state = ProgressStateType.Probe;
      pr.pendingSnapshot = 0n;
      pr.recentActive = false;
      pr.lastActiveTick = this.ticks;
      pr.probeSent = false;
      pr.inflights.reset();
    });
    this.pendingConfIndex = 0n;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.readOnly.option);
    this.pendingReadIndexMessages = [];
  }

  /** appendEntry appends proposals to the leader's log; false if over the uncommitted size limit. */
  private appendEntry(es: raftpb.Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    const ents: raftpb.Entry[] = [];
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      ents.push({ term: this.term, index: li + 1n + BigInt(i), type: e.type, data: e.data });
    }
    if (!this.increaseUncommittedSize(ents)) {
      this.logger.debug(`raft: ${this.id.toString(16)} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`);
      return false;
    }
    li = this.raftLog.append(ents);
    this.prs.progress.get(this.id)?.maybeUpdate(li);
    // The caller broadcasts regardless of whether the commit index moved.
    if (this.maybeCommit()) this.onCommitAdvanced();
    return true;
  }

  /** tick advances the logical clock by one tick. */
  tick(): void {
    this.ticks++;
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MT.MSG_HUP, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    // Check quorum at every tick over a sliding window of one election timeout (see
    // MSG_CHECK_QUORUM in stepLeader), so a leader that hears nobody steps down one election
    // timeout after it last heard a quorum, not up to two as with etcd's per-round check.
    if (this.checkQuorum) this.step(newMessage({ type: MT.MSG_CHECK_QUORUM, from: this.id }));
    if (this.state !== StateType.Leader) return;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      // recentActive marks who answered during the last round (snapshot sending looks at it).
      this.prs.visit((id, pr) => {
        if (id !== this.id) pr.recentActive = false;
      });
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== None) this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MT.MSG_BEAT, from: this.id }));
    }
  }

  becomeFollower(term: bigint, lead: bigint): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
    this.logger.info(`raft: ${this.id.toString(16)} became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    if (this.state === StateType.Leader) throw new RaftInvariantError("invalid transition [leader -> candidate]");
    this.reset(this.term + 1n);
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger.info(`raft: ${this.id.toString(16)} became candidate at term ${this.term}`);
  }

  becomePreCandidate(): void {
    if (this.state === StateType.Leader) throw new RaftInvariantError("invalid transition [leader -> pre-candidate]");
    // A pre-candidate changes neither its term nor its vote.
    this.prs.resetVotes();
    this.lead = None;
    this.state = StateType.PreCandidate;
    this.logger.info(`raft: ${this.id.toString(16)} became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    if (this.state === StateType.Follower) throw new RaftInvariantError("invalid transition [follower -> leader]");
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    // The leader trivially replicates to itself.
    this.prs.progress.get(this.id)?.becomeReplicate();
    // Some unapplied entry may be a conf change: delay new ones until the whole log is applied.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // An empty entry of the new term lets the leader commit (and learn) everything before it.
    if (!this.appendEntry([newEntry({})])) throw new RaftInvariantError("empty entry was dropped");
    this.logger.info(`raft: ${this.id.toString(16)} became leader at term ${this.term}`);
  }

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) {
      this.logger.debug(`raft: ${this.id.toString(16)} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warn(`raft: ${this.id.toString(16)} is unpromotable and can not campaign`);
      return;
    }
    const n = this.numUnappliedConfChanges();
    if (n !== 0) {
      this.logger.warn(
        `raft: ${this.id.toString(16)} cannot campaign at term ${this.term} since there are still ${n} pending configuration changes to apply`,
      );
      return;
    }
    this.logger.info(`raft: ${this.id.toString(16)} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  /**
   * numUnappliedConfChanges counts conf change entries that are committed but not yet
   * applied (handed out or not). Until they are applied this node's membership is stale.
   */
  private numUnappliedConfChanges(): number {
    if (this.raftLog.committed <= this.raftLog.applied) return 0;
    // Entries below firstIndex belong to a snapshot not yet handed back through advance();
    // its membership is already installed.
    const lo = bigMax(this.raftLog.applied + 1n, this.raftLog.firstIndex());
    if (lo > this.raftLog.committed) return 0;
    return this.raftLog.slice(lo, this.raftLog.committed + 1n, noLimit).filter(isConfChangeEntry).length;
  }

  /** campaign starts a (pre-)election; callers have checked that this node may campaign. */
  private campaign(t: CampaignType): void {
    let term: bigint;
    let voteMsg: raftpb.MessageType;
    if (t === "pre-election") {
      this.becomePreCandidate();
      voteMsg = MT.MSG_PRE_VOTE;
      // Pre-votes ask for the next term without incrementing ours.
      term = this.term + 1n;
    } else {
      this.becomeCandidate();
      voteMsg = MT.MSG_VOTE;
      term = this.term;
    }
    if (this.poll(this.id, voteRespMsgType(voteMsg), true) === VoteResult.VoteWon) {
      // Won by our own vote: a single-voter group.
      if (t === "pre-election") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.prs.voterNodes()) {
      if (id === this.id) continue;
      this.logger.info(
        `raft: ${this.id.toString(16)} [logterm: ${lastTerm}, index: ${lastIndex}] sent ${raftpb.messageTypeToJSON(voteMsg)} request to ${id.toString(16)} at term ${this.term}`,
      );
      this.send({
        type: voteMsg,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
        context: t === "transfer" ? CAMPAIGN_TRANSFER : EMPTY_BUFFER,
      });
    }
  }

  private poll(id: bigint, t: raftpb.MessageType, v: boolean): VoteResult {
    this.logger.info(
      `raft: ${this.id.toString(16)} received ${raftpb.messageTypeToJSON(t)}${v ? "" : " rejection"} from ${id.toString(16)} at term ${this.term}`,
    );
    this.prs.recordVote(id, v);
    return this.prs.tallyVotes().result;
  }

  /**
   * step processes one message. Local messages have term 0; others are first checked
   * against the current term. Throws ErrProposalDropped for proposals that cannot be
   * accepted.
   */
  step(m: raftpb.Message): void {
    if (m.term === 0n) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MT.MSG_VOTE || m.type === MT.MSG_PRE_VOTE) {
        const force = m.context.equals(CAMPAIGN_TRANSFER);
        const inLease = this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Within the minimum election timeout of hearing from a leader, a vote request
          // neither bumps the term nor gets a vote: this shields a healthy leader from
          // disruption by a partitioned or removed member.
          this.logger.info(
            `raft: ${this.id.toString(16)} [term: ${this.term}] ignored ${raftpb.messageTypeToJSON(m.type)} from ${m.from.toString(16)} [term: ${m.term}]: lease is not expired`,
          );
          return;
        }
      }
      if (m.type === MT.MSG_PRE_VOTE) {
        // Never change the term in response to a pre-vote.
      } else if (m.type === MT.MSG_PRE_VOTE_RESP && !m.reject) {
        // A granted pre-vote carries the future term we asked for; the term is bumped only
        // once a quorum granted it.
      } else {
        this.logger.info(
          `raft: ${this.id.toString(16)} [term: ${this.term}] received a ${raftpb.messageTypeToJSON(m.type)} message with higher term from ${m.from.toString(16)} [term: ${m.term}]`,
        );
        if (m.type === MT.MSG_APP || m.type === MT.MSG_HEARTBEAT || m.type === MT.MSG_SNAP) {
          this.becomeFollower(m.term, m.from);
        } else {
          this.becomeFollower(m.term, None);
        }
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MT.MSG_HEARTBEAT || m.type === MT.MSG_APP)) {
        // A leader of an older term may be unable to learn about the newer term if votes
        // are ignored (check-quorum lease) or never sent (pre-vote): tell it our term.
        this.send({ type: MT.MSG_APP_RESP, to: m.from });
      } else if (m.type === MT.MSG_PRE_VOTE) {
        // Reject so a pre-candidate with a stale term learns it.
        this.send({ type: MT.MSG_PRE_VOTE_RESP, to: m.from, term: this.term, reject: true });
      }
      // Other messages from older terms are ignored.
      return;
    }

    switch (m.type) {
      case MT.MSG_HUP:
        this.hup(this.preVote ? "pre-election" : "election");
        return;
      case MT.MSG_VOTE:
      case MT.MSG_PRE_VOTE: {
        // We can vote for a repeat request, when we have not voted and know no leader in
        // this term, or for a pre-vote for a future term...
        const canVote =
          this.vote === m.from ||
          (this.vote === None && this.lead === None) ||
          (m.type === MT.MSG_PRE_VOTE && m.term > this.term);
        // ...if the candidate's log is at least as up to date as ours. Learners vote too:
        // a promoted learner may not know about its promotion yet.
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // The response carries the request's term (for pre-votes, a future term) so the
          // candidate does not drop it as stale.
          this.send({ type: voteRespMsgType(m.type), to: m.from, term: m.term });
          if (m.type === MT.MSG_VOTE) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send({ type: voteRespMsgType(m.type), to: m.from, term: this.term, reject: true });
        }
        return;
      }
    }
    switch (this.state) {
      case StateType.Leader:
        this.stepLeader(m);
        return;
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.stepCandidate(m);
        return;
      case StateType.Follower:
        this.stepFollower(m);
        return;
    }
  }

  private stepLeader(m: raftpb.Message): void {
    // Message types that need no progress for m.from.
    switch (m.type) {
      case MT.MSG_BEAT:
        this.bcastHeartbeat();
        return;
      case MT.MSG_CHECK_QUORUM: {
        const self = this.prs.progress.get(this.id);
        if (self !== undefined) {
          self.recentActive = true;
          self.lastActiveTick = this.ticks;
        }
        if (!this.prs.quorumHeardSince(this.id, this.ticks - this.electionTimeout)) {
          this.logger.warn(`raft: ${this.id.toString(16)} stepped down to follower since quorum is not active`);
          const successor = this.successorOnStepDown();
          this.becomeFollower(this.term, None);
          if (successor !== None) {
            // A leader that hears no quorum may still be heard (a one-way cut): ask the most
            // up-to-date voter to campaign now, rather than leaving the others to wait out an
            // election timeout after our last heartbeat. Votes still require an up-to-date log.
            this.logger.info(`raft: ${this.id.toString(16)} asks ${successor.toString(16)} to campaign at once`);
            this.sendTimeoutNow(successor);
          }
        }
        return;
      }
      case MT.MSG_PROP:
        this.leaderPropose(m);
        return;
      case MT.MSG_READ_INDEX:
        if (this.prs.isSingleton()) {
          // The only voter: the commit index is confirmed by construction.
          this.respondToReadIndex(m, this.raftLog.committed);
          return;
        }
        // A new leader's commit index is only known to be current once it committed an
        // entry of its own term; until then the request waits.
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.sendReadIndexResponse(m);
        return;
    }

    const pr = this.prs.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MT.MSG_APP_RESP: {
        pr.recentActive = true;
        pr.lastActiveTick = this.ticks;
        if (m.reject) {
          // With a term hint the follower pointed at the last index where its term is
          // <= m.logTerm; search our log for the last index whose term is <= that term,
          // skipping whole terms of conflicting entries at once.
          let nextProbeIdx = m.rejectHint;
          if (m.logTerm > 0n) nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
            if (pr.state === ProgressStateType.Replicate) pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return;
        }
        const oldPaused = pr.isPaused();
        if (!pr.maybeUpdate(m.index)) return;
        if (pr.state === ProgressStateType.Probe) {
          pr.becomeReplicate();
        } else if (pr.state === ProgressStateType.Snapshot && pr.match + 1n >= this.raftLog.firstIndex()) {
          // The follower can be caught up from the log again (whichever snapshot it applied).
          pr.becomeProbe();
          pr.becomeReplicate();
        } else if (pr.state === ProgressStateType.Replicate) {
          pr.inflights.freeLE(m.index);
        }
        if (this.maybeCommit()) {
          this.onCommitAdvanced();
          this.bcastAppend();
        } else if (oldPaused) {
          // A paused follower may be missing the latest commit index.
          this.sendAppend(m.from);
        }
        // The window may have opened for several messages at once.
        while (this.maybeSendAppend(m.from, false)) {
          // keep sending
        }
        if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
          this.logger.info(`raft: ${this.id.toString(16)} sent MsgTimeoutNow to ${m.from.toString(16)} after received MsgAppResp`);
          this.sendTimeoutNow(m.from);
        }
        return;
      }
      case MT.MSG_HEARTBEAT_RESP: {
        pr.recentActive = true;
        pr.lastActiveTick = this.ticks;
        pr.probeSent = false;
        // Free one slot of a full window so replication can make progress.
        if (pr.state === ProgressStateType.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
        if (this.readOnly.option !== ReadOnlyOption.ReadOnlySafe || m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (acks === undefined || this.prs.config.voters.voteResult(acks) !== VoteResult.VoteWon) return;
        for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
        return;
      }
      case MT.MSG_SNAP_STATUS:
        if (pr.state !== ProgressStateType.Snapshot) return;
        if (!m.reject) {
          pr.becomeProbe();
          this.logger.debug(`raft: ${this.id.toString(16)} snapshot succeeded, resumed sending replication messages to ${m.from.toString(16)} [${pr.toString()}]`);
        } else {
          // Clear pendingSnapshot first, or probing would start past the failed snapshot.
          pr.pendingSnapshot = 0n;
          pr.becomeProbe();
          this.logger.debug(`raft: ${this.id.toString(16)} snapshot failed, resumed sending replication messages to ${m.from.toString(16)} [${pr.toString()}]`);
        }
        // Wait for the follower's MsgAppResp (or the next heartbeat) before the next MsgApp.
        pr.probeSent = true;
        return;
      case MT.MSG_UNREACHABLE:
        // An optimistic MsgApp to an unreachable follower was probably lost.
        if (pr.state === ProgressStateType.Replicate) pr.becomeProbe();
        return;
      case MT.MSG_TRANSFER_LEADER: {
        if (pr.isLearner) {
          this.logger.debug(`raft: ${this.id.toString(16)} is learner. Ignored transferring leadership`);
          return;
        }
        const transferee = m.from;
        const last = this.leadTransferee;
        if (last !== None) {
          if (last === transferee) return; // already in progress
          this.abortLeaderTransfer();
        }
        if (transferee === this.id) return; // already leader
        this.logger.info(`raft: ${this.id.toString(16)} [term ${this.term}] starts to transfer leadership to ${transferee.toString(16)}`);
        // The transfer must finish within one election timeout.
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
        else this.sendAppend(transferee);
        return;
      }
    }
  }

  private leaderPropose(m: raftpb.Message): void {
    if (m.entries.length === 0) throw new RaftInvariantError(`${this.id} stepped empty MsgProp`);
    if (!this.prs.progress.has(this.id)) {
      // Removed from the configuration while leader: accept nothing new.
      throw new ErrProposalDropped();
    }
    if (this.leadTransferee !== None) {
      this.logger.debug(`raft: ${this.id.toString(16)} [term ${this.term}] transfer leadership to ${this.leadTransferee.toString(16)} is in progress; dropping proposal`);
      throw new ErrProposalDropped();
    }
    const ents = m.entries.slice();
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (!isConfChangeEntry(e)) continue;
      const cc = raftpb.ConfChange.decode(e.data);
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = this.prs.config.voters.isJoint();
      const wantsLeaveJoint = cc.changes.length === 0;
      let refused = "";
      if (alreadyPending) {
        refused = `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint) {
        refused = "must transition out of joint config first";
      } else if (!alreadyJoint && wantsLeaveJoint) {
        refused = "not in joint state; refusing empty conf change";
      }
      if (refused === "") {
        // Validate against the current configuration (which is the one the entry will be
        // applied to: no other conf change is pending), so a committed conf change can
        // always be applied.
        try {
          this.dryRunConfChange(cc);
        } catch (err) {
          if (!(err instanceof ConfChangeError)) throw err;
          refused = err.message;
        }
      }
      if (refused !== "") {
        // The slot stays in the log as an empty entry so indexes are unaffected.
        this.logger.info(`raft: ${this.id.toString(16)} ignoring conf change at config ${this.prs.config.toString()}: ${refused}`);
        ents[i] = newEntry({});
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + BigInt(i) + 1n;
      }
    }
    if (!this.appendEntry(ents)) throw new ErrProposalDropped();
    this.bcastAppend();
  }

  private stepCandidate(m: raftpb.Message): void {
    // Only responses to our own kind of campaign count (a candidate may still receive
    // pre-vote responses from its pre-candidate phase).
    const myVoteRespType = this.state === StateType.PreCandidate ? MT.MSG_PRE_VOTE_RESP : MT.MSG_VOTE_RESP;
    switch (m.type) {
      case MT.MSG_PROP:
        this.logger.info(`raft: ${this.id.toString(16)} no leader at term ${this.term}; dropping proposal`);
        throw new ErrProposalDropped();
      case MT.MSG_APP:
        this.becomeFollower(m.term, m.from); // m.term === this.term
        this.handleAppendEntries(m);
        return;
      case MT.MSG_HEARTBEAT:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MT.MSG_SNAP:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteRespType: {
        const res = this.poll(m.from, m.type, !m.reject);
        if (res === VoteResult.VoteWon) {
          if (this.state === StateType.PreCandidate) {
            this.campaign("election");
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === VoteResult.VoteLost) {
          // A pre-vote response carries a future term: keep our own.
          this.becomeFollower(this.term, None);
        }
        return;
      }
      case MT.MSG_TIMEOUT_NOW:
        this.logger.debug(`raft: ${this.id.toString(16)} [term ${this.term} state ${StateType[this.state]}] ignored MsgTimeoutNow from ${m.from.toString(16)}`);
        return;
    }
  }

  private stepFollower(m: raftpb.Message): void {
    switch (m.type) {
      case MT.MSG_PROP:
        if (this.lead === None) {
          this.logger.info(`raft: ${this.id.toString(16)} no leader at term ${this.term}; dropping proposal`);
          throw new ErrProposalDropped();
        }
        this.forward(m);
        return;
      case MT.MSG_APP:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MT.MSG_HEARTBEAT:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MT.MSG_SNAP:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MT.MSG_TRANSFER_LEADER:
        if (this.lead === None) {
          this.logger.info(`raft: ${this.id.toString(16)} no leader at term ${this.term}; dropping leader transfer msg`);
          return;
        }
        // Forwarded with this node as sender: the leader transfers leadership to us.
        this.send({ type: MT.MSG_TRANSFER_LEADER, to: this.lead });
        return;
      case MT.MSG_TIMEOUT_NOW:
        if (this.promotable()) {
          this.logger.info(`raft: ${this.id.toString(16)} [term ${this.term}] received MsgTimeoutNow from ${m.from.toString(16)} and starts an election to get leadership.`);
          // Transfers skip pre-vote: the leader asked for it, there is no partition to fear.
          this.campaign("transfer");
        } else {
          this.logger.info(`raft: ${this.id.toString(16)} received MsgTimeoutNow from ${m.from.toString(16)} but is not promotable`);
        }
        return;
      case MT.MSG_READ_INDEX:
        if (this.lead === None) {
          this.logger.info(`raft: ${this.id.toString(16)} no leader at term ${this.term}; dropping index reading msg`);
          return;
        }
        this.forward(m);
        return;
      case MT.MSG_READ_INDEX_RESP:
        if (m.entries.length !== 1) {
          this.logger.error(`raft: ${this.id.toString(16)} invalid format of MsgReadIndexResp from ${m.from.toString(16)}, entries count: ${m.entries.length}`);
          return;
        }
        this.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
        return;
    }
  }

  private handleAppendEntries(m: raftpb.Message): void {
    if (m.index < this.raftLog.committed) {
      this.send({ type: MT.MSG_APP_RESP, to: m.from, index: this.raftLog.committed });
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: MT.MSG_APP_RESP, to: m.from, index: lastNew });
      return;
    }
    // Reject with a hint: the last index <= m.index whose term is <= m.logTerm. Every entry
    // after it is known not to match, so the leader can skip them all.
    const hint = this.raftLog.findConflictByTerm(bigMin(m.index, this.raftLog.lastIndex()), m.logTerm);
    this.logger.debug(
      `raft: ${this.id.toString(16)} [logterm: ${this.raftLog.termOrZero(m.index)}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from.toString(16)}`,
    );
    this.send({ type: MT.MSG_APP_RESP, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(m: raftpb.Message): void {
    this.raftLog.commitTo(m.commit);
    this.send({ type: MT.MSG_HEARTBEAT_RESP, to: m.from, context: m.context });
  }

  private handleSnapshot(m: raftpb.Message): void {
    const s = m.snapshot;
    const sindex = snapIndex(s);
    const sterm = snapTerm(s);
    if (s !== undefined && this.restore(s)) {
      this.logger.info(`raft: ${this.id.toString(16)} [commit: ${this.raftLog.committed}] restored snapshot [index: ${sindex}, term: ${sterm}]`);
      this.send({ type: MT.MSG_APP_RESP, to: m.from, index: this.raftLog.lastIndex() });
    } else {
      this.logger.info(`raft: ${this.id.toString(16)} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${sindex}, term: ${sterm}]`);
      this.send({ type: MT.MSG_APP_RESP, to: m.from, index: this.raftLog.committed });
    }
  }

  /**
   * restore installs snapshot s (log and membership) unless it is not newer than the
   * commit index or does not contain this node. Returns whether it was installed.
   */
  restore(s: raftpb.Snapshot): boolean {
    const sindex = snapIndex(s);
    const sterm = snapTerm(s);
    if (sindex <= this.raftLog.committed) return false;
    if (this.state !== StateType.Follower) {
      // Defense in depth: only followers install snapshots.
      this.logger.warn(`raft: ${this.id.toString(16)} attempted to restore snapshot as leader; should never happen`);
      this.becomeFollower(this.term + 1n, None);
      return false;
    }
    // The snapshot's membership may not contain this node: a member added after the
    // leader's last snapshot gets that snapshot first and learns about its own addition
    // from the entries that follow (like a new node with empty storage, it cannot
    // campaign meanwhile).
    const cs = s.metadata?.confState ?? emptyConfState();
    if (this.numUnappliedConfChanges() !== 0) {
      // The application has yet to apply conf changes that the snapshot already covers;
      // applying them on top of the snapshot's membership would corrupt it. The leader
      // retries the snapshot later.
      this.logger.info(`raft: ${this.id.toString(16)} deferred snapshot [index: ${sindex}] until pending conf changes are applied`);
      return false;
    }
    if (this.raftLog.matchTerm(sindex, sterm)) {
      // We already have the snapshot's last entry: just move the commit index.
      this.logger.info(`raft: ${this.id.toString(16)} fast-forwarded commit to snapshot [index: ${sindex}, term: ${sterm}]`);
      this.raftLog.commitTo(sindex);
      return false;
    }
    this.raftLog.restore(s);
    this.prs = new ProgressTracker(this.prs.maxInflight);
    this.switchToConfig(restoreConfState(cs, this.prs.maxInflight, this.raftLog.lastIndex()));
    const pr = this.prs.progress.get(this.id);
    pr?.maybeUpdate(pr.next - 1n);
    return true;
  }

  /** promotable: this node is a voter of its configuration (may campaign). */
  promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  /** applyConfChange applies a committed conf change; returns the resulting membership. */
  applyConfChange(cc: raftpb.ConfChange): raftpb.ConfState {
    return this.switchToConfig(this.dryRunConfChange(cc));
  }

  /** dryRunConfChange computes the configuration cc yields, without installing it. */
  private dryRunConfChange(cc: raftpb.ConfChange): ChangeResult {
    const changer = new Changer(this.prs.config, this.prs.progress, this.prs.maxInflight, this.raftLog.lastIndex());
    if (isLeaveJoint(cc)) return changer.leaveJoint();
    const joint = enterJointOf(cc);
    return joint !== undefined ? changer.enterJoint(joint.autoLeave, cc.changes) : changer.simple(cc.changes);
  }

  /**
   * switchToConfig installs a new configuration and reacts to it: a leader that is no
   * longer a voter steps down; otherwise a leader commits what the new quorum allows and
   * probes new members.
   */
  switchToConfig(res: { config: TrackerConfig; progress: ProgressMap }): raftpb.ConfState {
    this.prs.config = res.config;
    this.prs.progress = res.progress;
    // A member new to the configuration gets a full election timeout before it counts as silent.
    this.prs.visit((_id, p) => {
      if (p.lastActiveTick < 0) p.lastActiveTick = this.ticks;
    });
    this.logger.info(`raft: ${this.id.toString(16)} switched to configuration ${this.prs.config.toString()}`);
    const cs = this.prs.confState();
    const pr = this.prs.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;

    if ((pr === undefined || this.isLearner) && this.state === StateType.Leader) {
      // Removed or demoted while leader: step down so the remaining voters elect a leader
      // (this node can no longer campaign, so it will not disrupt them).
      this.logger.info(`raft: ${this.id.toString(16)} removed from the configuration; stepping down`);
      this.becomeFollower(this.term, None);
      return cs;
    }
    if (this.state !== StateType.Leader || cs.voters.length === 0) return cs;

    if (this.maybeCommit()) {
      this.onCommitAdvanced();
      this.bcastAppend();
    } else {
      // Probe new members at once rather than waiting for the next heartbeat or proposal.
      this.prs.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== None && !this.prs.progress.has(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  private loadState(hs: raftpb.HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new RaftInvariantError(
        `${this.id} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  private pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private resetRandomizedElectionTimeout(): void {
    const r = Math.floor(this.random() * this.electionTimeout);
    this.randomizedElectionTimeout = this.electionTimeout + Math.min(Math.max(r, 0), this.electionTimeout - 1);
  }

  /**
   * successorOnStepDown is the voter a leader that lost its quorum asks to campaign: the one
   * with the highest known match index, then the one heard from last, then the lowest ID;
   * None when no other voter ever acknowledged an entry.
   */
  private successorOnStepDown(): bigint {
    let best = None;
    let bestMatch = 0n;
    let bestTick = -1;
    for (const id of this.prs.voterNodes()) {
      const pr = this.prs.progress.get(id);
      if (id === this.id || pr === undefined || pr.match === 0n) continue;
      if (pr.match > bestMatch || (pr.match === bestMatch && pr.lastActiveTick > bestTick)) {
        best = id;
        bestMatch = pr.match;
        bestTick = pr.lastActiveTick;
      }
    }
    return best;
  }

  private sendTimeoutNow(to: bigint): void {
    this.send({ type: MT.MSG_TIMEOUT_NOW, to });
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /** committedEntryInCurrentTerm: the leader has committed an entry of its own term. */
  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  /** onCommitAdvanced releases ReadIndex requests that waited for the first commit of the term. */
  private onCommitAdvanced(): void {
    if (this.state !== StateType.Leader || this.pendingReadIndexMessages.length === 0) return;
    if (!this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: raftpb.Message): void {
    switch (this.readOnly.option) {
      case ReadOnlyOption.ReadOnlySafe: {
        // Confirm leadership with a heartbeat round; the local vote counts at once.
        const ctx = m.entries[0]!.data;
        this.readOnly.addRequest(this.raftLog.committed, m);
        this.readOnly.recvAck(this.id, ctx);
        this.bcastHeartbeatWithCtx(ctx);
        return;
      }
      case ReadOnlyOption.ReadOnlyLeaseBased:
        this.respondToReadIndex(m, this.raftLog.committed);
        return;
    }
  }

  /** respondToReadIndex answers req with readIndex: locally as a ReadState, or to the forwarding peer. */
  private respondToReadIndex(req: raftpb.Message, readIndex: bigint): void {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.entries[0]!.data });
      return;
    }
    this.send({ type: MT.MSG_READ_INDEX_RESP, to: req.from, index: readIndex, entries: req.entries });
  }

  private increaseUncommittedSize(ents: raftpb.Entry[]): boolean {
    let s = 0;
    for (const e of ents) s += payloadSize(e);
    // An empty uncommitted tail accepts any one proposal, however large.
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  /** reduceUncommittedSize accounts for entries that were committed (and handed out to apply). */
  reduceUncommittedSize(ents: raftpb.Entry[]): void {
    if (this.uncommittedSize === 0) return;
    let s = 0;
    for (const e of ents) s += payloadSize(e);
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }
}

function isCompactedOrUnavailable(err: unknown): boolean {
  return err instanceof ErrCompacted || err instanceof ErrUnavailable;
}
