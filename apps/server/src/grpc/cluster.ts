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
      header: s.header(s.kv.currentRevision),
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
