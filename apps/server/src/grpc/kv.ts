import type { etcdserverpb } from "@etcd-ts/proto";
import type { ServiceImplementation } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";

/** kvService implements etcdserverpb.KV on an EtcdServer. */
export function kvService(s: EtcdServer): ServiceImplementation<typeof etcdserverpb.KVService> {
  return {
    range: (r) => s.range(r),
    put: (r) => s.put(r),
    deleteRange: (r) => s.deleteRange(r),
    txn: (r) => s.txn(r),
    compact: (r) => s.compact(r),
  };
}
