import type { ConnectionOptions } from "node:tls";
import { etcdserverpb } from "@etcd-ts/proto";
import { Errors } from "./errors.js";
import type { EtcdServer } from "./etcd_server.js";
import { hexId } from "./ids.js";
import { LeaderTask } from "./leader_task.js";
import type { Logger } from "./log.js";
import { PATH_HASHKV } from "./peer/headers.js";
import { peerRequest } from "./peer/request.js";
import { peerHeaders } from "./peer/start.js";

/** PeerHash is one peer's answer to a HashKV request, or why there is none. */
interface PeerHash {
  id: bigint;
  urls: string[];
  resp?: etcdserverpb.HashKVResponse;
  err?: unknown;
}

/**
 * fetchPeerHashKV asks a peer (over the peer protocol, etcd's /members/hashkv) for its HashKV
 * at `revision`. A peer that has compacted past it or has not reached it answers etcd's
 * compacted / future-revision errors; anything else is a plain Error.
 */
export async function fetchPeerHashKV(
  server: EtcdServer,
  url: string,
  revision: bigint,
  tls: ConnectionOptions | undefined,
): Promise<etcdserverpb.HashKVResponse> {
  const body = Buffer.from(etcdserverpb.HashKVRequest.encode({ revision }).finish());
  const res = await peerRequest(url, { method: "POST", path: PATH_HASHKV, headers: peerHeaders(server), body }, tls, server.requestTimeoutMs);
  const text = res.body.toString();
  if (res.status === 400 && text.includes("mvcc: required revision has been compacted")) throw Errors.compacted;
  if (res.status === 400 && text.includes("mvcc: required revision is a future revision")) throw Errors.futureRev;
  if (res.status !== 200) throw new Error(`unknown error: ${res.status} ${text}`);
  return etcdserverpb.HashKVResponse.decode(res.body);
}

/** peerHashes asks every other member for its HashKV at `revision`, trying each peer URL in turn. */
async function peerHashes(server: EtcdServer, revision: bigint, tls: ConnectionOptions | undefined, logger: Logger): Promise<PeerHash[]> {
  const peers = server.members().filter((m) => m.id !== server.memberId && m.peerUrls.length > 0);
  return Promise.all(
    peers.map(async (m): Promise<PeerHash> => {
      let err: unknown;
      for (const url of m.peerUrls) {
        try {
          return { id: m.id, urls: m.peerUrls, resp: await fetchPeerHashKV(server, url, revision, tls) };
        } catch (e) {
          err = e;
          logger.warn("failed hash kv request", {
            "local-member-id": hexId(server.memberId),
            "requested-revision": revision,
            "remote-peer-endpoint": url,
            error: (e as Error)?.message ?? String(e),
          });
        }
      }
      return { id: m.id, urls: m.peerUrls, err };
    }),
  );
}

/**
 * checkInitialHashKV is etcd's --experimental-initial-corrupt-check, run by a restarting
 * member before it serves anything: it compares its HashKV with every reachable peer's at
 * its own current revision and throws "<id> found data inconsistency with peers" when a peer
 * with the same compacted revision has another hash. Peers that cannot answer are skipped.
 */
export async function checkInitialHashKV(server: EtcdServer, tls: ConnectionOptions | undefined, logger: Logger): Promise<void> {
  const id = hexId(server.memberId);
  logger.info("starting initial corruption check", { "local-member-id": id, timeout: `${server.requestTimeoutMs}ms` });
  const local = await server.localHashKV(0n);
  const rev = local.header?.revision ?? 0n;
  const h = local.hash;
  const crev = local.compactRevision;
  let mismatch = 0;
  for (const p of await peerHashes(server, rev, tls, logger)) {
    if (p.resp !== undefined) {
      const fields = {
        "local-member-id": id,
        "local-member-revision": rev,
        "local-member-compact-revision": crev,
        "local-member-hash": h,
        "remote-peer-id": hexId(p.resp.header?.memberId ?? p.id),
        "remote-peer-endpoints": p.urls,
        "remote-peer-revision": p.resp.header?.revision ?? 0n,
        "remote-peer-compact-revision": p.resp.compactRevision,
        "remote-peer-hash": p.resp.hash,
      };
      if (h !== p.resp.hash) {
        if (crev === p.resp.compactRevision) {
          logger.warn("found different hash values from remote peer", fields);
          mismatch++;
        } else {
          logger.warn("found different compact revision values from remote peer", fields);
        }
      }
      continue;
    }
    if (p.err === Errors.futureRev) {
      logger.warn("cannot fetch hash from slow remote peer", { "local-member-id": id, "remote-peer-id": hexId(p.id) });
    } else if (p.err === Errors.compacted) {
      logger.warn("cannot fetch hash from remote peer; local member is behind", { "local-member-id": id, "remote-peer-id": hexId(p.id) });
    }
  }
  if (mismatch > 0) throw new Error(`${id} found data inconsistency with peers`);
  logger.info("initial corruption checking passed; no corruption", { "local-member-id": id });
}

/**
 * CorruptionMonitor is etcd's --experimental-corrupt-check-time: every interval the leader
 * hashes its KV, asks every peer for its hash at the same revision, hashes again after a
 * read barrier, and raises the CORRUPT alarm (through raft) when its own two hashes of one
 * revision differ, when a peer is ahead of it in revision or compaction, or when a peer with
 * the same compacted revision has another hash. Followers do nothing.
 */
export class CorruptionMonitor {
  private readonly task: LeaderTask;

  constructor(
    private readonly server: EtcdServer,
    private readonly intervalMs: number,
    private readonly tls: ConnectionOptions | undefined,
    private readonly logger: Logger,
  ) {
    this.task = new LeaderTask(() => server.isLeader, intervalMs, () => this.check(), logger, "failed to check hash KV");
  }

  start(): void {
    this.logger.info("enabled corruption checking", {
      "local-member-id": hexId(this.server.memberId),
      interval: `${this.intervalMs}ms`,
    });
    this.task.start();
  }

  stop(): void {
    this.task.stop();
  }

  /** check runs one pass; it resolves once the pass (and any alarm it raised) is done. */
  async check(): Promise<void> {
    const s = this.server;
    const first = await s.localHashKV(0n);
    const rev = first.header?.revision ?? 0n;
    const peers = await peerHashes(s, rev, this.tls, this.logger);
    await s.readBarrier();
    const second = await s.localHashKV(0n);
    const rev2 = second.header?.revision ?? 0n;
    const crev2 = second.compactRevision;
    let alarmed = false;
    const mismatch = async (): Promise<void> => {
      if (alarmed) return;
      alarmed = true;
      await s.raiseCorruptAlarm();
    };
    if (second.hash !== first.hash && rev2 === rev && first.compactRevision === crev2) {
      this.logger.warn("found hash mismatch", {
        "revision-1": rev,
        "compact-revision-1": first.compactRevision,
        "hash-1": first.hash,
        "revision-2": rev2,
        "compact-revision-2": crev2,
        "hash-2": second.hash,
      });
      await mismatch();
    }
    let checked = 0;
    for (const p of peers) {
      const r = p.resp;
      if (r === undefined) continue;
      checked++;
      const peerRev = r.header?.revision ?? 0n;
      if (peerRev > rev2) {
        this.logger.warn("revision from follower must be less than or equal to leader's", {
          "leader-revision": rev2,
          "follower-revision": peerRev,
          "follower-peer-id": hexId(p.id),
        });
        await mismatch();
      }
      if (r.compactRevision > crev2) {
        this.logger.warn("compact revision from follower must be less than or equal to leader's", {
          "leader-compact-revision": crev2,
          "follower-compact-revision": r.compactRevision,
          "follower-peer-id": hexId(p.id),
        });
        await mismatch();
      }
      if (r.compactRevision === first.compactRevision && r.hash !== first.hash) {
        this.logger.warn("same compact revision then hashes must match", {
          "leader-compact-revision": crev2,
          "leader-hash": first.hash,
          "follower-compact-revision": r.compactRevision,
          "follower-hash": r.hash,
          "follower-peer-id": hexId(p.id),
        });
        await mismatch();
      }
    }
    this.logger.info("finished peer corruption check", { "number-of-peers-checked": checked });
  }
}
