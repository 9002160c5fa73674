import type { etcdserverpb } from "@etcd-ts/proto";
import type { ServiceImplementation } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { authOf } from "./auth.js";

/**
 * maintenanceService implements the parts of etcdserverpb.Maintenance that etcd-ts has:
 * Status, Hash, HashKV, Defragment, MoveLeader and Alarm (raise, clear and list, through
 * raft). Snapshot is not offered yet and answers Unimplemented, as grpc does for a method a
 * server lacks.
 */
export function maintenanceService(s: EtcdServer): ServiceImplementation<typeof etcdserverpb.MaintenanceService> {
  return {
    status: () => s.status(),
    hash: async (_r, call) => {
      s.auth.isAdminPermitted(authOf(call));
      return s.hash();
    },
    hashKv: async (r, call) => {
      s.auth.isAdminPermitted(authOf(call));
      return s.hashKV(r);
    },
    defragment: async (_r, call) => {
      s.auth.isAdminPermitted(authOf(call));
      await s.defragment();
      return { header: s.header(s.kv.currentRevision) };
    },
    alarm: (r) => s.alarm(r),
    moveLeader: async (r) => {
      await s.moveLeader(r.targetID);
      // etcd 3.4 answers MoveLeader without a header.
      return { header: undefined };
    },
  };
}
