import { raftpb } from "@etcd-ts/proto";
import { RawNode, StateType, type MemoryStorage, type Ready } from "@etcd-ts/raft";
import type { WAL } from "@etcd-ts/wal";
import type { Logger } from "./log.js";
import { hexId } from "./ids.js";

/** Transport sends raft messages to peers. A single-member cluster has nothing to send. */
export interface Transport {
  send(messages: raftpb.Message[]): void;
}

/** ApplyHandler receives committed entries in log order, after they are persisted. */
export interface ApplyHandler {
  /** apply applies the entries synchronously; the returned promise (if any) is the backend write. */
  applyEntries(entries: raftpb.Entry[]): void;
  /** applied is the index of the last applied entry. */
  readonly appliedIndex: bigint;
}

/** RaftNodeOptions configures the loop around the pure raft state machine. */
export interface RaftNodeOptions {
  node: RawNode;
  storage: MemoryStorage;
  wal: WAL;
  memberId: bigint;
  heartbeatMs: number;
  transport: Transport;
  applier: ApplyHandler;
  logger: Logger;
  /** onFatal stops the member: a failed WAL write must never be answered as success. */
  onFatal: (err: unknown) => void;
  /** afterApply runs after each applied batch (snapshot trigger). */
  afterApply?: (appliedIndex: bigint) => void | Promise<void>;
  /** installSnapshot makes a snapshot from the leader durable and current (backend, WAL, storage). */
  installSnapshot: (snap: raftpb.Snapshot) => Promise<void>;
}

interface ReadRequest {
  ctx: Buffer;
  index: bigint | undefined;
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

/**
 * RaftNode owns the concurrency around @etcd-ts/raft: the tick timer, the Ready loop (persist
 * to the WAL with one fdatasync per Ready, send, apply, advance) and ReadIndex requests.
 * Everything proposed during one event-loop turn lands in one Ready, so one fsync covers
 * the whole batch (group commit). Invariant: at most one Ready is being handled at a time.
 */
export class RaftNode {
  private readonly o: RaftNodeOptions;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private running = false;
  private stopped = false;
  private lead = 0n;
  private state: StateType = StateType.Follower;
  private readSeq = 0n;
  /** pendingRead collects the readers of this turn; they share one ReadIndex request. */
  private pendingRead: ReadRequest | undefined;
  private readonly inflightReads = new Map<string, ReadRequest>();
  /** readyToRead holds reads whose index is known, waiting for the apply to catch up. */
  private waitingReads: ReadRequest[] = [];
  private leaderWaiters: (() => void)[] = [];
  private readonly leaderListeners: ((lead: bigint) => void)[] = [];
  /** campaignPending: a single voter campaigns once its bootstrap entries are applied. */
  private campaignPending = false;
  private currentTerm: bigint;

  constructor(o: RaftNodeOptions) {
    this.o = o;
    this.currentTerm = o.node.status().hardState.term;
  }

  /** start begins ticking; a single voter campaigns at once (nothing to wait for). */
  start(singleVoter: boolean): void {
    this.timer = setInterval(() => {
      this.o.node.tick();
      this.schedule();
    }, this.o.heartbeatMs);
    // Raft refuses to campaign while committed conf changes are unapplied, so the campaign
    // waits for the first Ready to be applied (see loop).
    this.campaignPending = singleVoter;
    this.schedule();
  }

  /** leader is the current leader's member ID, 0n when none is known. */
  get leader(): bigint {
    return this.lead;
  }

  get isLeader(): boolean {
    return this.state === StateType.Leader;
  }

  /** term is the current raft term, kept from the hard state of each Ready (read per response header). */
  get term(): bigint {
    return this.currentTerm;
  }

  /** propose hands data to raft; it is persisted and committed by the Ready loop. */
  propose(data: Buffer): void {
    this.o.node.propose(data);
    this.schedule();
  }

  /** step hands a message from a peer to raft; messages raft refuses (unknown peer, stale) are dropped. */
  step(m: raftpb.Message): void {
    if (this.stopped) return;
    try {
      this.o.node.step(m);
    } catch {
      return;
    }
    this.schedule();
  }

  /** transferLeadership asks raft to hand leadership to `to`. */
  transferLeadership(to: bigint): void {
    this.o.node.transferLeader(to);
    this.schedule();
  }

  /** proposeConfChange hands a membership change to raft. */
  proposeConfChange(cc: raftpb.ConfChange): void {
    this.o.node.proposeConfChange(cc);
    this.schedule();
  }

  reportUnreachable(id: bigint): void {
    this.o.node.reportUnreachable(id);
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.o.node.reportSnapshot(id, ok);
    this.schedule();
  }

  /** waitLeader resolves once a leader is known. */
  waitLeader(): Promise<void> {
    if (this.lead !== 0n) return Promise.resolve();
    return new Promise((resolve) => this.leaderWaiters.push(resolve));
  }

  /** onLeaderChange registers a callback for every change of the known leader. */
  onLeaderChange(cb: (lead: bigint) => void): void {
    this.leaderListeners.push(cb);
  }

  /**
   * readIndex resolves when this member has applied everything committed at the time of the
   * call (linearizable read barrier). Readers of one event-loop turn share one request.
   */
  readIndex(): Promise<void> {
    if (this.stopped) return Promise.reject(new Error("raft: stopped"));
    let req = this.pendingRead;
    if (req === undefined) {
      this.readSeq += 1n;
      // The leader keys pending reads by context, so contexts must be unique across members.
      const ctx = Buffer.alloc(16);
      ctx.writeBigUInt64BE(this.o.memberId, 0);
      ctx.writeBigUInt64BE(this.readSeq, 8);
      req = { ctx, index: undefined, waiters: [] };
      this.pendingRead = req;
      this.schedule();
    }
    const r = req;
    return new Promise((resolve, reject) => r.waiters.push({ resolve, reject }));
  }

  /** stop ends ticking and fails pending reads; the WAL is closed by the owner. */
  stop(err: unknown): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const all = [...this.inflightReads.values(), ...this.waitingReads];
    if (this.pendingRead !== undefined) all.push(this.pendingRead);
    for (const r of all) for (const w of r.waiters) w.reject(err);
    this.inflightReads.clear();
    this.waitingReads = [];
    this.pendingRead = undefined;
  }

  /** idle resolves when no Ready is being handled (used on shutdown). */
  async idle(): Promise<void> {
    while (this.running) await new Promise((r) => setImmediate(r));
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.loop();
    });
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const pr = this.pendingRead;
      if (pr !== undefined) {
        this.pendingRead = undefined;
        this.inflightReads.set(pr.ctx.toString("hex"), pr);
        this.o.node.readIndex(pr.ctx);
      }
      for (;;) {
        while (!this.stopped && this.o.node.hasReady()) {
          const rd = this.o.node.ready();
          await this.handle(rd);
          this.o.node.advance(rd);
        }
        if (!this.campaignPending || this.stopped) break;
        this.campaignPending = false;
        if (this.lead === 0n) this.o.node.campaign();
      }
    } catch (err) {
      this.o.onFatal(err);
    } finally {
      this.running = false;
    }
    // Work that arrived while the loop awaited the disk gets its own turn.
    if (!this.stopped && (this.pendingRead !== undefined || this.o.node.hasReady())) this.schedule();
  }

  private async handle(rd: Ready): Promise<void> {
    if (rd.hardState !== undefined) this.currentTerm = rd.hardState.term;
    if (rd.softState !== undefined) this.onSoftState(rd.softState.lead, rd.softState.raftState);
    if (rd.snapshot !== undefined && rd.snapshot.metadata !== undefined && rd.snapshot.metadata.index > 0n) {
      await this.o.installSnapshot(rd.snapshot);
    }
    // Durability: entries and a changed term/vote are fsync'ed before anything depends on them.
    if (rd.entries.length > 0 || (rd.hardState !== undefined && rd.mustSync)) {
      await this.o.wal.save(rd.hardState, rd.entries);
    }
    if (rd.hardState !== undefined) this.o.storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) this.o.storage.append(rd.entries);
    if (rd.messages.length > 0) this.o.transport.send(rd.messages);
    if (rd.committedEntries.length > 0) {
      this.o.applier.applyEntries(rd.committedEntries);
      if (this.o.afterApply !== undefined) await this.o.afterApply(this.o.applier.appliedIndex);
    }
    for (const rs of rd.readStates) {
      const req = this.inflightReads.get(rs.requestCtx.toString("hex"));
      if (req === undefined) continue;
      this.inflightReads.delete(req.ctx.toString("hex"));
      req.index = rs.index;
      this.waitingReads.push(req);
    }
    this.releaseReads();
  }

  private releaseReads(): void {
    if (this.waitingReads.length === 0) return;
    const applied = this.o.applier.appliedIndex;
    const still: ReadRequest[] = [];
    for (const r of this.waitingReads) {
      if ((r.index ?? 0n) <= applied) for (const w of r.waiters) w.resolve();
      else still.push(r);
    }
    this.waitingReads = still;
  }

  private onSoftState(lead: bigint, state: StateType): void {
    if (lead !== this.lead) {
      const fields = { "local-member-id": hexId(this.o.memberId), "leader-id": hexId(lead), term: this.term };
      if (lead === 0n) this.o.logger.info("raft/node.ts", "raft.node: lost leader", fields);
      else this.o.logger.info("raft/node.ts", `raft.node: ${hexId(this.o.memberId)} elected leader ${hexId(lead)} at term ${this.term}`, fields);
    }
    const changed = lead !== this.lead;
    this.lead = lead;
    this.state = state;
    if (changed) for (const l of this.leaderListeners) l(lead);
    if (lead !== 0n) {
      const ws = this.leaderWaiters;
      this.leaderWaiters = [];
      for (const w of ws) w();
    }
  }
}
