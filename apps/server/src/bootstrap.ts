import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs";
import { join } from "node:path";
import { raftpb, walpb } from "@etcd-ts/proto";
import { Backend } from "@etcd-ts/backend";
import { KVStore } from "@etcd-ts/mvcc";
import { MemoryStorage, RawNode } from "@etcd-ts/raft";
import { WAL } from "@etcd-ts/wal";
import type { ServerConfig } from "./config/config.js";
import { EtcdServer } from "./etcd_server.js";
import { hexId, memberId as deriveMemberId } from "./ids.js";
import type { Logger } from "./log.js";
import { Membership } from "./membership.js";

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
 * openServer opens or creates the member's storage and returns a composed EtcdServer.
 * A data dir with a WAL restarts that member (flags about the initial cluster are ignored,
 * as in etcd); otherwise a new single cluster is bootstrapped from --initial-cluster.
 */
export async function openServer(cfg: ServerConfig, logger: Logger, onFatal: (err: unknown) => void): Promise<EtcdServer> {
  const dirs = dataDirs(cfg);
  mkdirSync(dirs.snap, { recursive: true, mode: 0o700 });
  const haveWal = WAL.exists(dirs.wal);

  const started = Date.now();
  const backend = await Backend.open(dirs.db);
  const kv = await KVStore.open(backend);
  logger.info("etcdserver/backend.ts", "opened backend db", { path: dirs.db, took: `${Date.now() - started}ms` });

  const storage = new MemoryStorage();
  let memberId: bigint;
  let membership: Membership;
  let wal: WAL;
  let bootstrapPeers: { id: bigint }[] | undefined;

  if (haveWal) {
    const opened = await WAL.open(dirs.wal);
    wal = opened.wal;
    const c = opened.contents;
    const meta = walpb.WalMetadata.decode(c.metadata);
    memberId = meta.memberId;
    membership = existsSync(dirs.membership)
      ? Membership.decode(readFileSync(dirs.membership))
      : Membership.fromInitialCluster(cfg.initialCluster, cfg.initialClusterToken);
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
      const hs = { ...c.hardState };
      if (kv.consistentIndex > hs.commit && kv.consistentIndex <= last) hs.commit = kv.consistentIndex;
      storage.setHardState(hs);
    }
    storage.append(c.entries);
    if (kv.consistentIndex > last) {
      throw new Error(`etcdserver: backend consistent index ${kv.consistentIndex} is ahead of the WAL's last index ${last}`);
    }
    logger.info("etcdserver/raft.ts", "restarting local member", {
      "cluster-id": hexId(membership.clusterId),
      "local-member-id": hexId(memberId),
      "commit-index": c.hardState?.commit ?? 0n,
    });
  } else {
    if (cfg.initialClusterState === "existing") {
      throw new Error("etcdserver: joining an existing cluster needs clustering, which etcd-ts does not have yet");
    }
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
    if (membership.members.size > 1) {
      throw new Error("etcdserver: multi-member clusters need clustering, which etcd-ts does not have yet");
    }
    memberId = deriveMemberId(self, cfg.initialClusterToken);
    writeFileAtomic(dirs.membership, membership.encode());
    wal = await WAL.create(
      dirs.wal,
      Buffer.from(walpb.WalMetadata.encode({ memberId, clusterId: membership.clusterId }).finish()),
    );
    bootstrapPeers = [...membership.members.keys()].map((id) => ({ id }));
    logger.info("etcdserver/raft.ts", "starting local member", {
      "local-member-id": hexId(memberId),
      "cluster-id": hexId(membership.clusterId),
    });
  }
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
    kv,
    storage,
    wal,
    makeNode,
    heartbeatMs: cfg.heartbeatMs,
    electionMs: cfg.electionMs,
    snapshotCount: cfg.snapshotCount,
    maxTxnOps: cfg.maxTxnOps,
    maxRequestBytes: cfg.maxRequestBytes,
    logger,
    dbPath: dirs.db,
    onFatal,
  });
}

/** writeFileAtomic replaces a small file durably: write a temp file, fsync, rename. */
function writeFileAtomic(path: string, data: Buffer): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
