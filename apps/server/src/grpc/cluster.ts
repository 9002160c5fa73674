import type { etcdserverpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";
import type { Logger } from "../log.js";
import type { ServiceHandlers } from "./lite_server.js";
import { unary } from "./unary.js";

/** clusterService implements etcdserverpb.Cluster: membership changes through raft, with learners. */
export function clusterService(
  s: EtcdServer,
  logger: Logger,
): ServiceHandlers {
  return {
    memberAdd: unary(logger, "MemberAdd", (r: etcdserverpb.MemberAddRequest) => s.memberAdd(r)),
    memberRemove: unary(logger, "MemberRemove", (r: etcdserverpb.MemberRemoveRequest) => s.memberRemove(r)),
    memberUpdate: unary(logger, "MemberUpdate", (r: etcdserverpb.MemberUpdateRequest) => s.memberUpdate(r)),
    memberPromote: unary(logger, "MemberPromote", (r: etcdserverpb.MemberPromoteRequest) => s.memberPromote(r)),
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
