import type { etcdserverpb } from "@etcd-ts/proto";
import type { CallContext, ServiceImplementation } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { authOf } from "./auth.js";

/** admin runs fn if the call's user has the root role (or auth is off). */
async function admin<T>(s: EtcdServer, call: CallContext, fn: () => Promise<T>): Promise<T> {
  s.auth.isAdminPermitted(authOf(call));
  return fn();
}

/** clusterService implements etcdserverpb.Cluster: membership changes through raft, with learners. */
export function clusterService(s: EtcdServer): ServiceImplementation<typeof etcdserverpb.ClusterService> {
  return {
    // etcd checks membership changes for the root role in its API layer (checkMembershipOperationPermission).
    memberAdd: (r, call) => admin(s, call, () => s.memberAdd(r)),
    memberRemove: (r, call) => admin(s, call, () => s.memberRemove(r)),
    memberUpdate: (r, call) => admin(s, call, () => s.memberUpdate(r)),
    memberPromote: (r, call) => admin(s, call, () => s.memberPromote(r)),
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
