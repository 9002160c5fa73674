import { etcdserverpb } from "@etcd-ts/proto";
import { GrpcError, Status, type ServiceImplementation } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";

/**
 * maintenanceService implements the parts of etcdserverpb.Maintenance that etcd-ts has:
 * Status, Hash, HashKV, Defragment, MoveLeader and Alarm GET
 * (no alarm can be raised yet, so the list is empty). Snapshot is not offered yet and
 * answers Unimplemented, as grpc does for a method a server lacks.
 */
export function maintenanceService(s: EtcdServer): ServiceImplementation<typeof etcdserverpb.MaintenanceService> {
  return {
    status: () => s.status(),
    hash: () => s.hash(),
    hashKv: (r) => s.hashKV(r),
    defragment: async () => {
      await s.defragment();
      return { header: s.header(s.kv.currentRevision) };
    },
    alarm: async (r) => {
      if (r.action !== etcdserverpb.AlarmRequest_AlarmAction.GET) {
        throw new GrpcError(Status.UNIMPLEMENTED, "etcd-ts: raising or clearing alarms is not supported yet");
      }
      return { header: s.header(s.kv.currentRevision), alarms: [] };
    },
    moveLeader: async (r) => {
      await s.moveLeader(r.targetID);
      // etcd 3.4 answers MoveLeader without a header.
      return { header: undefined };
    },
  };
}
