/**
 * In-memory test harness: RawNodes on MemoryStorage, a message pool between them with
 * drop/partition control, and a tiny replicated state machine (the applied entry keys).
 * Used by the scripted scenario tests and the randomized simulation. Not part of the build.
 */
import { raftpb } from "@etcd-ts/proto";
import { ErrProposalDropped, ErrStepPeerNotFound } from "../errors.js";
import { StateType, type Config } from "../raft.js";
import { RawNode, type Ready } from "../rawnode.js";
import type { ReadState } from "../read_only.js";
import { MemoryStorage } from "../storage.js";
import { emptyConfState } from "../util.js";

/** NodeOptions are the raft Config fields a test may set (id and storage come from the harness). */
export type NodeOptions = Partial<Omit<Config, "id" | "storage">>;

/** entryKey identifies an entry by type, term and payload: equal keys mean the same entry. */
export function entryKey(e: raftpb.Entry): string {
  return `${e.type}|${e.term}|${e.data.toString("latin1")}`;
}

/** payloadOfKey returns the payload of a normal entry key (undefined for conf changes). */
export function payloadOfKey(key: string): string | undefined {
  const a = key.indexOf("|");
  if (key.slice(0, a) !== String(raftpb.EntryType.ENTRY_NORMAL)) return undefined;
  const b = key.indexOf("|", a + 1);
  return key.slice(b + 1);
}

/** Hooks let a test observe every handled Ready (for invariant checks). */
export interface Hooks {
  /** onReady runs after rd was persisted and its messages queued (before it is applied). */
  onReady?: ((node: SimNode, rd: Ready) => void) | undefined;
  /** onApply runs for each applied entry. */
  onApply?: ((node: SimNode, e: raftpb.Entry) => void) | undefined;
}

/**
 * SimNode is one member: its durable storage, its RawNode (rebuilt on restart), and its
 * state machine: the keys of the applied entries, index i at position i-1.
 */
export class SimNode {
  readonly id: bigint;
  readonly storage = new MemoryStorage();
  rawNode: RawNode;
  readonly options: NodeOptions;
  /** applied[i-1] is the key of the applied entry at index i. */
  applied: string[] = [];
  /** confState is the membership after the last applied entry or snapshot. */
  confState: raftpb.ConfState = emptyConfState();
  readStates: ReadState[] = [];
  snapshotsInstalled = 0;

  constructor(id: bigint, options: NodeOptions) {
    this.id = id;
    this.options = options;
    this.rawNode = this.makeRawNode();
  }

  private makeRawNode(applied?: bigint): RawNode {
    const cfg: Config = { electionTick: 10, heartbeatTick: 1, ...this.options, id: this.id, storage: this.storage };
    if (applied !== undefined) cfg.applied = applied;
    return new RawNode(cfg);
  }

  get appliedIndex(): bigint {
    return BigInt(this.applied.length);
  }

  /** payloads are the data of the applied normal, non-empty entries, as strings. */
  payloads(): string[] {
    const out: string[] = [];
    for (const k of this.applied) {
      const p = payloadOfKey(k);
      if (p !== undefined && p !== "") out.push(p);
    }
    return out;
  }

  /**
   * restart simulates a crash and restart: in-memory raft state is lost; the state machine
   * is restored from the storage's snapshot and the rest is replayed from the log.
   */
  restart(): void {
    const snap = this.storage.snapshot();
    const idx = snap.metadata?.index ?? 0n;
    this.applied = idx > 0n ? (JSON.parse(snap.data.toString("utf8")) as string[]) : [];
    this.confState = snap.metadata?.confState ?? emptyConfState();
    this.readStates = [];
    this.rawNode = this.makeRawNode(idx);
  }

  /**
   * compact snapshots the state machine at appliedIndex - keep and discards the log up to
   * there. Returns false (doing nothing) if that point is not past the current snapshot, or
   * if a conf change was applied after it (the harness only knows the latest membership).
   */
  compact(keep = 0n): boolean {
    const idx = this.appliedIndex - keep;
    if (idx <= (this.storage.snapshot().metadata?.index ?? 0n)) return false;
    for (let i = Number(idx); i < this.applied.length; i++) {
      if (payloadOfKey(this.applied[i]!) === undefined) return false;
    }
    const data = Buffer.from(JSON.stringify(this.applied.slice(0, Number(idx))), "utf8");
    this.storage.createSnapshot(idx, this.confState, data);
    this.storage.compact(idx);
    return true;
  }
}

/** Envelope is a message in flight. */
export interface Envelope {
  msg: raftpb.Message;
  /** bytes is the encoded message (delivered decoded, so nodes never share objects). */
  bytes: Uint8Array;
}

/**
 * Network connects SimNodes. Messages produced by a Ready go into `inflight`; deliver()
 * hands them to their recipients unless the link is cut.
 */
export class Network {
  readonly nodes = new Map<bigint, SimNode>();
  inflight: Envelope[] = [];
  private cut = new Set<string>();
  private down = new Set<bigint>();
  hooks: Hooks = {};
  /** asyncApply: processReady leaves apply + advance to finishReady. */
  asyncApply = false;
  /** hold: nodes whose Readies are persisted but not applied until released (stabilize skips them). */
  readonly hold = new Set<bigint>();
  private pending = new Map<bigint, Ready>();
  /** dropIf, when set, drops every message it returns true for. */
  dropIf: ((m: raftpb.Message) => boolean) | undefined = undefined;

  /** create builds a network of ids, bootstrapped as one cluster of those voters. */
  static create(ids: bigint[], options: NodeOptions | ((id: bigint) => NodeOptions) = {}, hooks: Hooks = {}): Network {
    const net = new Network();
    net.hooks = hooks;
    for (const id of ids) {
      const n = net.addNode(id, typeof options === "function" ? options(id) : options);
      n.rawNode.bootstrap(ids.map((p) => ({ id: p })));
    }
    net.processAll();
    return net;
  }

  /** addNode adds a member with empty storage (not bootstrapped). */
  addNode(id: bigint, options: NodeOptions = {}): SimNode {
    const n = new SimNode(id, options);
    this.nodes.set(id, n);
    return n;
  }

  node(id: bigint): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`testing: no node ${id}`);
    return n;
  }

  /** cutLink drops messages between a and b in both directions. */
  cutLink(a: bigint, b: bigint): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  /** cutOneWay drops messages from `from` to `to` only. */
  cutOneWay(from: bigint, to: bigint): void {
    this.cut.add(`${from}-${to}`);
  }

  /** deafen drops every message sent to id; id's own messages still arrive (a one-way cut). */
  deafen(id: bigint): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutOneWay(other, id);
  }

  /** isolate cuts every link of id. */
  isolate(id: bigint): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  /** partition cuts every link between different groups. */
  partition(...groups: bigint[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        for (const a of groups[i]!) for (const b of groups[j]!) this.cutLink(a, b);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** connected reports whether a message from `from` to `to` would be delivered. */
  connected(from: bigint, to: bigint): boolean {
    return !this.cut.has(`${from}-${to}`) && this.nodes.has(to) && !this.down.has(to);
  }

  /**
   * processReady takes one Ready of node id: persist, queue its messages, then apply and
   * advance — at once, or, with asyncApply, later through finishReady (ticks and messages
   * may be handled in between, as in a server that applies in the background). Returns
   * whether there was anything to do.
   */
  processReady(id: bigint): boolean {
    const n = this.node(id);
    const rn = n.rawNode;
    if (this.pending.has(id) || !rn.hasReady()) return false;
    const rd = rn.ready();
    // 1. persist
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    // 2. send
    for (const m of rd.messages) {
      this.inflight.push({ msg: m, bytes: raftpb.Message.encode(m).finish() });
    }
    for (const rs of rd.readStates) n.readStates.push(rs);
    this.hooks.onReady?.(n, rd);
    if (this.asyncApply || this.hold.has(id)) this.pending.set(id, rd);
    else this.applyAndAdvance(n, rd);
    return true;
  }

  /** finishReady applies and advances the Ready node id took earlier (asyncApply only). */
  finishReady(id: bigint): boolean {
    const rd = this.pending.get(id);
    if (rd === undefined) return false;
    this.pending.delete(id);
    this.applyAndAdvance(this.node(id), rd);
    return true;
  }

  /** pendingIds are the nodes holding a Ready that is persisted but not yet applied. */
  pendingIds(): bigint[] {
    return [...this.pending.keys()];
  }

  private applyAndAdvance(n: SimNode, rd: Ready): void {
    const rn = n.rawNode;
    // 3. apply
    if (rd.snapshot !== undefined) {
      n.applied = JSON.parse(rd.snapshot.data.toString("utf8")) as string[];
      n.confState = rd.snapshot.metadata?.confState ?? emptyConfState();
      n.snapshotsInstalled++;
    }
    for (const e of rd.committedEntries) {
      if (e.index !== n.appliedIndex + 1n) {
        throw new Error(`testing: node ${n.id} applies index ${e.index} after ${n.appliedIndex}`);
      }
      n.applied.push(entryKey(e));
      if (e.type === raftpb.EntryType.ENTRY_CONF_CHANGE || e.type === raftpb.EntryType.ENTRY_CONF_CHANGE_V2) {
        n.confState = rn.applyConfChange(raftpb.ConfChange.decode(e.data));
      }
      this.hooks.onApply?.(n, e);
    }
    // 4. advance
    rn.advance(rd);
  }

  /** processAll handles the Ready of every node until none has one. */
  processAll(): boolean {
    let any = false;
    for (;;) {
      let round = false;
      for (const id of this.nodes.keys()) {
        if (this.down.has(id)) continue;
        if (this.processReady(id)) round = true;
      }
      if (!round) return any;
      any = true;
    }
  }

  /**
   * deliverEnvelope hands one in-flight message to its recipient (or drops it on a cut
   * link; a dropped MsgSnap is reported as failed to the sender).
   */
  deliverEnvelope(env: Envelope): void {
    const m = env.msg;
    const sender = this.nodes.get(m.from);
    if (!this.connected(m.from, m.to) || (this.dropIf !== undefined && this.dropIf(m))) {
      this.drop(env);
      return;
    }
    const to = this.node(m.to);
    try {
      to.rawNode.step(raftpb.Message.decode(env.bytes));
    } catch (err) {
      if (!(err instanceof ErrProposalDropped) && !(err instanceof ErrStepPeerNotFound)) throw err;
    }
    if (m.type === raftpb.MessageType.MSG_SNAP && sender !== undefined && !this.down.has(m.from)) {
      sender.rawNode.reportSnapshot(m.to, true);
    }
  }

  /**
   * drop loses an in-flight message. Like a real transport, a lost MsgSnap is reported to
   * its (running) sender as unreachable and failed.
   */
  drop(env: Envelope): void {
    const m = env.msg;
    const sender = this.nodes.get(m.from);
    if (m.type === raftpb.MessageType.MSG_SNAP && sender !== undefined && !this.down.has(m.from)) {
      sender.rawNode.reportUnreachable(m.to);
      sender.rawNode.reportSnapshot(m.to, false);
    }
  }

  /** deliverAll delivers every message currently in flight (FIFO), once. */
  deliverAll(): boolean {
    const batch = this.inflight;
    this.inflight = [];
    for (const env of batch) this.deliverEnvelope(env);
    return batch.length > 0;
  }

  /** stabilize alternates Ready handling and delivery until the network is quiet. */
  stabilize(maxRounds = 10_000): void {
    for (let i = 0; i < maxRounds; i++) {
      const a = this.processAll();
      const b = this.deliverAll();
      let c = false;
      for (const id of this.pendingIds()) if (!this.hold.has(id)) c = this.finishReady(id) || c;
      if (!a && !b && !c) return;
    }
    throw new Error("testing: network did not stabilize");
  }

  /** tick ticks the given nodes (default all) once each, then stabilizes. */
  tick(ids: bigint[] = [...this.nodes.keys()], times = 1): void {
    for (let t = 0; t < times; t++) {
      for (const id of ids) if (!this.down.has(id)) this.node(id).rawNode.tick();
      this.stabilize();
    }
  }

  /** crash stops a node: it processes nothing and messages to it are dropped. */
  crash(id: bigint): void {
    this.down.add(id);
    this.pending.delete(id);
  }

  /** restart brings a crashed (or running) node back from its storage. */
  restart(id: bigint): void {
    this.down.delete(id);
    this.pending.delete(id);
    this.node(id).restart();
  }

  isDown(id: bigint): boolean {
    return this.down.has(id);
  }

  /** leaders are the nodes that currently consider themselves leader. */
  leaders(): bigint[] {
    const out: bigint[] = [];
    for (const [id, n] of this.nodes) {
      if (!this.down.has(id) && n.rawNode.raft.state === StateType.Leader) out.push(id);
    }
    return out;
  }

  /** leader returns the single leader (throws if there is none or several). */
  leader(): bigint {
    const ls = this.leaders();
    if (ls.length !== 1) throw new Error(`testing: expected one leader, have [${ls.join(",")}]`);
    return ls[0]!;
  }

  /** propose proposes data (utf8) on node id and stabilizes. */
  propose(id: bigint, data: string): void {
    this.node(id).rawNode.propose(Buffer.from(data, "latin1"));
    this.stabilize();
  }

  /** proposeConfChange proposes a single change on node id and stabilizes. */
  proposeConfChange(id: bigint, type: raftpb.ConfChangeType, nodeId: bigint): void {
    this.node(id).rawNode.proposeConfChange(
      raftpb.ConfChange.fromPartial({ changes: [{ type, nodeId }] }),
    );
    this.stabilize();
  }
}
