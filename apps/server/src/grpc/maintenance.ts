import { status as Status } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";
import { RpcError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ServiceHandlers } from "./lite_server.js";
import { unary } from "./unary.js";

/**
 * maintenanceService implements the parts of etcdserverpb.Maintenance that etcd-ts has:
 * Status, Hash, HashKV, Defragment, MoveLeader and Alarm GET
 * (no alarm can be raised yet, so the list is empty). Snapshot is not offered yet and
 * answers Unimplemented, as grpc does for a method a server lacks.
 */
export function maintenanceService(s: EtcdServer, logger: Logger): ServiceHandlers {
  return {
    status: unary(logger, "Status", () => s.status()),
    hash: unary(logger, "Hash", () => s.hash()),
    hashKv: unary(logger, "HashKV", (r: etcdserverpb.HashKVRequest) => s.hashKV(r)),
    defragment: unary(logger, "Defragment", async () => {
      await s.defragment();
      return { header: s.header(s.kv.currentRevision) };
    }),
    alarm: unary(logger, "Alarm", async (r: etcdserverpb.AlarmRequest) => {
      if (r.action !== etcdserverpb.AlarmRequest_AlarmAction.GET) {
        throw new RpcError(Status.UNIMPLEMENTED, "etcd-ts: raising or clearing alarms is not supported yet");
      }
      return { header: s.header(s.kv.currentRevision), alarms: [] };
    }),
    moveLeader: unary(logger, "MoveLeader", async (r: etcdserverpb.MoveLeaderRequest) => {
      await s.moveLeader(r.targetID);
      // etcd 3.4 answers MoveLeader without a header.
      return { header: undefined };
    }),
  };
}
