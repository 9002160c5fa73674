import type { etcdserverpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";
import type { Logger } from "../log.js";
import { unary } from "./unary.js";

/**
 * clusterService implements etcdserverpb.Cluster's MemberList. Membership changes need
 * clustering and are not offered yet (grpc answers Unimplemented).
 */
export function clusterService(s: EtcdServer, logger: Logger): Pick<etcdserverpb.ClusterServer, "memberList"> {
  return {
    memberList: unary(logger, "MemberList", async () => ({
      header: s.header(s.kv.currentRevision),
      members: s.members().map((m) => ({
        ID: m.id,
        name: m.name,
        peerURLs: m.peerUrls,
        clientURLs: m.clientUrls,
        isLearner: m.isLearner,
      })),
    })),
  };
}
