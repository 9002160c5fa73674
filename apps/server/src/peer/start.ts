import type { ConnectionOptions } from "node:tls";
import { Errors } from "../errors.js";
import type { ServerConfig } from "../config/config.js";
import type { EtcdServer } from "../etcd_server.js";
import { hexId } from "../ids.js";
import type { Logger } from "../log.js";
import { dataDirs } from "../bootstrap.js";
import { connectPeer } from "./dial.js";
import { H_CLUSTER_ID, H_FROM, PATH_PROMOTE } from "./headers.js";
import type { TlsInfo } from "../tls/tls_info.js";
import { PeerListener } from "./server.js";
import { PeerTransport } from "./transport.js";

/**
 * startPeer wires a member to its peers: the transport that sends its raft messages and the
 * listener on --listen-peer-urls that receives theirs. `clientTls` dials TLS peers;
 * `serverTls` (the prepared peer TLS settings) serves this member's https:// and unixs://
 * peer URLs. It must run before server.start().
 */
export async function startPeer(
  cfg: ServerConfig,
  server: EtcdServer,
  logger: Logger,
  clientTls: ConnectionOptions | undefined,
  serverTls: TlsInfo | undefined,
): Promise<PeerListener> {
  server.transport = new PeerTransport({
    memberId: server.memberId,
    clusterId: () => server.membership.clusterId,
    logger,
    ...(clientTls !== undefined ? { tls: clientTls } : {}),
    reportUnreachable: (id) => server.reportUnreachable(id),
    reportSnapshot: (id, ok) => server.reportSnapshot(id, ok),
    snapshotSource: (out) => server.writeSnapshot(out),
  });
  server.forwardPromote = (leader, id) => forwardPromote(server, leader, id, clientTls);
  return PeerListener.listen(
    cfg.listenPeerUrls,
    {
      clusterId: () => server.membership.clusterId,
      step: (m) => server.stepFromPeer(m),
      stepSnapshot: (m, path) => server.stepSnapshot(m, path),
      membersJson: () => server.membership.encode().toString(),
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
  );
}

/** forwardPromote asks the leader, over the peer protocol, to promote learner `id`. */
function forwardPromote(server: EtcdServer, leader: bigint, id: bigint, tls: ConnectionOptions | undefined): Promise<void> {
  const url = server.membership.members.get(leader)?.peerUrls[0];
  if (leader === 0n || url === undefined) return Promise.reject(Errors.noLeader);
  return new Promise((resolve, reject) => {
    const s = connectPeer(url, tls);
    s.on("error", () => reject(Errors.noLeader));
    const req = s.request({
      ":method": "POST",
      ":path": `${PATH_PROMOTE}${hexId(id)}`,
      [H_CLUSTER_ID]: hexId(server.membership.clusterId),
      [H_FROM]: hexId(server.memberId),
    });
    let status = 0;
    const chunks: Buffer[] = [];
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      s.close();
      if (status === 200) {
        resolve();
        return;
      }
      const msg = (() => {
        try {
          return (JSON.parse(Buffer.concat(chunks).toString()) as { message: string }).message;
        } catch {
          return "";
        }
      })();
      const known = Object.values(Errors).find((e) => e.message === msg);
      reject(known ?? Errors.timeout);
    });
    req.on("error", () => reject(Errors.noLeader));
    req.end();
  });
}
