import { etcdserverpb, serverpb, walpb, raftpb } from "@etcd-ts/proto";
import { MvccError, type KVStore, type RangeResult } from "@etcd-ts/mvcc";
import type { Backend } from "@etcd-ts/backend";
import type { MemoryStorage, RawNode } from "@etcd-ts/raft";
import type { WAL } from "@etcd-ts/wal";
import { Applier, type ApplyResult } from "./apply.js";
import { Errors, RpcError } from "./errors.js";
import type { Logger } from "./log.js";
import type { Membership, Member } from "./membership.js";
import { RaftNode } from "./raft_node.js";
import { IdGenerator, Wait } from "./wait.js";
import { checkDelete, checkPut, checkRange, checkTxn, isTxnReadOnly, isTxnSerializable, txnHasLease } from "./validate.js";
import { hexId } from "./ids.js";

/** SERVER_VERSION is the etcd API version etcd-ts implements and reports to clients. */
export const SERVER_VERSION = "3.4.23";
/** CLUSTER_VERSION is the cluster version reported by /version. */
export const CLUSTER_VERSION = "3.4.0";

/** EtcdServerParts are the opened pieces EtcdServer composes (see bootstrap.ts). */
export interface EtcdServerParts {
  memberId: bigint;
  membership: Membership;
  backend: Backend;
  kv: KVStore;
  storage: MemoryStorage;
  wal: WAL;
  makeNode: (applied: bigint) => RawNode;
  heartbeatMs: number;
  electionMs: number;
  snapshotCount: number;
  maxTxnOps: number;
  maxRequestBytes: number;
  logger: Logger;
  dbPath: string;
  onFatal: (err: unknown) => void;
}

/**
 * EtcdServer is one member: requests in, raft proposals out, applied results back. It owns
 * the request checks, the proposal/wait bookkeeping, linearizable reads and snapshots.
 */
export class EtcdServer {
  readonly memberId: bigint;
  readonly membership: Membership;
  readonly kv: KVStore;
  private readonly backend: Backend;
  private readonly wal: WAL;
  private readonly storage: MemoryStorage;
  private readonly node: RawNode;
  private readonly raft: RaftNode;
  private readonly applier: Applier;
  private readonly wait = new Wait<ApplyResult>();
  private readonly ids: IdGenerator;
  private readonly requestTimeoutMs: number;
  private readonly p: EtcdServerParts;
  private snapshotIndex: bigint;
  private snapshotting = false;
  private stopped = false;

  constructor(p: EtcdServerParts) {
    this.p = p;
    this.memberId = p.memberId;
    this.membership = p.membership;
    this.kv = p.kv;
    this.backend = p.backend;
    this.wal = p.wal;
    this.storage = p.storage;
    this.ids = new IdGenerator(p.memberId, Date.now());
    // etcd: 5s plus two election timeouts before a proposal is reported as timed out.
    this.requestTimeoutMs = 5000 + 2 * p.electionMs;
    this.applier = new Applier(p.kv, () => this.node, this.wait, p.onFatal);
    this.snapshotIndex = this.storage.firstIndex() - 1n;
    this.node = p.makeNode(this.snapshotIndex);
    this.raft = new RaftNode({
      node: this.node,
      storage: p.storage,
      wal: p.wal,
      memberId: p.memberId,
      heartbeatMs: p.heartbeatMs,
      transport: { send: () => undefined },
      applier: this.applier,
      logger: p.logger,
      onFatal: p.onFatal,
      afterApply: (applied) => this.maybeSnapshot(applied),
    });
  }

  /** start begins the raft loop. */
  start(): void {
    const voters = this.node.status().config?.voters ?? [];
    this.raft.start(this.membership.members.size === 1 && (voters.length === 0 || voters.length === 1));
  }

  /** ready resolves once a leader is known (the member can serve writes). */
  async waitReady(): Promise<void> {
    await this.raft.waitLeader();
    // Apply everything committed before serving: a linearizable barrier.
    await this.raft.readIndex();
  }

  header(revision: bigint): etcdserverpb.ResponseHeader {
    return {
      clusterId: this.membership.clusterId,
      memberId: this.memberId,
      revision,
      raftTerm: this.raft.term,
    };
  }

  async range(req: etcdserverpb.RangeRequest): Promise<etcdserverpb.RangeResponse> {
    checkRange(req);
    if (!req.serializable) await this.linearizableBarrier();
    let r: RangeResult;
    try {
      r = await this.kv.range(req);
    } catch (err) {
      throw mapError(err);
    }
    return { header: this.header(r.revision), kvs: r.kvs, more: r.more, count: r.count };
  }

  async put(req: etcdserverpb.PutRequest): Promise<etcdserverpb.PutResponse> {
    checkPut(req);
    if (req.lease !== 0n) throw Errors.leaseNotFound; // no lease exists until leases are built
    const r = await this.propose({ put: req });
    return { ...(r.response as etcdserverpb.PutResponse), header: this.header(r.revision) };
  }

  async deleteRange(req: etcdserverpb.DeleteRangeRequest): Promise<etcdserverpb.DeleteRangeResponse> {
    checkDelete(req);
    const r = await this.propose({ deleteRange: req });
    return { ...(r.response as etcdserverpb.DeleteRangeResponse), header: this.header(r.revision) };
  }

  async txn(req: etcdserverpb.TxnRequest, maxTxnOps: number): Promise<etcdserverpb.TxnResponse> {
    checkTxn(req, maxTxnOps);
    if (isTxnReadOnly(req)) {
      // etcd serves a read-only txn like a range: no log entry, a read barrier unless serializable.
      if (!isTxnSerializable(req)) await this.linearizableBarrier();
      try {
        const r = this.kv.txn(req);
        if (r.ready !== undefined) await r.ready;
        return fillTxnHeaders(r.response, this.header(r.revision));
      } catch (err) {
        throw mapError(err);
      }
    }
    if (txnHasLease(req)) throw Errors.leaseNotFound;
    const r = await this.propose({ txn: req });
    return fillTxnHeaders(r.response as etcdserverpb.TxnResponse, this.header(r.revision));
  }

  async compact(req: etcdserverpb.CompactionRequest): Promise<etcdserverpb.CompactionResponse> {
    const r = await this.propose({ compaction: req });
    return { header: this.header(r.revision) };
  }

  async status(): Promise<etcdserverpb.StatusResponse> {
    const st = this.node.status();
    const size = await this.backend.sizeBytes();
    return {
      header: this.header(this.kv.currentRevision),
      version: SERVER_VERSION,
      dbSize: BigInt(size),
      leader: this.raft.leader,
      raftIndex: this.storage.lastIndex(),
      raftTerm: st.hardState.term,
      raftAppliedIndex: this.applier.appliedIndex,
      errors: [],
      dbSizeInUse: BigInt(size),
      isLearner: this.membership.members.get(this.memberId)?.isLearner ?? false,
    };
  }

  async hash(): Promise<etcdserverpb.HashResponse> {
    const h = await this.kv.hash();
    return { header: this.header(this.kv.currentRevision), hash: h };
  }

  async hashKV(req: etcdserverpb.HashKVRequest): Promise<etcdserverpb.HashKVResponse> {
    try {
      const rev = this.kv.currentRevision;
      const h = await this.kv.hashKV(req.revision);
      return { header: this.header(rev), hash: h.hash, compactRevision: h.compactRevision, hashRevision: h.hashRevision };
    } catch (err) {
      throw mapError(err);
    }
  }

  /** defragment compacts the backend's files (RocksDB's equivalent of bbolt defrag). */
  async defragment(): Promise<void> {
    await this.backend.compactRange();
  }

  members(): Member[] {
    return [...this.membership.members.values()];
  }

  get leader(): bigint {
    return this.raft.leader;
  }

  get appliedIndex(): bigint {
    return this.applier.appliedIndex;
  }

  /** stop halts raft, fails waiters, and closes the WAL and the backend (after the last write). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.raft.stop(Errors.stopped);
    await this.raft.idle();
    this.wait.failAll(Errors.stopped);
    await this.kv.close();
    await this.wal.close();
    await this.backend.close();
  }

  private async linearizableBarrier(): Promise<void> {
    await withTimeout(this.raft.readIndex(), this.requestTimeoutMs);
  }

  private async propose(fields: Partial<serverpb.InternalRaftRequest>): Promise<ApplyResult> {
    if (this.stopped) throw Errors.stopped;
    const id = this.ids.id();
    const req: serverpb.InternalRaftRequest = {
      header: { id, username: "", authRevision: 0n },
      range: undefined,
      put: undefined,
      deleteRange: undefined,
      txn: undefined,
      compaction: undefined,
      ...fields,
    };
    const data = Buffer.from(serverpb.InternalRaftRequest.encode(req).finish());
    if (data.length > this.p.maxRequestBytes) throw Errors.requestTooLarge;
    this.applier.proposed.set(data, req);
    const result = this.wait.register(id);
    try {
      this.raft.propose(data);
    } catch {
      this.wait.fail(id, Errors.noLeader);
    }
    const r = await withTimeout(result, this.requestTimeoutMs, () => this.wait.fail(id, Errors.timeout));
    if (r.err !== undefined) throw mapError(r.err);
    if (r.done !== undefined) await r.done;
    return r;
  }

  /** maybeSnapshot takes a raft snapshot every --snapshot-count applied entries. */
  private async maybeSnapshot(applied: bigint): Promise<void> {
    if (this.snapshotting || applied - this.snapshotIndex <= BigInt(this.p.snapshotCount)) return;
    this.snapshotting = true;
    try {
      // The backend must hold everything up to `applied` durably before the WAL lets go of it.
      await this.kv.sync();
      // Raft's configuration is the membership as of the last applied entry.
      const snap = this.storage.createSnapshot(applied, this.node.status().config, Buffer.alloc(0));
      const md = snap.metadata as raftpb.SnapshotMetadata;
      await this.wal.saveSnapshot(walpb.SnapshotMarker.fromPartial({ index: md.index, term: md.term, confState: md.confState }));
      this.storage.compact(applied);
      await this.wal.releaseTo(applied);
      this.snapshotIndex = applied;
      this.p.logger.info("etcdserver/server.ts", "saved snapshot", {
        "local-member-id": hexId(this.memberId),
        "snapshot-index": applied,
      });
    } finally {
      this.snapshotting = false;
    }
  }
}

/** fillTxnHeaders sets the txn's header; mvcc already gave nested responses etcd's partial headers. */
function fillTxnHeaders(resp: etcdserverpb.TxnResponse, header: etcdserverpb.ResponseHeader): etcdserverpb.TxnResponse {
  resp.header = header;
  return resp;
}

/** mapError turns store errors into etcd's gRPC errors; anything else passes through. */
export function mapError(err: unknown): unknown {
  if (err instanceof RpcError) return err;
  if (err instanceof MvccError) {
    switch (err.code) {
      case "compacted":
        return Errors.compacted;
      case "future_rev":
        return Errors.futureRev;
      case "key_not_found":
        return Errors.keyNotFound;
    }
  }
  return err;
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      if (onTimeout !== undefined) onTimeout();
      reject(Errors.timeout);
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
