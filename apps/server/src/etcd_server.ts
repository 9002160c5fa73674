import type { PassThrough } from "node:stream";
import { etcdserverpb, serverpb, walpb, raftpb } from "@etcd-ts/proto";
import { KVStore, MvccError, WatchableStore, type WatchStream } from "@etcd-ts/mvcc";
import { LeaseError, type Lessor } from "@etcd-ts/lease";
import { consistentIndexKey, type Backend, type BackendScan, type BatchTx } from "@etcd-ts/backend";
import { ErrProposalDropped, type MemoryStorage, type RawNode } from "@etcd-ts/raft";
import type { WAL } from "@etcd-ts/wal";
import { AuthError, PasswordBusy, ROOT, type AuthInfo, type AuthStore } from "@etcd-ts/auth";
import { encodeShared } from "./shared_writer.js";
import type { ServerTokens } from "./auth/tokens.js";
import { readContext, type Applied, type Applier, type AuthRequestKind } from "./apply/applier.js";
import { AuthApplier, checkTxn as checkTxnPermission } from "./apply/auth_applier.js";
import { authError } from "./auth/auth_errors.js";
import { authBackend } from "./auth/auth_backend.js";
import { ApplyLoop, type ApplyResult } from "./apply/apply_loop.js";
import { BaseApplier } from "./apply/base_applier.js";
import { applierFor } from "./apply/alarm_appliers.js";
import { QuotaApplier } from "./apply/quota_applier.js";
import { BackendSize } from "./backend_size.js";
import { BackendQuota, MAX_QUOTA_BYTES, QuotaAlarmer, costLeaseGrant, costPut, costTxn, humanizeBytes, quotaBytes } from "./quota.js";
import { AlarmStore, alarmString } from "./alarm_store.js";
import { Errors, RpcError } from "./errors.js";
import { FP } from "./failpoint.js";
import { refuseInProduction, UNSAFE_STALE_READS_MESSAGE, UNSAFE_WARNING_INTERVAL_MS } from "./debug_switches.js";
import type { Logger } from "./log.js";
import { makeClientSnapshot, openClientSnapshotScan, type ClientSnapshot } from "./etcd_format/client_snapshot.js";
import { Membership, type Member } from "./membership.js";
import { MEMBERSHIP_KEY, MembershipStore } from "./membership_store.js";
import { RaftNode, type Transport } from "./raft_node.js";
import { SnapshotWriter } from "./peer/snapshot_stream.js";
import { confStateOf, discardReceivedSnapshot, installSnapshotBackend, persistPendingSnapshot, removePendingSnapshots } from "./snapshot_install.js";
import { decodeConsistentIndex } from "./apply/apply_loop.js";
import { IdGenerator, Wait } from "./wait.js";
import { checkDelete, checkPut, checkRange, checkTxn, isTxnReadOnly, isTxnSerializable } from "./validate.js";
import { LeaderStats, ServerStats } from "./v2/stats.js";
import type { PeerObserver } from "./peer/observer.js";
import { hexId, memberId as deriveMemberId } from "./ids.js";
import { startAutoCompactor, type AutoCompaction, type Compactor, type CompactorOptions } from "./compactor/auto_compactor.js";

/** SERVER_VERSION is the etcd API version etcd-ts implements and reports to clients. */
export const SERVER_VERSION = "3.4.23";

/** EtcdServerParts are the opened pieces EtcdServer composes (see bootstrap.ts). */
export interface EtcdServerParts {
  memberId: bigint;
  membership: Membership;
  backend: Backend;
  /** tx is the batch transaction every store writes into; the apply loop commits it. */
  tx: BatchTx;
  kv: KVStore;
  /** lessor holds the leases (opened on the same backend and batch transaction, keys attached). */
  lessor: Lessor;
  /** consistentIndex is the raft index of the last entry the backend holds. */
  consistentIndex: bigint;
  /** restarted: the member started from a data directory it had written before (a WAL existed). */
  restarted: boolean;
  alarms: AlarmStore;
  storage: MemoryStorage;
  wal: WAL;
  makeNode: (applied: bigint) => RawNode;
  heartbeatMs: number;
  electionMs: number;
  snapshotCount: number;
  maxTxnOps: number;
  maxRequestBytes: number;
  /** quotaBackendBytes is --quota-backend-bytes: 0 for etcd's default quota (2 GiB), negative for none. */
  quotaBackendBytes?: number;
  logger: Logger;
  /** snapDir holds incoming snapshot streams. */
  snapDir: string;
  clusterToken: string;
  name: string;
  clientUrls: string[];
  strictReconfigCheck: boolean;
  onFatal: (err: unknown) => void;
  /**
   * onRemoved is called after this member, removed from the cluster, has stopped itself
   * (the process should then exit, as etcd does; see stopNotify).
   */
  onRemoved?: () => void;
  /**
   * unsafeStaleReads (debug only, ETCD_TS_UNSAFE_STALE_READS): linearizable KV reads skip the
   * ReadIndex barrier and read local state like serializable ones, so they may be stale. It
   * exists so the robustness checkers can show they catch stale reads. Refused with
   * NODE_ENV=production.
   */
  unsafeStaleReads?: boolean;
  /** autoCompaction is --auto-compaction-mode and --auto-compaction-retention (absent: off). */
  autoCompaction?: AutoCompaction;
  /** auth is the auth store (opened on the same backend and batch transaction). */
  auth: AuthStore;
  /** tokens are the tokens Authenticate gives out, as --auth-token chose (listening to the auth store). */
  tokens: ServerTokens;
  /** bcryptCost is --bcrypt-cost, the cost of the password hashes UserAdd and UserChangePassword make. */
  bcryptCost: number;
}

/** NO_AUTH is who a request runs as when it carries no credentials: no user, auth revision 0. */
export const NO_AUTH: AuthInfo = { user: "", revision: 0n };

/** PeerLink is the peer transport as the server drives it. */
export interface PeerLink extends Transport {
  setPeers(members: Iterable<{ id: bigint; peerUrls: string[] }>): void;
  /** activeSince is when the link to peer `id` came up (ms since the epoch), 0 while it is down (etcd's ActiveSince). */
  activeSince(id: bigint): number;
  stop(): void;
}

/** HEALTH_INTERVAL_MS is how long a peer link must have been up to count as connected for strict reconfig checks (etcd's HealthInterval). */
const HEALTH_INTERVAL_MS = 5000;

/** SNAPSHOT_CATCHUP_ENTRIES is how many entries before a snapshot stay in the log for slow followers (etcd keeps 5000). */
const SNAPSHOT_CATCHUP_ENTRIES = 5000n;

/** MAX_GAP_BETWEEN_APPLY_AND_COMMIT is how far the applied index may trail the committed one before proposals are refused (etcd: 5000). */
const MAX_GAP_BETWEEN_APPLY_AND_COMMIT = 5000n;

/** WATCH_SYNC_INTERVAL_MS is how often unsynced watchers catch up from the store (etcd: 100ms). */
const WATCH_SYNC_INTERVAL_MS = 100;

/** WATCH_RESYNC_MS is the pause before the next catch-up round while watchers are still behind (etcd: 10ms). */
const WATCH_RESYNC_MS = 10;

/** LEASE_EXPIRE_INTERVAL_MS is how often the leader looks for expired leases (etcd: 500ms). */
const LEASE_EXPIRE_INTERVAL_MS = 500;

/** LEASE_REVOKE_PER_PASS bounds the revokes one expiry pass proposes (etcd revokes at most 1000 leases a second). */
const LEASE_REVOKE_PER_PASS = 500;

/** LEASE_CHECKPOINT_BATCH is how many checkpoints one proposal holds at most (etcd's maxLeaseCheckpointBatchSize). */
const LEASE_CHECKPOINT_BATCH = 1000;

/** MAX_LEASE_PROPOSALS_IN_FLIGHT bounds the lease pass's proposals waiting to be applied. */
const MAX_LEASE_PROPOSALS_IN_FLIGHT = 1000;

/** abortable waits for p, or rejects with signal's reason as soon as it aborts. */
function abortable(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return p;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/**
 * MAX_CLIENT_SNAPSHOTS bounds the Maintenance.Snapshot calls served at once: each keeps an
 * image of the whole backend in member/snap until its client has read it.
 */
export const MAX_CLIENT_SNAPSHOTS = 4;

/** LEASE_CHECKPOINT_BATCHES_PER_PASS bounds the checkpoint proposals of one pass (20,000 leases a second at most). */
const LEASE_CHECKPOINT_BATCHES_PER_PASS = 10;

/** LEASE_FORWARD_RETRY_MS is the pause between attempts to reach the leader for a keep-alive or TimeToLive. */
const LEASE_FORWARD_RETRY_MS = 50;

/** REMOVED_STOP_DELAY_MS is how long a removed member keeps running after applying its removal (etcd: 1s). */
const REMOVED_STOP_DELAY_MS = 1000;

/** ERR_REMOVED is etcd's reason for stopping a removed member. */
const ERR_REMOVED = "the member has been permanently removed from the cluster";

/**
 * rpcSupportedForLearner is etcd 3.4's rule (v3rpc's unary interceptor) for what a learner
 * serves: Maintenance.Status and serializable KV.Range; every other unary call, and every
 * stream, is refused with `etcdserver: rpc not supported for learner`. `method` is the gRPC
 * method name ("Range", "Status", ...), `req` the decoded request.
 */
export function rpcSupportedForLearner(method: string, req: unknown): boolean {
  if (method === "Status") return true;
  if (method === "Range") return (req as { serializable?: boolean } | undefined)?.serializable === true;
  return false;
}

/**
 * EtcdServer is one member: requests in, raft proposals out, applied results back. It owns
 * the request checks, the proposal/wait bookkeeping, linearizable reads and snapshots.
 */
export class EtcdServer {
  readonly memberId: bigint;
  kv: KVStore;
  /** lessor holds the leases; only the leader's lessor expires them (see leasePass). */
  readonly lessor: Lessor;
  /** serverStats are etcd's v2 server stats (/v2/stats/self): append requests received and sent. */
  readonly serverStats: ServerStats;
  /** leaderStats are etcd's v2 leader stats (/v2/stats/leader): append requests sent per follower, and the drops (peerStatsObserver). */
  readonly leaderStats: LeaderStats;
  /** watchable fans each applied revision out to the watchers of every watch stream. */
  readonly watchable: WatchableStore;
  /** transport is set by the embedder before start (a single member never sends). */
  transport: PeerLink | undefined;
  private readonly backend: Backend;
  private readonly wal: WAL;
  private readonly storage: MemoryStorage;
  private readonly node: RawNode;
  private readonly raft: RaftNode;
  private readonly memberStore: MembershipStore;
  private readonly base: BaseApplier;
  /** chain is what applies while no alarm is raised: the auth checks, then the quota check, then the base applier. */
  private readonly chain: Applier;
  /** auth is the auth store: users, roles, permissions, whether auth is on. */
  readonly auth: AuthStore;
  /** tokens are the member's token provider (every member records every simple token Authenticate gives out). */
  readonly tokens: ServerTokens;
  /** bcryptCost is --bcrypt-cost, for the password hashes UserAdd and UserChangePassword make. */
  readonly bcryptCost: number;
  /** backendSize is the backend's size on disk, measured in the background for the quota. */
  readonly backendSize: BackendSize;
  private readonly quota: QuotaAlarmer;
  private readonly applyLoop: ApplyLoop;
  private readonly wait: Wait<ApplyResult>;
  private readonly ids: IdGenerator;
  /** requestTimeoutMs is etcd's request timeout: 5s plus two election timeouts. */
  readonly requestTimeoutMs: number;
  /**
   * proposalStats count client and lease proposals as etcd's metrics do: pending are those
   * raft took that wait for their outcome now; failed (since start) are those raft refused
   * or that timed out. The metrics read them (metrics/server_metrics.ts).
   */
  readonly proposalStats = { pending: 0, failed: 0 };
  private readonly p: EtcdServerParts;
  private snapshotIndex: bigint;
  private snapshotting = false;
  /** inflightSnapshots counts the snapshot streams being written to followers (raft log compaction waits for them). */
  private inflightSnapshots = 0;
  /** installingSnapshot is the received stream file installSnapshot is installing (see stepSnapshot). */
  private installingSnapshot: string | undefined;
  /** installDone settles when the snapshot being installed is (client snapshots wait for it). */
  private installDone: Promise<void> | undefined;
  /** installFailed: an install failed midway, the backend may be half rewritten (the member stops). */
  private installFailed = false;
  /** removing: this member knows it was removed and is stopping. */
  private removing = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  /** learner caches whether this member is a learner (checked on every client request). */
  private learner: boolean;
  private readonly stopWaiters: (() => void)[] = [];
  private watchSyncTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  /** leaseProposals counts the revokes and checkpoints the lease pass proposed that are not yet applied. */
  private leaseProposals = 0;
  /** unsafeStaleReads: see EtcdServerParts.unsafeStaleReads (debug only). */
  private readonly unsafeStaleReads: boolean;
  private unsafeTimer: NodeJS.Timeout | undefined;
  /** compactor is the auto-compactor (undefined when off); it compacts only while this member leads. */
  private compactor: Compactor | undefined;

  constructor(p: EtcdServerParts) {
    this.p = p;
    this.unsafeStaleReads = p.unsafeStaleReads === true;
    if (this.unsafeStaleReads) refuseInProduction(process.env);
    this.memberId = p.memberId;
    this.serverStats = new ServerStats(p.name, p.memberId, Date.now());
    this.leaderStats = new LeaderStats(p.memberId);
    this.memberStore = new MembershipStore(p.membership, p.tx, p.memberId, p.logger);
    this.memberStore.setListener({
      changed: (m) => {
        this.transport?.setPeers(m.members.values());
        this.learner = m.members.get(this.memberId)?.isLearner ?? false;
      },
      removedSelf: () => this.stopRemoved(),
    });
    this.kv = p.kv;
    this.lessor = p.lessor;
    this.watchable = new WatchableStore(p.kv);
    this.backend = p.backend;
    this.wal = p.wal;
    this.storage = p.storage;
    this.ids = new IdGenerator(p.memberId, Date.now());
    // etcd: 5s plus two election timeouts before a proposal is reported as timed out.
    this.requestTimeoutMs = 5000 + 2 * p.electionMs;
    this.wait = new Wait<ApplyResult>(this.requestTimeoutMs, (id: bigint, start: number) => this.proposalTimeoutError(id, start));
    this.learner = this.membership.members.get(this.memberId)?.isLearner ?? false;
    this.auth = p.auth;
    this.tokens = p.tokens;
    this.bcryptCost = p.bcryptCost;
    this.base = new BaseApplier(p.kv, p.alarms, p.lessor, (m, raised) => this.alarmsChanged(m, raised), p.onFatal, p.auth, p.tokens);
    this.backendSize = new BackendSize(
      () => this.backend.sizeBytes(),
      1000,
      (err) => p.logger.warn("failed to measure the backend size", { error: String(err) }),
      () => this.backend.bytesWritten,
    );
    this.quota = new QuotaAlarmer(
      new BackendQuota(quotaBytes(p.quotaBackendBytes ?? 0), () => this.backendSize.get()),
      () => this.raiseNoSpaceAlarm(),
      () => this.base.alarms.has(etcdserverpb.AlarmType.NOSPACE),
      (msg, fields) => p.logger.warn(msg, fields),
    );
    logQuota(p.logger, p.quotaBackendBytes ?? 0);
    const quotaChecked = this.quota.quota.maxBytes === undefined ? this.base : new QuotaApplier(this.base, this.quota.quota, () => this.quota.exceeded());
    this.chain = new AuthApplier(quotaChecked, () => this.auth, p.lessor);
    this.applyLoop = new ApplyLoop(applierFor(this.chain, p.alarms), p.consistentIndex, p.tx, this.memberStore, () => this.node, this.wait, p.onFatal);
    // etcd promotes its lessor whenever the leader applies its term's first (empty) entry:
    // every revoke and checkpoint of earlier terms is applied by then.
    this.applyLoop.onEmptyEntry = () => {
      if (this.raft.isLeader) this.lessor.promote(this.p.electionMs);
    };
    this.snapshotIndex = this.storage.firstIndex() - 1n;
    this.node = p.makeNode(this.snapshotIndex);
    this.raft = new RaftNode({
      node: this.node,
      storage: p.storage,
      wal: p.wal,
      memberId: p.memberId,
      heartbeatMs: p.heartbeatMs,
      transport: {
        send: (msgs) => {
          // The v2 stats: each append request sent, and (as etcd times its stream writes) how
          // long handing it to the transport took, per follower.
          const start = performance.now();
          this.transport?.send(msgs);
          const ms = performance.now() - start;
          for (const m of msgs) {
            if (m.type !== raftpb.MessageType.MSG_APP) continue;
            this.serverStats.sendAppend(appendSize(m));
            this.leaderStats.succ(m.to, ms);
          }
        },
      },
      applier: this.applyLoop,
      pendingProposals: () => this.proposalStats.pending,
      logger: p.logger,
      onFatal: p.onFatal,
      afterApply: (applied) => this.maybeSnapshot(applied),
      installSnapshot: (snap) => this.installSnapshot(snap),
      requestTimeoutMs: this.requestTimeoutMs,
    });
  }

  /** alarmsChanged logs a raised or cleared alarm and puts the applier chain it calls for in place. */
  private alarmsChanged(m: etcdserverpb.AlarmMember, raised: boolean): void {
    this.p.logger.warn(raised ? "alarm raised" : "alarm disarmed", {
      alarm: etcdserverpb.AlarmType[m.alarm] ?? String(m.alarm),
      from: hexId(m.memberID),
    });
    this.applyLoop.applier = applierFor(this.chain, this.base.alarms);
  }

  /** raiseNoSpaceAlarm raises the NOSPACE alarm for this member through raft (etcd's quota alarmer). */
  private async raiseNoSpaceAlarm(): Promise<void> {
    await this.propose("alarm", {
      action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE,
      memberID: this.memberId,
      alarm: etcdserverpb.AlarmType.NOSPACE,
    });
  }

  /** alarmList lists the raised alarms as this member has applied them. */
  alarmList(): etcdserverpb.AlarmMember[] {
    return this.base.alarms.get();
  }

  /** alarm raises, clears or lists alarms through raft (etcd's Maintenance.Alarm, which answers without a header). */
  async alarm(req: etcdserverpb.AlarmRequest): Promise<etcdserverpb.AlarmResponse> {
    if (this.learner) this.checkLearner("Alarm");
    return (await this.propose("alarm", req)).response;
  }

  /** membership is the current member list and cluster ID. */
  get membership(): Membership {
    return this.memberStore.current;
  }

  /**
   * start begins the raft loop and the background tasks. compactorOptions are for tests only
   * (a fake clock or a shorter revision interval for the auto-compactor).
   */
  start(compactorOptions: CompactorOptions = {}): void {
    const voters = this.node.status().config.voters;
    this.transport?.setPeers(this.membership.members.values());
    const single = this.membership.members.size === 1 && this.membership.members.has(this.memberId);
    this.raft.start(single && voters.length <= 1);
    void this.backendSize.start();
    this.raft.onLeaderChange(() => this.maybePublish());
    this.raft.onLeaderChange((lead) => {
      if (lead !== this.memberId && this.lessor.isPrimary) this.lessor.demote();
      if (lead === this.memberId) this.serverStats.becomeLeader();
    });
    this.watchSyncTimer = setInterval(() => this.syncWatchers(), WATCH_SYNC_INTERVAL_MS);
    this.watchSyncTimer.unref();
    this.leaseTimer = setInterval(() => this.leasePass(), LEASE_EXPIRE_INTERVAL_MS);
    this.leaseTimer.unref();
    this.compactor = startAutoCompactor(this, this.p.autoCompaction, this.p.logger, compactorOptions);
    if (this.unsafeStaleReads) {
      const shout = (): void => this.p.logger.error(UNSAFE_STALE_READS_MESSAGE, { "local-member-id": hexId(this.memberId) });
      shout();
      this.unsafeTimer = setInterval(shout, UNSAFE_WARNING_INTERVAL_MS);
      this.unsafeTimer.unref();
    }
  }

  /**
   * syncWatchers lets unsynced watchers catch up: one bounded round, and another soon after
   * (WATCH_RESYNC_MS) while some are still behind, as etcd's sync loop does. A failure is
   * logged; the next pass retries.
   */
  private syncWatchers(): void {
    if (this.stopped) return;
    this.watchable.syncWatchers().then(
      () => {
        if (this.stopped || this.watchable.unsyncedCount === 0 || this.resyncTimer !== undefined) return;
        this.resyncTimer = setTimeout(() => {
          this.resyncTimer = undefined;
          this.syncWatchers();
        }, WATCH_RESYNC_MS);
        this.resyncTimer.unref();
      },
      (err: unknown) => {
        if (!this.stopped) this.p.logger.warn("failed to sync watchers", { error: (err as Error)?.message ?? String(err) });
      },
    );
  }

  /**
   * leasePass is the leader's lease duty (etcd's revokeExpiredLeases and checkpointing): it
   * proposes a revoke for each expired lease and one checkpoint request for the leases due,
   * so every member deletes the same keys at the same revision and a new leader resumes
   * from the remaining TTLs. Passes never overlap.
   */
  private leasePass(): void {
    if (this.stopped || !this.raft.isLeader || !this.lessor.isPrimary) return;
    const tracked = (p: Promise<unknown>, failure: string, id?: bigint): void => {
      this.leaseProposals++;
      p.catch((err: unknown) => {
        if (this.stopped || mapError(err) === Errors.leaseNotFound) return;
        this.p.logger.warn(failure, { ...(id !== undefined ? { "lease-id": hexId(id) } : {}), error: (err as Error)?.message ?? String(err) });
      }).finally(() => this.leaseProposals--);
    };
    // Proposals are not awaited: one slow revoke must not hold back the others; a revoke
    // that does not land is reported again by expired() after the retry interval.
    const room = MAX_LEASE_PROPOSALS_IN_FLIGHT - this.leaseProposals;
    for (const id of this.lessor.expired(Math.min(LEASE_REVOKE_PER_PASS, room))) {
      // Expired leases are revoked as root, whoever holds their keys (etcd's WithRoot).
      tracked(this.propose("leaseRevoke", { ID: id }, this.asRoot()), "failed to revoke lease", id);
    }
    // As etcd, keep proposing batches while full ones come (bounded per pass).
    for (let i = 0; i < LEASE_CHECKPOINT_BATCHES_PER_PASS && this.leaseProposals < MAX_LEASE_PROPOSALS_IN_FLIGHT; i++) {
      const cps = this.lessor.checkpoints(LEASE_CHECKPOINT_BATCH);
      if (cps.length === 0) break;
      const checkpoints = cps.map((c) => ({ ID: c.id, remainingTTL: c.remainingTtl }));
      tracked(this.propose("leaseCheckpoint", { checkpoints }), "failed to checkpoint leases");
      if (cps.length < LEASE_CHECKPOINT_BATCH) break;
    }
  }

  // ---- leases (Lease service) ----

  /** leaseGrant creates a lease through raft; ID 0 asks the server to choose one (etcd: a request ID, positive). */
  async leaseGrant(req: etcdserverpb.LeaseGrantRequest, ai: AuthInfo = NO_AUTH): Promise<etcdserverpb.LeaseGrantResponse> {
    if (this.learner) this.checkLearner("LeaseGrant");
    await this.quota.check(costLeaseGrant());
    let id = req.ID;
    while (id === 0n) id = this.ids.id() & 0x7fffffffffffffffn;
    const r = await this.propose("leaseGrant", { ID: id, TTL: req.TTL }, ai);
    return { ...r.response, header: this.header(r.revision) };
  }

  /** leaseRevoke revokes a lease through raft; its keys are deleted in the revoke's revision. */
  async leaseRevoke(req: etcdserverpb.LeaseRevokeRequest, ai: AuthInfo = NO_AUTH): Promise<etcdserverpb.LeaseRevokeResponse> {
    if (this.learner) this.checkLearner("LeaseRevoke");
    const r = await this.propose("leaseRevoke", req, ai);
    return { header: this.header(r.revision) };
  }

  /**
   * leaseRenew keeps a lease alive (etcd's LeaseRenew) and returns its TTL in seconds: on the
   * leader's lessor once it is primary, else forwarded to the leader over the peer protocol,
   * retried until the request timeout. An unknown lease fails with leaseNotFound.
   */
  async leaseRenew(id: bigint): Promise<bigint> {
    return this.toLeader(
      () => this.renewOnPrimary(id),
      (lead) => this.forwardLease?.renew(lead, id),
    );
  }

  /**
   * renewOnPrimary renews a lease on this leader's lessor. When the lease has a checkpointed
   * remaining TTL, the keep-alive is answered only once a checkpoint clearing it is applied
   * (etcd's Renew): otherwise a leader lost right after the answer would leave the stale
   * remaining TTL to its successor, which would expire the lease before the renewed TTL ends.
   */
  private async renewOnPrimary(id: bigint): Promise<bigint> {
    let ttl: bigint;
    try {
      ttl = this.lessor.renew(id);
    } catch (err) {
      if (!(err instanceof LeaseError) || err.code !== "not_found" || !this.lessor.exists(id)) throw err;
      // The lease expired and its revoke is under way: as etcd, answer once it is applied
      // (not found), or let the caller retry on the next leader if this one stops leading.
      const deadline = Date.now() + this.requestTimeoutMs;
      while (this.lessor.exists(id) && this.lessor.isPrimary && !this.stopped && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, LEASE_FORWARD_RETRY_MS));
      }
      if (this.lessor.exists(id) && !this.lessor.isPrimary) throw new LeaseError("not_primary");
      throw Errors.leaseNotFound;
    }
    if ((this.lessor.get(id)?.remainingTtl ?? 0n) > 0n) await this.clearCheckpoint(id);
    return ttl;
  }

  /**
   * clearCheckpoint proposes that lease id's checkpointed remaining TTL be cleared and waits
   * until that is applied. The clears of the keep-alives arriving within one event-loop turn
   * go into one proposal. As in etcd, a failed proposal is logged and the keep-alive is
   * still answered (the lease was renewed on this leader).
   */
  private clearCheckpoint(id: bigint): Promise<void> {
    let batch = this.clearing;
    if (batch === undefined) {
      const ids = new Set<bigint>();
      const done = new Promise<void>((resolve) => {
        setImmediate(() => {
          this.clearing = undefined;
          const checkpoints = [...ids].map((ID) => ({ ID, remainingTTL: 0n }));
          this.propose("leaseCheckpoint", { checkpoints }).then(
            () => resolve(),
            (err: unknown) => {
              if (!this.stopped) this.p.logger.warn("failed to checkpoint leases", { error: (err as Error)?.message ?? String(err) });
              resolve();
            },
          );
        });
      });
      batch = { ids, done };
      this.clearing = batch;
    }
    batch.ids.add(id);
    return batch.done;
  }

  /** clearing is the batch of checkpoint clears being collected this event-loop turn. */
  private clearing: { ids: Set<bigint>; done: Promise<void> } | undefined;

  /** leaseTimeToLive answers a lease's remaining and granted TTL (and keys), from the leader as etcd does. */
  /**
   * leaseTimeToLive answers a lease's TTL (and attached keys, with `keys`). With auth on, the
   * keys are answered only to a caller who may read every one of them (etcd 3.4.26's fix of
   * CVE-2023-32082; 3.4.23 answered them to anyone).
   */
  async leaseTimeToLive(req: etcdserverpb.LeaseTimeToLiveRequest, ai: () => Promise<AuthInfo> = async () => NO_AUTH): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    const r = await this.toLeader(
      () => {
        const t = this.lessor.timeToLive(req.ID, req.keys);
        if (t === undefined) throw Errors.leaseNotFound;
        return { header: undefined, ID: req.ID, TTL: t.ttl, grantedTTL: t.grantedTtl, keys: t.keys };
      },
      (lead) => this.forwardLease?.timeToLive(lead, req),
    );
    if (req.keys && this.auth.enabled) {
      const who = await ai();
      try {
        for (const k of r.keys) this.auth.isRangePermitted(who, Buffer.from(k), undefined);
      } catch (err) {
        throw mapError(err);
      }
    }
    return { ...r, header: this.header(this.kv.currentRevision) };
  }

  /** leaseLeases lists this member's leases (etcd answers from the local lessor). */
  leaseLeases(): etcdserverpb.LeaseLeasesResponse {
    return { header: this.header(this.kv.currentRevision), leases: this.lessor.leases().map((ID) => ({ ID })) };
  }

  /**
   * toLeader runs a lease operation where etcd runs it: `local` on the leader once its lessor
   * is primary, `remote` (the peer protocol) on the leader from a follower. It retries every
   * LEASE_FORWARD_RETRY_MS until the request timeout (etcd's ErrTimeout); leaseNotFound ends it.
   */
  private async toLeader<T>(local: () => T | Promise<T>, remote: (leader: bigint) => Promise<T> | undefined): Promise<T> {
    const deadline = Date.now() + this.requestTimeoutMs;
    for (;;) {
      if (this.stopped) throw Errors.stopped;
      const lead = this.raft.leader;
      if (lead === this.memberId && this.lessor.isPrimary) {
        try {
          return await local();
        } catch (err) {
          const mapped = mapError(err);
          // This member stopped leading meanwhile: try again where the leader is now.
          if (mapped !== Errors.notLeader) throw mapped;
        }
      }
      if (lead !== 0n && lead !== this.memberId) {
        try {
          const r = remote(lead);
          if (r !== undefined) return await r;
        } catch (err) {
          if (mapError(err) === Errors.leaseNotFound) throw Errors.leaseNotFound;
        }
      }
      // etcd's waitLeader answers "no leader" when none appears in time.
      if (Date.now() >= deadline) throw lead === 0n ? Errors.noLeader : Errors.timeout;
      await new Promise((r) => setTimeout(r, LEASE_FORWARD_RETRY_MS));
    }
  }

  /** forwardLease sends keep-alives and TimeToLive requests to the leader (set by the embedder: the peer client). */
  forwardLease:
    | {
        renew(leader: bigint, id: bigint): Promise<bigint>;
        timeToLive(leader: bigint, req: etcdserverpb.LeaseTimeToLiveRequest): Promise<etcdserverpb.LeaseTimeToLiveResponse>;
      }
    | undefined;

  /**
   * localLeaseRenew serves a keep-alive a follower forwarded: only a leader with a primary
   * lessor renews; anything else is refused so the follower retries (etcd's leasehttp handler).
   */
  async localLeaseRenew(id: bigint): Promise<bigint> {
    if (!this.raft.isLeader || !this.lessor.isPrimary) throw Errors.notLeader;
    try {
      return await this.renewOnPrimary(id);
    } catch (err) {
      throw mapError(err);
    }
  }

  /** localLeaseTimeToLive serves a TimeToLive a follower forwarded (leader only, as localLeaseRenew). */
  localLeaseTimeToLive(req: etcdserverpb.LeaseTimeToLiveRequest): etcdserverpb.LeaseTimeToLiveResponse {
    if (!this.raft.isLeader || !this.lessor.isPrimary) throw Errors.notLeader;
    const t = this.lessor.timeToLive(req.ID, req.keys);
    if (t === undefined) throw Errors.leaseNotFound;
    return { header: this.header(this.kv.currentRevision), ID: req.ID, TTL: t.ttl, grantedTTL: t.grantedTtl, keys: t.keys };
  }

  // ---- watch (Watch service) ----

  /** newWatchStream opens a watch stream on the watchable store (one per gRPC Watch call). */
  newWatchStream(): WatchStream {
    return this.watchable.newStream();
  }

  /** kickWatchSync starts a catch-up pass now (after a watch from a past revision was created). */
  kickWatchSync(): void {
    this.syncWatchers();
  }

  /** term is the current raft term (for response headers built outside this class). */
  get term(): bigint {
    return this.raft.term;
  }

  /**
   * publish proposes this member's name and client URLs once a leader is known (etcd's
   * "published local member to cluster through raft"); retried until it is applied.
   */
  private publishing = false;
  private published = false;
  private maybePublish(): void {
    if (this.publishing || this.published || this.stopped || this.raft.leader === 0n) return;
    this.publishing = true;
    const attrs = { memberId: this.memberId, name: this.p.name, clientUrls: this.p.clientUrls };
    this.propose("memberAttributes", attrs).then(
      () => {
        this.published = true;
        this.publishing = false;
        this.p.logger.info("published local member to cluster through raft", {
          "local-member-id": hexId(this.memberId),
          "local-member-attributes": `{Name:${this.p.name} ClientURLs:[${this.p.clientUrls.join(" ")}]}`,
          "cluster-id": hexId(this.membership.clusterId),
        });
      },
      (err: unknown) => {
        this.publishing = false;
        if (this.stopped) return;
        this.p.logger.warn("failed to publish local member to cluster through raft", {
          "local-member-id": hexId(this.memberId),
          "local-member-attributes": `{Name:${this.p.name} ClientURLs:[${this.p.clientUrls.join(" ")}]}`,
          "publish-timeout": `${this.requestTimeoutMs}ms`,
          error: (err as Error)?.message ?? String(err),
        });
        setTimeout(() => this.maybePublish(), 500).unref();
      },
    );
  }

  /**
   * waitReady resolves once a leader is known and everything committed before is applied
   * (the member can serve). It waits as long as that takes, logging every request timeout
   * what it still waits for, and fails only when the member stops.
   */
  async waitReady(): Promise<void> {
    // The quota checks need the backend's size before the first request.
    await this.backendSize.refresh();
    for (;;) {
      if (this.stopped) throw Errors.stopped;
      if (!(await this.raft.waitLeader(this.requestTimeoutMs))) {
        if (this.stopped) throw Errors.stopped;
        this.p.logger.warn("waiting for a leader before serving client requests", {
          "local-member-id": hexId(this.memberId),
          waited: `${this.requestTimeoutMs}ms`,
        });
        continue;
      }
      try {
        // Apply everything committed before serving: a linearizable barrier.
        await this.raft.readIndex();
        return;
      } catch (err) {
        if (this.stopped) throw Errors.stopped;
        this.p.logger.warn("waiting to apply the committed entries before serving client requests", {
          "local-member-id": hexId(this.memberId),
          error: (err as Error)?.message ?? String(err),
        });
      }
    }
  }

  /** isLearner: this member is a learner (refuses what etcd's learners refuse). */
  get isLearner(): boolean {
    return this.learner;
  }

  /**
   * checkLearner throws `etcdserver: rpc not supported for learner` when this member is a
   * learner and etcd's learners refuse the call (see rpcSupportedForLearner). The gRPC layer
   * calls it for every call; the write paths below also call it themselves.
   */
  checkLearner(method: string, req?: unknown): void {
    if (this.learner && this.membership.members.has(this.memberId) && !rpcSupportedForLearner(method, req)) {
      throw Errors.learnerNotSupported;
    }
  }

  header(revision: bigint): etcdserverpb.ResponseHeader {
    return {
      clusterId: this.membership.clusterId,
      memberId: this.memberId,
      revision,
      raftTerm: this.raft.term,
    };
  }

  async range(req: etcdserverpb.RangeRequest, ai: AuthInfo = NO_AUTH): Promise<etcdserverpb.RangeResponse> {
    checkRange(req);
    if (!req.serializable && !this.unsafeStaleReads) await this.linearizableBarrier();
    const r = await this.readLocal(ai, () => this.auth.isRangePermitted(ai, req.key, req.rangeEnd), (ctx) => this.base.range(ctx, req));
    return { ...r.response, header: this.header(r.revision) };
  }

  async put(req: etcdserverpb.PutRequest, ai: AuthInfo = NO_AUTH): Promise<etcdserverpb.PutResponse> {
    if (this.learner) this.checkLearner("Put");
    await this.quota.check(costPut(req));
    checkPut(req);
    const r = await this.propose("put", req, ai);
    return { ...r.response, header: this.header(r.revision) };
  }

  async deleteRange(req: etcdserverpb.DeleteRangeRequest, ai: AuthInfo = NO_AUTH): Promise<etcdserverpb.DeleteRangeResponse> {
    if (this.learner) this.checkLearner("DeleteRange");
    checkDelete(req);
    const r = await this.propose("deleteRange", req, ai);
    return { ...r.response, header: this.header(r.revision) };
  }

  async txn(req: etcdserverpb.TxnRequest, ai: AuthInfo = NO_AUTH): Promise<etcdserverpb.TxnResponse> {
    // etcd's learner refuses every Txn, read-only ones included.
    if (this.learner) this.checkLearner("Txn");
    await this.quota.check(costTxn(req));
    checkTxn(req, this.p.maxTxnOps);
    if (isTxnReadOnly(req)) {
      // etcd serves a read-only txn like a range: no log entry, a read barrier unless serializable.
      if (!isTxnSerializable(req) && !this.unsafeStaleReads) await this.linearizableBarrier();
      const r = await this.readLocal(ai, () => checkTxnPermission(this.auth, ai, req), (ctx) => this.base.txn(ctx, req));
      return fillTxnHeaders(r.response, this.header(r.revision));
    }
    const r = await this.propose("txn", req, ai);
    return fillTxnHeaders(r.response, this.header(r.revision));
  }

  async compact(req: etcdserverpb.CompactionRequest, ai: AuthInfo = NO_AUTH): Promise<etcdserverpb.CompactionResponse> {
    if (this.learner) this.checkLearner("Compact");
    const r = await this.propose("compaction", req, ai);
    return { header: this.header(r.revision) };
  }

  /**
   * proposeAuth puts an auth request (user, role and permission changes and reads, enable,
   * disable, authenticate) through raft as `ai` and answers its response with a header
   * (the current revision), as etcd answers every Auth call.
   */
  async proposeAuth<K extends AuthRequestKind>(kind: K, req: NonNullable<serverpb.InternalRaftRequest[K]>, ai: AuthInfo): Promise<ProposalResponses[K]> {
    const r = await this.propose(kind, req, ai);
    return { ...(r.response as object), header: this.header(r.revision) } as ProposalResponses[K];
  }

  /**
   * status reports this member as etcd's Maintenance.Status does: the committed and applied
   * raft indexes, the backend's size and the part of it in use, and as errors "no leader"
   * while none is known and every raised alarm.
   */
  async status(): Promise<etcdserverpb.StatusResponse> {
    const [size, inUse] = await Promise.all([this.backend.sizeBytes(), this.backend.sizeInUseBytes()]);
    const errors: string[] = [];
    if (this.raft.leader === 0n) errors.push(Errors.noLeader.message);
    for (const a of this.base.alarms.get()) errors.push(alarmString(a));
    return {
      header: this.header(this.kv.currentRevision),
      version: SERVER_VERSION,
      dbSize: BigInt(size),
      leader: this.raft.leader,
      raftIndex: this.raft.committedIndex,
      raftTerm: this.raft.term,
      raftAppliedIndex: this.applyLoop.appliedIndex,
      errors,
      dbSizeInUse: BigInt(inUse),
      isLearner: this.membership.members.get(this.memberId)?.isLearner ?? false,
    };
  }

  async hash(): Promise<etcdserverpb.HashResponse> {
    if (this.learner) this.checkLearner("Hash");
    const h = await this.kv.hash();
    return { header: this.header(this.kv.currentRevision), hash: h };
  }

  async hashKV(req: etcdserverpb.HashKVRequest): Promise<etcdserverpb.HashKVResponse> {
    if (this.learner) this.checkLearner("HashKV");
    return this.localHashKV(req.revision);
  }

  /**
   * localHashKV is this member's HashKV at `revision` (0: current) for peers and corruption
   * checks, learners included: the header's revision is the current revision when hashed.
   */
  async localHashKV(revision: bigint): Promise<etcdserverpb.HashKVResponse> {
    try {
      const rev = this.kv.currentRevision;
      const h = await this.kv.hashKV(revision);
      return { header: this.header(rev), hash: h.hash, compactRevision: h.compactRevision, hashRevision: h.hashRevision };
    } catch (err) {
      throw mapError(err);
    }
  }

  /** raiseCorruptAlarm raises the CORRUPT alarm through raft (member 0, as etcd's checker does). */
  async raiseCorruptAlarm(): Promise<void> {
    await this.propose("alarm", {
      action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE,
      memberID: 0n,
      alarm: etcdserverpb.AlarmType.CORRUPT,
    });
  }

  /** readBarrier waits until this member has applied everything committed when it was called (a ReadIndex). */
  readBarrier(): Promise<void> {
    return this.linearizableBarrier();
  }

  /** clusterVersion is the cluster version agreed through raft ("3.4.0"), undefined until decided. */
  get clusterVersion(): string | undefined {
    return this.membership.clusterVersion;
  }

  /** versionJson is the /version answer: this member's server version and the cluster version ("not_decided" before one is). */
  versionJson(): string {
    return JSON.stringify({ etcdserver: SERVER_VERSION, etcdcluster: this.clusterVersion ?? "not_decided" });
  }

  /** proposeClusterVersion puts a cluster version into the log (the leader's VersionMonitor decides it). */
  async proposeClusterVersion(ver: string): Promise<void> {
    this.p.logger.info(this.clusterVersion === undefined ? "setting up initial cluster version" : "updating cluster version", {
      "from": this.clusterVersion ?? "",
      "to": ver.split(".").slice(0, 2).join("."),
    });
    await this.propose("clusterVersionSet", { ver });
  }

  /** onLeaderChange calls cb with the new leader's ID (0 when none) whenever it changes. */
  /** peerStatsObserver feeds the leader stats' failures: the sends the transport dropped. */
  get peerStatsObserver(): Pick<PeerObserver, "sendFailed"> {
    return { sendFailed: (to) => this.leaderStats.fail(to) };
  }

  onLeaderChange(cb: (lead: bigint) => void): void {
    this.raft.onLeaderChange(cb);
  }

  /** restarted: the member started from its own earlier data directory. */
  get restarted(): boolean {
    return this.p.restarted;
  }

  /** isLeader: this member is the raft leader. */
  get isLeader(): boolean {
    return this.raft.isLeader;
  }

  /**
   * clientSnapshot makes an image of the backend as etcd's bbolt file for one
   * Maintenance.Snapshot call, after every batch applied so far is written (etcd commits its
   * batch first too) and no snapshot from the leader is being installed (the image must not
   * see a backend half rewritten). At most MAX_CLIENT_SNAPSHOTS images exist at once (each
   * keeps a RocksDB snapshot while its file is written, then the file, whose disk space stays
   * used, until released): another call gets "etcdserver: too many requests". signal stops the
   * image (the client went away).
   */
  async clientSnapshot(signal?: AbortSignal): Promise<ClientSnapshot> {
    if (this.stopped) throw Errors.stopped;
    if (this.clientSnapshots >= MAX_CLIENT_SNAPSHOTS) throw Errors.tooManyRequests;
    this.clientSnapshots++;
    let snap: ClientSnapshot;
    try {
      let scan: BackendScan | undefined;
      // The install check is made again in the step that makes the scan: an install may
      // start while the batches are written.
      const ready = (): boolean => this.installDone === undefined && !this.installFailed;
      while (scan === undefined) {
        // A failed install leaves the backend half rewritten, and the member is stopping.
        if (this.installFailed) throw Errors.stopped;
        if (this.installDone !== undefined) await abortable(this.installDone, signal);
        await this.p.tx.idle();
        signal?.throwIfAborted();
        scan = await openClientSnapshotScan(this.backend, ready);
      }
      snap = await makeClientSnapshot(scan, this.p.snapDir, signal);
    } catch (err) {
      this.clientSnapshots--;
      throw err;
    }
    let released = false;
    return {
      ...snap,
      release: async () => {
        if (released) return;
        released = true;
        this.clientSnapshots--;
        await snap.release();
      },
    };
  }

  /** clientSnapshots counts the Maintenance.Snapshot images that exist now. */
  private clientSnapshots = 0;

  /** logger is the member's logger (for the API layer's log lines). */
  get logger(): Logger {
    return this.p.logger;
  }

  /** defragment compacts the backend's files (RocksDB's equivalent of bbolt defrag). */
  async defragment(): Promise<void> {
    if (this.learner) this.checkLearner("Defragment");
    await this.backend.compactRange();
    // The quota checks see the space the compaction gave back at once.
    await this.backendSize.refresh();
  }

  /** members is the member list ordered by ID, as etcd's RaftCluster.Members() sorts it (MemberList answers in this order). */
  members(): Member[] {
    return [...this.membership.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get leader(): bigint {
    return this.raft.leader;
  }

  get appliedIndex(): bigint {
    return this.applyLoop.appliedIndex;
  }

  /** committedIndex is raft's commit index as of the last Ready (etcd's committed index). */
  get committedIndex(): bigint {
    return this.raft.committedIndex;
  }

  /** observeDisk hands each WAL fsync's and each backend batch write's duration (seconds) to the metrics. */
  observeDisk(walSync: (seconds: number) => void, backendCommit: (seconds: number) => void): void {
    this.wal.onSync = walSync;
    this.p.tx.onWritten = backendCommit;
  }

  /**
   * stop halts raft, fails waiters, and closes the WAL and the backend (after the last write).
   * Calls made while a stop is under way wait for it.
   */
  stop(): Promise<void> {
    if (this.stopping === undefined) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.stopped = true;
    this.backendSize.stop();
    if (this.watchSyncTimer !== undefined) clearInterval(this.watchSyncTimer);
    if (this.resyncTimer !== undefined) clearTimeout(this.resyncTimer);
    if (this.leaseTimer !== undefined) clearInterval(this.leaseTimer);
    if (this.unsafeTimer !== undefined) clearInterval(this.unsafeTimer);
    this.compactor?.stop();
    this.raft.stop(Errors.stopped);
    this.transport?.stop();
    try {
      await this.raft.idle();
      this.wait.failAll(Errors.stopped);
      await this.kv.close();
      await this.p.tx.close();
      await this.wal.close();
      await this.backend.close();
    } finally {
      for (const w of this.stopWaiters.splice(0)) w();
    }
  }

  /** stopNotify resolves once the member has stopped, whoever stopped it (etcd's StopNotify). */
  stopNotify(): Promise<void> {
    if (this.stopping !== undefined) return this.stopping.then(() => undefined, () => undefined);
    return new Promise((resolve) => this.stopWaiters.push(resolve));
  }

  // ---- cluster membership (Cluster service) ----

  /** memberAdd proposes a new member (voter or learner) and answers once it is applied. */
  async memberAdd(req: etcdserverpb.MemberAddRequest): Promise<etcdserverpb.MemberAddResponse> {
    if (this.learner) this.checkLearner("MemberAdd");
    const urls = req.peerURLs.map(normalizeUrl);
    if (urls.length === 0 || urls.some((u) => u === undefined)) throw Errors.memberBadUrls;
    const peerUrls = urls as string[];
    // As in etcd, the strict check (mayAddMember) comes before the checks made at apply.
    const refused = this.reconfigRefusal({ add: req.isLearner ? "learner" : "voter" });
    if (refused !== undefined) throw refused;
    if (this.membership.peerUrlInUse(peerUrls)) throw Errors.peerUrlExist;
    if (req.isLearner && this.membership.learners() >= 1) throw Errors.tooManyLearners;
    const id = deriveMemberId(peerUrls, this.p.clusterToken, Math.floor(Date.now() / 1000));
    if (this.membership.members.has(id)) throw Errors.memberExist;
    const type = req.isLearner
      ? raftpb.ConfChangeType.CONF_CHANGE_ADD_LEARNER_NODE
      : raftpb.ConfChangeType.CONF_CHANGE_ADD_NODE;
    await this.proposeConfChange(type, id, { peerUrls, isLearner: req.isLearner });
    const m = this.membership.members.get(id);
    return {
      header: this.header(this.kv.currentRevision),
      member: m === undefined ? undefined : toPb(m),
      members: this.members().map(toPb),
    };
  }

  async memberRemove(req: etcdserverpb.MemberRemoveRequest): Promise<etcdserverpb.MemberRemoveResponse> {
    if (this.learner) this.checkLearner("MemberRemove");
    const m = this.membership.members.get(req.ID);
    if (m === undefined) throw Errors.memberNotFound;
    const refused = this.reconfigRefusal({ remove: req.ID });
    if (refused !== undefined) throw refused;
    await this.proposeConfChange(raftpb.ConfChangeType.CONF_CHANGE_REMOVE_NODE, req.ID, {});
    return { header: this.header(this.kv.currentRevision), members: this.members().map(toPb) };
  }

  async memberUpdate(req: etcdserverpb.MemberUpdateRequest): Promise<etcdserverpb.MemberUpdateResponse> {
    if (this.learner) this.checkLearner("MemberUpdate");
    const m = this.membership.members.get(req.ID);
    if (m === undefined) throw Errors.memberNotFound;
    const urls = req.peerURLs.map(normalizeUrl);
    if (urls.length === 0 || urls.some((u) => u === undefined)) throw Errors.memberBadUrls;
    if (this.membership.peerUrlInUse(urls as string[], req.ID)) throw Errors.peerUrlExist;
    await this.proposeConfChange(raftpb.ConfChangeType.CONF_CHANGE_UPDATE_NODE, req.ID, {
      peerUrls: urls as string[],
      isLearner: m.isLearner,
      name: m.name,
    });
    return { header: this.header(this.kv.currentRevision), members: this.members().map(toPb) };
  }

  /**
   * memberPromote makes a learner a voter once it has caught up with the leader (match index
   * at least 90% of the leader's). Only the leader can tell; a follower forwards.
   */
  async memberPromote(req: etcdserverpb.MemberPromoteRequest): Promise<etcdserverpb.MemberPromoteResponse> {
    if (this.learner) this.checkLearner("MemberPromote");
    const m = this.membership.members.get(req.ID);
    if (m === undefined) throw Errors.memberNotFound;
    if (!m.isLearner) throw Errors.memberNotLearner;
    if (!this.raft.isLeader) {
      if (this.forwardPromote === undefined) throw Errors.notLeader;
      await this.forwardPromote(this.raft.leader, req.ID);
      return { header: this.header(this.kv.currentRevision), members: this.members().map(toPb) };
    }
    const st = this.node.status();
    const pr = st.progress.get(req.ID);
    const leaderMatch = st.progress.get(this.memberId)?.match ?? 0n;
    if (pr === undefined || pr.match * 10n < leaderMatch * 9n) throw Errors.learnerNotReady;
    await this.proposeConfChange(raftpb.ConfChangeType.CONF_CHANGE_ADD_NODE, req.ID, {
      peerUrls: m.peerUrls,
      isLearner: false,
      name: m.name,
    });
    return { header: this.header(this.kv.currentRevision), members: this.members().map(toPb) };
  }

  /** forwardPromote sends a promote to the leader (set by the embedder: the peer client). */
  forwardPromote: ((leader: bigint, id: bigint) => Promise<void>) | undefined;

  /** moveLeader hands leadership to a voter and answers once it has it. */
  async moveLeader(target: bigint): Promise<void> {
    if (this.learner) this.checkLearner("MoveLeader");
    if (!this.raft.isLeader) throw Errors.notLeader;
    const m = this.membership.members.get(target);
    if (m === undefined || m.isLearner) throw Errors.badLeaderTransferee;
    if (target === this.memberId) return;
    const deadline = Date.now() + this.requestTimeoutMs;
    this.raft.transferLeadership(target);
    while (this.raft.leader !== target) {
      if (this.stopped) throw Errors.stopped;
      if (Date.now() > deadline) throw Errors.leaderTransferTimeout;
      await new Promise((r) => setTimeout(r, 20));
    }
    this.p.logger.info("leadership transfer finished", {
      "old-leader-member-id": hexId(this.memberId),
      "new-leader-member-id": hexId(target),
    });
  }

  /**
   * reconfigRefusal is etcd's --strict-reconfig-check (mayAddMember, mayRemoveMember), judged
   * by whichever member gets the request: the error refusing to add a member or to remove
   * member `remove`, or undefined. A started voter has published its name (etcd's
   * IsStarted); a connected voter is this member or one whose peer link has been up for
   * HEALTH_INTERVAL_MS. Adding a voter needs the started voters to be a quorum of the grown
   * cluster (or the cluster to have a single, started member), else "not enough started
   * members"; adding any member needs every voter connected, else "unhealthy cluster".
   * Removing a learner is always allowed. Removing a voter needs the other started voters to
   * be a quorum of the others ("not enough started members"); then, unless the link to it is
   * down, the connected voters but one must still be a quorum ("unhealthy cluster").
   */
  private reconfigRefusal(change: { add: "voter" | "learner" } | { remove: bigint }): RpcError | undefined {
    if (!this.p.strictReconfigCheck) return undefined;
    const voters = [...this.membership.members.values()].filter((m) => !m.isLearner);
    const startedIn = (ms: Member[]): number => ms.filter((m) => m.name !== "").length;
    const linkSince = (id: bigint): number => this.transport?.activeSince(id) ?? 0;
    const healthySince = Date.now() - HEALTH_INTERVAL_MS;
    const connected = voters.filter((m) => m.id === this.memberId || (linkSince(m.id) !== 0 && linkSince(m.id) < healthySince)).length;
    if ("add" in change) {
      const grown = voters.length + 1;
      const started = startedIn(voters);
      const onlyMemberStarted = started === 1 && grown === 2;
      if (change.add === "voter" && !onlyMemberStarted && started < Math.floor(grown / 2) + 1) return Errors.notEnoughStarted;
      return connected === voters.length ? undefined : Errors.unhealthy;
    }
    if (this.membership.members.get(change.remove)?.isLearner === true) return undefined;
    const others = voters.filter((m) => m.id !== change.remove);
    if (startedIn(others) < Math.floor(others.length / 2) + 1) return Errors.notEnoughStarted;
    if (change.remove !== this.memberId && linkSince(change.remove) === 0) return undefined;
    return connected - 1 < 1 + Math.floor((voters.length - 1) / 2) ? Errors.unhealthy : undefined;
  }

  private async proposeConfChange(
    type: raftpb.ConfChangeType,
    id: bigint,
    m: { peerUrls?: string[]; isLearner?: boolean; name?: string },
  ): Promise<void> {
    if (this.stopped) throw Errors.stopped;
    const requestId = this.ids.id();
    const ctx = serverpb.ConfChangeContext.encode({
      requestId,
      memberId: id,
      peerUrls: m.peerUrls ?? [],
      isLearner: m.isLearner ?? false,
      name: m.name ?? "",
    }).finish();
    const cc: raftpb.ConfChange = {
      transition: raftpb.ConfChangeTransition.CONF_CHANGE_TRANSITION_AUTO,
      changes: [{ type, nodeId: id }],
      context: Buffer.from(ctx),
    };
    const result = this.wait.register(requestId);
    this.raft.proposeConfChange(requestId, cc, (err) => this.wait.fail(requestId, proposeError(err)));
    const r = await result;
    if (!r.ok) throw mapError(r.err);
  }

  /**
   * stopRemovedByPeer stops this member because a peer refused its traffic as a removed
   * member's (410 Gone): it was removed while it was down and never applied its removal.
   */
  stopRemovedByPeer(): void {
    if (this.removing) return;
    this.removing = true;
    this.stopRemoved();
  }

  /**
   * stopRemoved stops this member a moment after it applied its own removal (etcd waits 1s,
   * so the apply can finish and the leader hear from it), with etcd's log lines; then calls
   * onRemoved. etcd's process then exits with code 0 (its main returns when the server stops).
   */
  private stopRemoved(): void {
    this.removing = true;
    this.p.logger.info("this member was removed from the cluster; stopping", { "local-member-id": hexId(this.memberId) });
    setTimeout(() => {
      if (this.stopped) return;
      this.p.logger.warn("server error", { error: ERR_REMOVED });
      this.p.logger.warn("data-dir used by this member must be removed");
      this.stop().then(
        () => this.p.onRemoved?.(),
        (err: unknown) => this.p.onFatal(err),
      );
    }, REMOVED_STOP_DELAY_MS).unref();
  }

  // ---- snapshots between members ----

  /** stepFromPeer hands a message received from a peer to raft. */
  stepFromPeer(m: raftpb.Message): void {
    if (m.type === raftpb.MessageType.MSG_APP) this.serverStats.recvAppend(m.from, appendSize(m));
    this.raft.step(m);
  }

  /**
   * stepSnapshot hands a received MsgSnap to raft; its data names the saved stream file. Each
   * such file is a full copy of the database, kept only while raft may install it: raft holds
   * at most one snapshot to install (its log's unstable snapshot, whose data is the path), so
   * a file raft did not take (a stale term, an index at or below its commit, a leader's retry,
   * a deferral, a stopped member) or one it dropped for this one before a Ready took it, is
   * removed at once. The file a Ready is installing stays (installSnapshot renames it).
   */
  stepSnapshot(m: raftpb.Message, path: string): void {
    if (m.snapshot === undefined) {
      discardReceivedSnapshot(path, this.p.logger);
      return;
    }
    const before = this.pendingSnapshotFile();
    this.raft.step({ ...m, snapshot: { ...m.snapshot, data: Buffer.from(path) } });
    if (this.pendingSnapshotFile() !== path) {
      discardReceivedSnapshot(path, this.p.logger);
      return;
    }
    if (before !== undefined && before !== path && before !== this.installingSnapshot) discardReceivedSnapshot(before, this.p.logger);
  }

  /** pendingSnapshotFile is the received stream file of the snapshot raft holds to install next, if any. */
  private pendingSnapshotFile(): string | undefined {
    const snap = this.node.raft.raftLog.unstable.snapshot;
    return snap === undefined || snap.data.length === 0 ? undefined : snap.data.toString();
  }

  reportUnreachable(id: bigint): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  /**
   * writeSnapshot streams this member's membership and whole backend (a consistent RocksDB
   * snapshot at some applied index >= the raft snapshot's) to a follower, then the trailer:
   * the snapshot metadata of exactly that data (its consistent index, the term of that entry,
   * the configuration of its member list) and the stream's digest. The follower installs the
   * snapshot at that index (as etcd sends its backend at the applied index), not at the raft
   * snapshot's older one, so its WAL marker and its backend agree. Raft log compaction pauses
   * while a stream is written (as etcd's does), so the term of that entry stays readable and
   * the follower can catch up from the entries right after it.
   */
  async writeSnapshot(out: PassThrough): Promise<void> {
    this.inflightSnapshots++;
    try {
      const w = new SnapshotWriter(out);
      await w.membership(this.membership.encode());
      let ci: bigint | undefined;
      let members: Buffer | undefined;
      for await (const chunk of this.backend.scanChunks({})) {
        for (let i = 0; i < chunk.keys.length; i++) {
          const key = chunk.keys[i] as Buffer;
          const value = chunk.values[i] as Buffer;
          if (key.equals(consistentIndexKey)) ci = decodeConsistentIndex(value);
          else if (key.equals(MEMBERSHIP_KEY)) members = value;
          await w.pair(key, value);
        }
      }
      if (ci === undefined || ci === 0n) throw new Error("etcdserver: the backend has no consistent index to send a snapshot of");
      const membership = members !== undefined ? Membership.decode(members) : this.membership;
      await w.finish(raftpb.SnapshotMetadata.fromPartial({ index: ci, term: this.storage.term(ci), confState: confStateOf(membership) }));
    } finally {
      this.inflightSnapshots--;
    }
  }

  /**
   * installSnapshot replaces this member's state with a snapshot from the leader, in a
   * crash-safe order (see snapshot_install.ts): the received stream is kept durably under its
   * index, the snapshot is recorded in the WAL, then the backend is rewritten from the stream
   * and reopened, the membership replaced and the snapshot handed to raft's storage. A crash
   * after the WAL marker is repaired at start from the kept stream.
   */
  private async installSnapshot(snap: raftpb.Snapshot): Promise<void> {
    const md = snap.metadata as raftpb.SnapshotMetadata;
    const received = snap.data.toString();
    // Set before the first await: a MsgSnap stepped meanwhile must not remove this file.
    this.installingSnapshot = received;
    const done = this.installReceivedSnapshot(md, received);
    this.installDone = done.then(
      () => undefined,
      () => undefined,
    );
    try {
      await done;
    } catch (err) {
      // The backend may be half rewritten: no client snapshot may image it.
      this.installFailed = true;
      throw err;
    } finally {
      this.installingSnapshot = undefined;
      this.installDone = undefined;
    }
  }

  private async installReceivedSnapshot(md: raftpb.SnapshotMetadata, received: string): Promise<void> {
    if (FP.raftBeforeApplySnap.armed) await FP.raftBeforeApplySnap.hit();
    const path = await persistPendingSnapshot(received, this.p.snapDir, md.index);
    if (FP.raftBeforeSaveSnap.armed) await FP.raftBeforeSaveSnap.hit();
    await this.wal.saveSnapshot(
      walpb.SnapshotMarker.fromPartial({ index: md.index, term: md.term, confState: md.confState }),
    );
    if (FP.raftAfterSaveSnap.armed) await FP.raftAfterSaveSnap.hit();
    await this.kv.close();
    // Every batch committed so far is written before the backend is rewritten under it.
    await this.p.tx.idle();
    const installed = await installSnapshotBackend(this.backend, path, md.index);
    this.kv = await KVStore.open(this.backend, this.p.tx);
    this.base.kv = this.kv;
    await this.lessor.reopen(this.backend, this.p.tx);
    attachLeasedKeys(this.kv, this.lessor, this.p.logger);
    this.watchable.setStore(this.kv);
    this.base.alarms = await AlarmStore.open(this.backend, this.p.tx);
    await this.auth.reopen(authBackend(this.backend, this.p.tx));
    this.applyLoop.applier = applierFor(this.chain, this.base.alarms);
    this.applyLoop.appliedIndex = md.index;
    this.memberStore.replace(installed.membership);
    await this.p.tx.commit();
    this.storage.applySnapshot({ data: Buffer.alloc(0), metadata: md });
    this.snapshotIndex = md.index;
    await removePendingSnapshots(this.p.snapDir, md.index);
    this.p.logger.info("applied snapshot", {
      "local-member-id": hexId(this.memberId),
      "snapshot-index": md.index,
      "consistent-index": md.index,
    });
    if (FP.raftAfterApplySnap.armed) await FP.raftAfterApplySnap.hit();
  }

  /** linearizableBarrier waits for a read index (bounded by the request timeout, see RaftNode.readIndex). */
  private linearizableBarrier(): Promise<void> {
    return this.raft.readIndex();
  }

  /**
   * readLocal applies a read (range or read-only txn) to the local state without the log and
   * waits for any history it must read.
   */
  private async readLocal<T>(ai: AuthInfo, check: () => void, read: (ctx: ReturnType<typeof readContext>) => Applied<T>): Promise<Applied<T>> {
    let r: Applied<T>;
    try {
      if (this.auth.enabled) check();
      r = read(readContext(ai.user, ai.revision));
      if (r.done !== undefined) await r.done;
    } catch (err) {
      throw mapError(err);
    }
    // etcd's doSerialize: the auth store changed while the read ran, so the check may be stale.
    if (ai.revision !== 0n && ai.revision !== this.auth.revision) throw mapError(new AuthError("auth_old_revision"));
    return r;
  }

  /** asRoot is the credentials of requests the member makes itself with auth on (etcd's WithRoot): lease revokes, health reads. */
  asRoot(): AuthInfo {
    return { user: ROOT, revision: this.auth.revision };
  }

  /**
   * propose puts one request into the log and resolves with its applied outcome once this
   * member applied it (the response is complete), or fails with the error the apply or the
   * proposal produced.
   */
  private async propose<K extends ProposalKind>(
    kind: K,
    req: NonNullable<serverpb.InternalRaftRequest[K]>,
    ai: AuthInfo = NO_AUTH,
  ): Promise<Applied<ProposalResponses[K]>> {
    if (this.stopped) throw Errors.stopped;
    // etcd refuses new proposals while the apply trails the commit by too much.
    if (this.raft.committedIndex > this.applyLoop.appliedIndex + MAX_GAP_BETWEEN_APPLY_AND_COMMIT) throw Errors.tooManyRequests;
    const id = this.ids.id();
    const ir = serverpb.InternalRaftRequest.create({ header: { id, username: ai.user, authRevision: ai.revision } });
    (ir as unknown as Record<K, unknown>)[kind] = req;
    const data = encodeShared(serverpb.InternalRaftRequest, ir);
    if (data.length > this.p.maxRequestBytes) throw Errors.requestTooLarge;
    this.applyLoop.proposed.set(data, ir);
    const result = this.wait.register(id);
    this.raft.propose(id, data, (err) => this.wait.fail(id, proposeError(err)));
    this.proposalStats.pending++;
    let r: Awaited<typeof result>;
    try {
      r = await result;
    } catch (err) {
      // Refused by raft or timed out (a stopping member's waiters are not failed proposals).
      if (err !== Errors.stopped) this.proposalStats.failed++;
      throw err;
    } finally {
      this.proposalStats.pending--;
    }
    if (!r.ok) {
      // An answer of "database space exceeded" waits for the alarm it raised, as etcd's does.
      if (r.err === Errors.noSpace) await this.quota.settled();
      throw mapError(r.err);
    }
    if (r.applied.done !== undefined) await r.applied.done;
    // The apply loop answers a request of kind K with the applier's Applied<ProposalResponses[K]>.
    return r.applied as Applied<ProposalResponses[K]>;
  }

  /**
   * proposalTimeoutError is the error of a proposal not applied within the request timeout,
   * as etcd's parseProposeCtxErr tells it: raft never took it (no leader all along) -> the
   * bare deadline error; it started within two election timeouts before the current leader
   * was elected -> "possibly due to previous leader failure"; the link to the leader (or, on
   * the leader, to a quorum of the members) has not been up since the start -> "possibly due
   * to connection lost"; otherwise "request timed out".
   */
  private proposalTimeoutError(id: bigint, startMs: number): unknown {
    if (this.raft.cancelHeld(id)) return Errors.proposalDeadline;
    const elected = this.raft.leaderElectedAt;
    if (startMs > elected - 2 * this.p.electionMs && startMs < elected) return Errors.timeoutDueToLeaderFail;
    const lead = this.raft.leader;
    if (lead === this.memberId) {
      let connected = 0;
      for (const id of this.membership.members.keys()) if (id === this.memberId || this.connectedSince(id, startMs)) connected++;
      if (connected < Math.floor(this.membership.members.size / 2) + 1) return Errors.timeoutDueToConnectionLost;
    } else if (lead !== 0n && !this.connectedSince(lead, startMs)) {
      return Errors.timeoutDueToConnectionLost;
    }
    return Errors.timeout;
  }

  /** connectedSince: the peer link to `id` has been up since before `sinceMs` (etcd's isConnectedSince). */
  private connectedSince(id: bigint, sinceMs: number): boolean {
    const t = this.transport?.activeSince(id) ?? 0;
    return t !== 0 && t < sinceMs;
  }

  /** maybeSnapshot takes a raft snapshot every --snapshot-count applied entries. */
  private async maybeSnapshot(applied: bigint): Promise<void> {
    if (this.snapshotting || applied - this.snapshotIndex <= BigInt(this.p.snapshotCount)) return;
    this.snapshotting = true;
    try {
      // The backend must hold everything up to `applied` durably before the WAL lets go of it.
      await this.p.tx.sync();
      // Raft's configuration is the membership as of the last applied entry.
      const snap = this.storage.createSnapshot(applied, this.node.status().config, Buffer.alloc(0));
      const md = snap.metadata as raftpb.SnapshotMetadata;
      if (FP.raftBeforeSaveSnap.armed) await FP.raftBeforeSaveSnap.hit();
      await this.wal.saveSnapshot(walpb.SnapshotMarker.fromPartial({ index: md.index, term: md.term, confState: md.confState }));
      if (FP.raftAfterSaveSnap.armed) await FP.raftAfterSaveSnap.hit();
      // Keep some entries before the snapshot so a slightly slow follower needs no snapshot.
      const keep = SNAPSHOT_CATCHUP_ENTRIES < BigInt(this.p.snapshotCount) ? SNAPSHOT_CATCHUP_ENTRIES : BigInt(this.p.snapshotCount);
      // Not while a snapshot is streamed to a follower (etcd pauses compaction too): its
      // trailer needs the term of the streamed index, and the follower the entries after it.
      if (this.inflightSnapshots === 0 && applied - keep > this.storage.firstIndex()) this.storage.compact(applied - keep);
      await this.wal.releaseTo(applied);
      if (FP.raftAfterWALRelease.armed) await FP.raftAfterWALRelease.hit();
      this.snapshotIndex = applied;
      this.p.logger.info("saved snapshot", {
        "local-member-id": hexId(this.memberId),
        "snapshot-index": applied,
      });
    } finally {
      this.snapshotting = false;
    }
  }
}

/** attachLeasedKeys attaches every live key that names a lease to that lease (after the lessor was loaded); a key naming a missing lease is logged and skipped. */
export function attachLeasedKeys(kv: KVStore, lessor: Lessor, logger: Logger): void {
  kv.forEachLiveKey((k) => {
    if (k.lease === 0n) return;
    // etcd's mvcc restore logs a key whose lease is gone and goes on (data from another store may hold one).
    if (!lessor.exists(k.lease)) {
      logger.warn("failed to attach a lease", { "lease-id": hexId(k.lease), error: "lease not found" });
      return;
    }
    lessor.attach(k.lease, k.key);
  });
}

/** ProposalResponses maps each kind of proposed request to the response its apply produces. */
export interface ProposalResponses {
  put: etcdserverpb.PutResponse;
  deleteRange: etcdserverpb.DeleteRangeResponse;
  txn: etcdserverpb.TxnResponse;
  compaction: etcdserverpb.CompactionResponse;
  alarm: etcdserverpb.AlarmResponse;
  leaseGrant: etcdserverpb.LeaseGrantResponse;
  leaseRevoke: etcdserverpb.LeaseRevokeResponse;
  leaseCheckpoint: etcdserverpb.LeaseCheckpointResponse;
  memberAttributes: undefined;
  clusterVersionSet: undefined;
  authEnable: etcdserverpb.AuthEnableResponse;
  authDisable: etcdserverpb.AuthDisableResponse;
  authenticate: etcdserverpb.AuthenticateResponse;
  authUserAdd: etcdserverpb.AuthUserAddResponse;
  authUserDelete: etcdserverpb.AuthUserDeleteResponse;
  authUserChangePassword: etcdserverpb.AuthUserChangePasswordResponse;
  authUserGrantRole: etcdserverpb.AuthUserGrantRoleResponse;
  authUserGet: etcdserverpb.AuthUserGetResponse;
  authUserRevokeRole: etcdserverpb.AuthUserRevokeRoleResponse;
  authRoleAdd: etcdserverpb.AuthRoleAddResponse;
  authRoleGrantPermission: etcdserverpb.AuthRoleGrantPermissionResponse;
  authRoleGet: etcdserverpb.AuthRoleGetResponse;
  authRoleRevokePermission: etcdserverpb.AuthRoleRevokePermissionResponse;
  authRoleDelete: etcdserverpb.AuthRoleDeleteResponse;
  authUserList: etcdserverpb.AuthUserListResponse;
  authRoleList: etcdserverpb.AuthRoleListResponse;
}

/** ProposalKind is a kind of request a client call proposes. */
export type ProposalKind = keyof ProposalResponses;

/** fillTxnHeaders sets the txn's header; mvcc already gave nested responses etcd's partial headers. */
function fillTxnHeaders(resp: etcdserverpb.TxnResponse, header: etcdserverpb.ResponseHeader): etcdserverpb.TxnResponse {
  resp.header = header;
  return resp;
}

/** mapError turns store errors into etcd's gRPC errors; anything else passes through. */
export function mapError(err: unknown): unknown {
  if (err instanceof AuthError) return authError(err);
  if (err instanceof PasswordBusy) return Errors.tooManyRequests;
  if (err instanceof RpcError) return err;
  if (err instanceof MvccError) {
    switch (err.code) {
      case "compacted":
        return Errors.compacted;
      case "future_rev":
        return Errors.futureRev;
    }
  }
  if (err instanceof LeaseError) {
    switch (err.code) {
      case "not_found":
        return Errors.leaseNotFound;
      case "exists":
        return Errors.leaseExist;
      case "ttl_too_large":
        return Errors.leaseTTLTooLarge;
      case "not_primary":
        return Errors.notLeader;
    }
  }
  return err;
}

/** proposeError maps why raft refused a proposal to etcd's answer. */
function proposeError(err: unknown): unknown {
  if (err instanceof ErrProposalDropped) return Errors.proposalDropped;
  return err;
}

function toPb(m: Member): etcdserverpb.Member {
  return { ID: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner };
}

/** normalizeUrl checks a member URL (http, https, unix or unixs://host:port) and returns it without a trailing slash. */
const MEMBER_URL_SCHEMES = new Set(["http:", "https:", "unix:", "unixs:"]);

function normalizeUrl(s: string): string | undefined {
  try {
    const u = new URL(s);
    if (!MEMBER_URL_SCHEMES.has(u.protocol) || u.port === "" || (u.pathname !== "/" && u.pathname !== "")) return undefined;
    return `${u.protocol}//${u.host}`;
  } catch {
    return undefined;
  }
}

/** logQuota logs the backend quota in force as etcd's NewBackendQuota does, once at start. */
function logQuota(logger: Logger, flag: number): void {
  const name = { "quota-name": "v3-applier" };
  if (flag < 0) {
    logger.info("disabled backend quota", { ...name, "quota-size-bytes": flag });
    return;
  }
  const bytes = quotaBytes(flag) ?? 0;
  if (flag === 0) {
    logger.info("enabled backend quota with default value", { ...name, "quota-size-bytes": bytes, "quota-size": humanizeBytes(bytes) });
    return;
  }
  if (flag > MAX_QUOTA_BYTES) {
    logger.warn("quota exceeds the maximum value", {
      ...name,
      "quota-size-bytes": flag,
      "quota-size": humanizeBytes(flag),
      "quota-maximum-size-bytes": MAX_QUOTA_BYTES,
      "quota-maximum-size": humanizeBytes(MAX_QUOTA_BYTES),
    });
  }
  logger.info("enabled backend quota", { ...name, "quota-size-bytes": flag, "quota-size": humanizeBytes(flag) });
}

/** appendSize is an append request's size for the v2 stats' bandwidth: its entries' bytes (etcd uses the message's encoded size). */
function appendSize(m: raftpb.Message): number {
  let n = 0;
  for (const e of m.entries) n += e.data.length + 16;
  return n;
}
