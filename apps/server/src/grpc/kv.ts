import type { etcdserverpb } from "@etcd-ts/proto";
import type { ServiceImplementation } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { authOf } from "./auth.js";

/** kvService implements etcdserverpb.KV on an EtcdServer. */
export function kvService(s: EtcdServer): ServiceImplementation<typeof etcdserverpb.KVService> {
  return {
    range: (r, call) => s.range(r, authOf(call)),
    put: (r, call) => s.put(r, authOf(call)),
    deleteRange: (r, call) => s.deleteRange(r, authOf(call)),
    txn: (r, call) => s.txn(r, authOf(call)),
    compact: (r, call) => s.compact(r, authOf(call)),
  };
}
