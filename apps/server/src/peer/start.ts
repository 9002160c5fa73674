import type { ConnectionOptions } from "node:tls";
import { Errors } from "../errors.js";
import type { ServerConfig } from "../config/config.js";
import type { EtcdServer } from "../etcd_server.js";
import { hexId } from "../ids.js";
import type { Logger } from "../log.js";
import { dataDirs } from "../bootstrap.js";
import { peerRequest, type PeerResponse } from "./request.js";
import { H_CLUSTER_ID, H_FROM, PATH_PROMOTE, peerBatchLimit } from "./headers.js";
import type { TlsInfo } from "../tls/tls_info.js";
import { PeerListener } from "./server.js";
import type { PeerObserver } from "./observer.js";
import { PeerTransport } from "./transport.js";
import { LeaseForwarder } from "./lease_forward.js";

/**
 * startPeer wires a member to its peers: the transport that sends its raft messages (and
 * receives theirs on the streams it dials) and the listener on --listen-peer-urls that
 * receives the rest and serves the streams peers dial. `clientTls` dials TLS peers;
 * `serverTls` (the prepared peer TLS settings) serves this member's https:// and unixs://
 * peer URLs. It must run before server.start().
 */
export async function startPeer(
  cfg: ServerConfig,
  server: EtcdServer,
  logger: Logger,
  clientTls: ConnectionOptions | undefined,
  serverTls: TlsInfo | undefined,
  observer?: PeerObserver,
): Promise<PeerListener> {
  const maxBatchBytes = peerBatchLimit(cfg.maxRequestBytes);
  const transport = new PeerTransport({
    memberId: server.memberId,
    clusterId: () => server.membership.clusterId,
    logger,
    ...(clientTls !== undefined ? { tls: clientTls } : {}),
    reportUnreachable: (id) => server.reportUnreachable(id),
    reportSnapshot: (id, ok) => server.reportSnapshot(id, ok),
    snapshotSource: (out) => server.writeSnapshot(out),
    removed: () => server.stopRemovedByPeer(),
    step: (m) => server.stepFromPeer(m),
    heartbeatMs: cfg.heartbeatMs,
    electionMs: cfg.electionMs,
    maxBatchBytes,
    ...(observer === undefined ? {} : { observer }),
  });
  server.transport = transport;
  server.forwardPromote = (leader, id) => forwardPromote(server, leader, id, clientTls);
  const leases = new LeaseForwarder(
    (id) => server.membership.members.get(id)?.peerUrls ?? [],
    () => peerHeaders(server),
    clientTls,
    server.requestTimeoutMs,
  );
  server.forwardLease = leases;
  void server.stopNotify().then(() => leases.close());
  return PeerListener.listen(
    cfg.listenPeerUrls,
    {
      clusterId: () => server.membership.clusterId,
      step: (m) => server.stepFromPeer(m),
      stepSnapshot: (m, path) => server.stepSnapshot(m, path),
      membersJson: () => server.membership.encode().toString(),
      hashKV: (rev) => server.localHashKV(rev),
      isRemoved: (id) => server.membership.removed.has(id),
      versionJson: () => server.versionJson(),
      leaseRenew: async (id) => ({ ttl: await server.localLeaseRenew(id), header: server.header(server.kv.currentRevision) }),
      leaseTimeToLive: (req) => server.localLeaseTimeToLive(req),
      isLeaseNotFound: (err) => err === Errors.leaseNotFound,
      attachStream: (req, res) => transport.attachStream(req, res),
      ...(observer === undefined ? {} : { received: (from: bigint, n: number) => observer.received(from, n) }),
      promote: async (id) => {
        try {
          await server.memberPromote({ ID: id });
          return { status: 200, body: "{}" };
        } catch (err) {
          return { status: 409, body: JSON.stringify({ message: (err as Error).message }) };
        }
      },
    },
    logger,
    dataDirs(cfg).snap,
    serverTls === undefined ? undefined : { info: serverTls, skipClientSanVerify: cfg.peerSkipClientSanVerify },
    maxBatchBytes,
  );
}

/** forwardPromote asks the leader, over the peer protocol, to promote learner `id`. */
async function forwardPromote(server: EtcdServer, leader: bigint, id: bigint, tls: ConnectionOptions | undefined): Promise<void> {
  const url = server.membership.members.get(leader)?.peerUrls[0];
  if (leader === 0n || url === undefined) throw Errors.noLeader;
  let res: PeerResponse;
  try {
    res = await peerRequest(url, { method: "POST", path: `${PATH_PROMOTE}${hexId(id)}`, headers: peerHeaders(server) }, tls, server.requestTimeoutMs);
  } catch {
    throw Errors.noLeader;
  }
  if (res.status === 200) return;
  const msg = (() => {
    try {
      return (JSON.parse(res.body.toString()) as { message: string }).message;
    } catch {
      return "";
    }
  })();
  throw Object.values(Errors).find((e) => e.message === msg) ?? Errors.timeout;
}

/** peerHeaders are the headers naming this member's cluster and ID on a peer request. */
export function peerHeaders(server: EtcdServer): Record<string, string> {
  return { [H_CLUSTER_ID]: hexId(server.membership.clusterId), [H_FROM]: hexId(server.memberId) };
}
