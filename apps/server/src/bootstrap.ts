import { mkdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { AuthStore, hashPassword } from "@etcd-ts/auth";
import { ServerTokens } from "./auth/tokens.js";
import { authBackend } from "./auth/auth_backend.js";
import type { ConnectionOptions } from "node:tls";
import { join } from "node:path";
import { raftpb, walpb } from "@etcd-ts/proto";
import { Backend, BatchTx, consistentIndexKey, DEFAULT_LIMIT_OPS, type BatchTxOptions } from "@etcd-ts/backend";
import { KVStore } from "@etcd-ts/mvcc";
import { Lessor } from "@etcd-ts/lease";
import { performance } from "node:perf_hooks";
import { MemoryStorage, RawNode } from "@etcd-ts/raft";
import { WAL, type WalContents, type WalOptions } from "@etcd-ts/wal";
import type { ServerConfig } from "./config/config.js";
import { EtcdServer, attachLeasedKeys } from "./etcd_server.js";
import { hexId, memberId as deriveMemberId } from "./ids.js";
import type { Logger } from "./log.js";
import { refuseInProduction, type DebugOptions } from "./debug_switches.js";
import { AlarmStore } from "./alarm_store.js";
import { Membership } from "./membership.js";
import { MEMBERSHIP_KEY, MembershipStore } from "./membership_store.js";
import { decodeConsistentIndex } from "./apply/apply_loop.js";
import { PATH_MEMBERS } from "./peer/headers.js";
import { peerRequest } from "./peer/request.js";
import { recoverPendingSnapshot } from "./snapshot_install.js";
import { removeStaleClientSnapshots } from "./etcd_format/client_snapshot.js";
import { convertGoDataDir, isGoDataDir } from "./etcd_format/go_data_dir.js";
import { discoverInitialCluster } from "./discovery/initial_cluster.js";

/** FETCH_MEMBERS_TIMEOUT_MS bounds how long a joining member waits for a peer's member list. */
const FETCH_MEMBERS_TIMEOUT_MS = 5000;

/** DataDirs are etcd's data-dir layout: member/wal for the WAL, member/snap/db for the backend. */
export interface DataDirs {
  member: string;
  wal: string;
  snap: string;
  db: string;
  membership: string;
}

export function dataDirs(cfg: ServerConfig): DataDirs {
  const member = join(cfg.dataDir, "member");
  const snap = join(member, "snap");
  return {
    member,
    wal: cfg.walDir !== "" ? cfg.walDir : join(member, "wal"),
    snap,
    db: join(snap, "db"),
    membership: join(member, "membership.json"),
  };
}

/**
 * walOptions are the WAL's settings from the flags: --max-wals segment files are kept once
 * released by a snapshot (0: every one), as etcd's purge keeps them; a segment the log still
 * needs is never deleted.
 */
export function walOptions(cfg: ServerConfig): WalOptions {
  return { maxSegments: cfg.maxWals };
}

/**
 * DEFAULT_BACKEND_BATCH_INTERVAL_MS is the backend batch interval when --backend-batch-interval
 * is 0 (etcd's is 100 ms). A RocksDB write costs one native call and one thread-pool trip,
 * which on a busy 2-core machine took 250-550 us of main-thread time per write; on a 3-member
 * cluster with 100 clients, 30 ms made put 8-17% faster than 1 ms in 3 of 4 alternating runs,
 * and keeps each write small (a few hundred operations at 20k puts/s).
 */
export const DEFAULT_BACKEND_BATCH_INTERVAL_MS = 30;

/**
 * batchTxOptions are the backend batch settings from the flags: applied raft batches reach
 * RocksDB at most once per --backend-batch-interval (0: DEFAULT_BACKEND_BATCH_INTERVAL_MS), or
 * sooner once --backend-batch-limit operations wait (0: 10,000, etcd's default). Nothing waits
 * for these writes: the WAL makes an entry durable, and values not yet written are read from
 * the batch transaction's overlay.
 */
export function batchTxOptions(cfg: ServerConfig): BatchTxOptions {
  return {
    intervalMs: cfg.backendBatchIntervalMs > 0 ? cfg.backendBatchIntervalMs : DEFAULT_BACKEND_BATCH_INTERVAL_MS,
    limitOps: cfg.backendBatchLimit > 0 ? cfg.backendBatchLimit : DEFAULT_LIMIT_OPS,
  };
}

/**
 * openServer opens or creates the member's storage and returns a composed EtcdServer.
 * A data dir with a WAL restarts that member (flags about the initial cluster are ignored,
 * as in etcd); otherwise a new single cluster is bootstrapped from --initial-cluster.
 * `debug` holds the debug-only switches (debug_switches.ts), refused with NODE_ENV=production.
 */
export async function openServer(
  cfg: ServerConfig,
  logger: Logger,
  onFatal: (err: unknown) => void,
  peerTls?: ConnectionOptions,
  debug: DebugOptions = {},
): Promise<EtcdServer> {
  if (debug.unsafeStaleReads === true) refuseInProduction(process.env);
  const dirs = dataDirs(cfg);
  const goPaths = { member: dirs.member, wal: dirs.wal };
  if (await isGoDataDir(goPaths)) {
    await convertGoDataDir(goPaths, { hashPassword: (pw) => hashPassword(pw, cfg.bcryptCost) }, logger);
  }
  mkdirSync(dirs.snap, { recursive: true, mode: 0o700 });
  const haveWal = WAL.exists(dirs.wal);
  if (!haveWal) {
    cfg = await discoverInitialCluster(cfg, logger, debug.discovery);
  } else if (cfg.discovery.url !== "") {
    logger.warn("discovery token is ignored since cluster already initialized; valid logs are found", { "discovery-token": cfg.discovery.url });
  }

  const started = Date.now();
  const backend = await Backend.open(dirs.db);
  // The WAL is read before anything is loaded from the backend: its latest snapshot says
  // whether the backend is complete (a crash may have interrupted the install of a snapshot
  // from the leader, see snapshot_install.ts).
  let wal: WAL | undefined;
  try {
    const opened = haveWal ? await WAL.open(dirs.wal, walOptions(cfg)) : undefined;
    wal = opened?.wal;
    await recoverPendingSnapshot(backend, dirs.snap, opened?.contents.snapshot?.index ?? 0n, logger);
    await removeStaleClientSnapshots(dirs.snap, logger);
    return await composeServer(cfg, logger, onFatal, peerTls, debug, { dirs, backend, started, wal: opened });
  } catch (err) {
    // Nothing stays locked behind a refused start (an embedding process may try again).
    await wal?.close().catch(() => undefined);
    await backend.close().catch(() => undefined);
    throw err;
  }
}

/** Opened is what openServer opened before the stores are loaded. */
interface Opened {
  dirs: DataDirs;
  backend: Backend;
  /** started is when the backend was opened (ms since the epoch), for the "opened backend db" log. */
  started: number;
  /** wal is the existing WAL and what it held; undefined for a new member. */
  wal: { wal: WAL; contents: WalContents } | undefined;
}

/**
 * composeServer loads the stores from the (complete) backend, restarts the member from the
 * opened WAL or creates a new one, and composes the EtcdServer.
 */
async function composeServer(
  cfg: ServerConfig,
  logger: Logger,
  onFatal: (err: unknown) => void,
  peerTls: ConnectionOptions | undefined,
  debug: DebugOptions,
  o: Opened,
): Promise<EtcdServer> {
  const { dirs, backend, started, wal: opened } = o;
  const tx = new BatchTx(backend, batchTxOptions(cfg));
  const kv = await KVStore.open(backend, tx);
  const consistentIndex = decodeConsistentIndex(await backend.get(consistentIndexKey));
  const alarms = await AlarmStore.open(backend, tx);
  const lessor = await Lessor.open(backend, tx, {
    minTtl: minLeaseTtl(cfg.electionMs, cfg.heartbeatMs),
    clock: () => performance.now(),
    checkpointIntervalMs: LEASE_CHECKPOINT_INTERVAL_MS,
    // A revoke that did not land is retried after a request timeout, as etcd does.
    expiredRetryMs: 5000 + 2 * cfg.electionMs,
  });
  attachLeasedKeys(kv, lessor, logger);
  const auth = await AuthStore.open(authBackend(backend, tx));
  const tokens = new ServerTokens(cfg.authToken, () => performance.now(), () => Date.now(), cfg.authTokenTtlMs, (n) => randomBytes(n));
  auth.listen(tokens);
  const stored = await MembershipStore.load(backend, dirs.membership, logger);
  logger.info("opened backend db", { path: dirs.db, took: `${Date.now() - started}ms` });

  const storage = new MemoryStorage();
  let memberId: bigint;
  let membership: Membership;
  let wal: WAL;
  let bootstrapPeers: { id: bigint }[] | undefined;

  if (opened !== undefined) {
    wal = opened.wal;
    const c = opened.contents;
    const meta = walpb.WalMetadata.decode(c.metadata);
    memberId = meta.memberId;
    membership = stored ?? Membership.fromInitialCluster(cfg.initialCluster, cfg.initialClusterToken);
    if (membership.clusterId !== meta.clusterId) {
      throw new Error(`etcdserver: cluster ID mismatch between WAL (${hexId(meta.clusterId)}) and membership (${hexId(membership.clusterId)})`);
    }
    if (c.snapshot !== undefined) {
      storage.applySnapshot(
        raftpb.Snapshot.fromPartial({
          metadata: { index: c.snapshot.index, term: c.snapshot.term, confState: c.snapshot.confState ?? raftpb.ConfState.create() },
        }),
      );
    }
    const last = c.entries.length > 0 ? (c.entries[c.entries.length - 1] as raftpb.Entry).index : storage.lastIndex();
    if (c.hardState !== undefined) {
      // The backend may have applied entries whose commit index the WAL had not synced yet:
      // an applied entry was committed, so the commit index is at least the consistent index.
      // So is a snapshot's index: the hard state saved after a snapshot from the leader may
      // not have reached the WAL before a crash.
      const hs = { ...c.hardState };
      if (consistentIndex > hs.commit && consistentIndex <= last) hs.commit = consistentIndex;
      if (c.snapshot !== undefined && c.snapshot.index > hs.commit) hs.commit = c.snapshot.index;
      storage.setHardState(hs);
    }
    storage.append(c.entries);
    if (consistentIndex > last) {
      throw new Error(`etcdserver: backend consistent index ${consistentIndex} is ahead of the WAL's last index ${last}`);
    }
    logger.info("restarting local member", {
      "cluster-id": hexId(membership.clusterId),
      "local-member-id": hexId(memberId),
      "commit-index": storage.initialState().hardState.commit,
    });
  } else if (cfg.initialClusterState === "existing") {
    // Joining: the member list (and so our ID and the cluster ID) comes from a running peer.
    const self = cfg.initialCluster.get(cfg.name);
    if (self === undefined) {
      throw new Error(`couldn't find local name "${cfg.name}" in the initial cluster configuration`);
    }
    const peers = [...cfg.initialCluster].filter(([n]) => n !== cfg.name).flatMap(([, urls]) => urls);
    membership = await fetchMembership(peers, peerTls);
    const me = membership.findByPeerUrls(self);
    if (me === undefined) {
      throw new Error(
        `member with peer URLs ${self.join(",")} has not been added to the cluster (add it with "etcdctl member add" first)`,
      );
    }
    memberId = me.id;
    wal = await WAL.create(
      dirs.wal,
      Buffer.from(walpb.WalMetadata.encode({ memberId, clusterId: membership.clusterId }).finish()),
      walOptions(cfg),
    );
    logger.info("starting local member", {
      "local-member-id": hexId(memberId),
      "cluster-id": hexId(membership.clusterId),
      "initial-cluster-state": "existing",
    });
  } else {
    const self = cfg.initialCluster.get(cfg.name);
    if (self === undefined) {
      throw new Error(`couldn't find local name "${cfg.name}" in the initial cluster configuration`);
    }
    const advertised = cfg.initialAdvertisePeerUrls.map((u) => u.href.replace(/\/$/, "")).sort();
    if ([...self].sort().join(",") !== advertised.join(",")) {
      throw new Error(
        `--initial-cluster has ${cfg.name}=${self.join(",")} but missing from --initial-advertise-peer-urls=${advertised.join(",")}`,
      );
    }
    membership = Membership.fromInitialCluster(cfg.initialCluster, cfg.initialClusterToken);
    memberId = deriveMemberId(self, cfg.initialClusterToken);
    wal = await WAL.create(
      dirs.wal,
      Buffer.from(walpb.WalMetadata.encode({ memberId, clusterId: membership.clusterId }).finish()),
      walOptions(cfg),
    );
    bootstrapPeers = [...membership.members.keys()].map((id) => ({ id }));
    logger.info("starting local member", {
      "local-member-id": hexId(memberId),
      "cluster-id": hexId(membership.clusterId),
    });
  }
  // The member list is in the backend before the WAL can hold anything that depends on it.
  if (stored === undefined) await backend.write([{ type: "put", key: MEMBERSHIP_KEY, value: membership.encode() }], { sync: true });
  const me = membership.members.get(memberId);
  if (me !== undefined) {
    me.name = cfg.name;
    me.clientUrls = cfg.advertiseClientUrls.map((u) => u.href.replace(/\/$/, ""));
  }

  const electionTick = Math.max(1, Math.round(cfg.electionMs / cfg.heartbeatMs));
  const makeNode = (applied: bigint): RawNode => {
    const node = new RawNode({
      id: memberId,
      electionTick,
      heartbeatTick: 1,
      storage,
      applied,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 4096 / 8,
      checkQuorum: true,
      preVote: cfg.preVote,
    });
    if (bootstrapPeers !== undefined) node.bootstrap(bootstrapPeers);
    return node;
  };
  return new EtcdServer({
    memberId,
    membership,
    backend,
    tx,
    kv,
    lessor,
    consistentIndex,
    restarted: opened !== undefined,
    alarms,
    storage,
    wal,
    makeNode,
    heartbeatMs: cfg.heartbeatMs,
    electionMs: cfg.electionMs,
    snapshotCount: cfg.snapshotCount,
    maxTxnOps: cfg.maxTxnOps,
    maxRequestBytes: cfg.maxRequestBytes,
    quotaBackendBytes: cfg.quotaBackendBytes,
    logger,
    snapDir: dirs.snap,
    clusterToken: cfg.initialClusterToken,
    name: cfg.name,
    clientUrls: cfg.advertiseClientUrls.map((u) => u.href.replace(/\/$/, "")),
    strictReconfigCheck: cfg.strictReconfigCheck,
    autoCompaction: { mode: cfg.autoCompactionMode, retention: cfg.autoCompactionRetention },
    onFatal,
    auth,
    tokens,
    bcryptCost: cfg.bcryptCost,
    ...(debug.unsafeStaleReads === true ? { unsafeStaleReads: true } : {}),
  });
}

/**
 * LEASE_CHECKPOINT_INTERVAL_MS is how often the leader checkpoints each lease's remaining TTL
 * through raft. etcd does this only with --experimental-enable-lease-checkpoint, every 5
 * minutes; etcd-ts always does, often enough that a new leader (or a restarted cluster)
 * resumes every lease within a few seconds of its true remaining TTL.
 */
export const LEASE_CHECKPOINT_INTERVAL_MS = 5000;

/**
 * minLeaseTtl is etcd's minimum lease TTL in seconds: one and a half election timeouts,
 * counted in whole ticks ((3 * election ticks) / 2, integer division), rounded up.
 */
export function minLeaseTtl(electionMs: number, heartbeatMs: number): number {
  const electionTicks = Math.floor(electionMs / heartbeatMs);
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * heartbeatMs) / 1000);
}

/** fetchMembership asks running peers for the member list (GET /members on a peer URL, any scheme the peer transport dials). */
async function fetchMembership(peerUrls: string[], tls?: ConnectionOptions): Promise<Membership> {
  const errors: string[] = [];
  for (const url of peerUrls) {
    try {
      const res = await peerRequest(url, { method: "GET", path: PATH_MEMBERS }, tls, FETCH_MEMBERS_TIMEOUT_MS);
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      return Membership.decode(res.body);
    } catch (err) {
      errors.push(`${url}: ${(err as Error).message}`);
    }
  }
  throw new Error(`cannot fetch cluster info from peer urls: ${errors.join("; ")}`);
}
