import type { etcdserverpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";
import type { Logger } from "../log.js";
import type { ServiceHandlers } from "./lite_server.js";
import { unary } from "./unary.js";

/** kvService implements etcdserverpb.KV on an EtcdServer. */
export function kvService(s: EtcdServer, logger: Logger): ServiceHandlers {
  return {
    range: unary(logger, "Range", (r: etcdserverpb.RangeRequest) => s.range(r)),
    put: unary(logger, "Put", (r: etcdserverpb.PutRequest) => s.put(r)),
    deleteRange: unary(logger, "DeleteRange", (r: etcdserverpb.DeleteRangeRequest) => s.deleteRange(r)),
    txn: unary(logger, "Txn", (r: etcdserverpb.TxnRequest) => s.txn(r)),
    compact: unary(logger, "Compact", (r: etcdserverpb.CompactionRequest) => s.compact(r)),
  };
}
