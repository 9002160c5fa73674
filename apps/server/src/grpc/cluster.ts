import type { etcdserverpb } from "@etcd-ts/proto";
import type { ServiceImplementation } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";

/** clusterService implements etcdserverpb.Cluster: membership changes through raft, with learners. */
export function clusterService(s: EtcdServer): ServiceImplementation<typeof etcdserverpb.ClusterService> {
  return {
    memberAdd: (r) => s.memberAdd(r),
    memberRemove: (r) => s.memberRemove(r),
    memberUpdate: (r) => s.memberUpdate(r),
    memberPromote: (r) => s.memberPromote(r),
    memberList: async () => ({
      // etcd's ClusterServer header carries no revision (cluster, member and term only).
      header: s.header(0n),
      members: s.members().map((m) => ({
        ID: m.id,
        name: m.name,
        peerURLs: m.peerUrls,
        clientURLs: m.clientUrls,
        isLearner: m.isLearner,
      })),
    }),
  };
}
