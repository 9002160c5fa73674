import { etcdserverpb } from "@etcd-ts/proto";
import type { ServiceImplementation } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { authOf } from "./auth.js";
import { sendSnapshot } from "./snapshot.js";

/**
 * MaintenanceServiceDefinition is etcdserverpb.MaintenanceService whose Snapshot responses may
 * also be sent already encoded (a Buffer): each blob is read from the image straight into its
 * message.
 */
export const MaintenanceServiceDefinition = {
  ...etcdserverpb.MaintenanceService,
  snapshot: {
    ...etcdserverpb.MaintenanceService.snapshot,
    responseSerialize: (r: etcdserverpb.SnapshotResponse | Buffer): Buffer =>
      Buffer.isBuffer(r) ? r : etcdserverpb.MaintenanceService.snapshot.responseSerialize(r),
  },
} as const;

/**
 * maintenanceService implements the parts of etcdserverpb.Maintenance that etcd-ts has:
 * Status, Hash, HashKV, Defragment, Snapshot (etcd's bbolt file with its SHA-256, see
 * sendSnapshot), MoveLeader and Alarm (raise, clear and list, through raft). Register it
 * with MaintenanceServiceDefinition.
 */
export function maintenanceService(s: EtcdServer): ServiceImplementation<typeof MaintenanceServiceDefinition> {
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
    snapshot: async (_r, call) => {
      s.auth.isAdminPermitted(authOf(call));
      await sendSnapshot(s, call);
    },
    alarm: (r) => s.alarm(r),
    moveLeader: async (r) => {
      await s.moveLeader(r.targetID);
      // etcd 3.4 answers MoveLeader without a header.
      return { header: undefined };
    },
  };
}
