import type { etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import { ExitCode, exitWithError } from "../ctl/io.js";
import { GoPanic } from "../ctl/txnparse.js";
import { FieldsPrinter } from "./fields.js";
import { JSONPrinter } from "./json.js";
import { ProtobufPrinter } from "./protobuf.js";
import { SimplePrinter } from "./simple.js";
import { TablePrinter } from "./table.js";
import type { DBStatus } from "../ctl/snapshot_status.js";

/** EpStatus is one answered `endpoint status` (etcdctl's epStatus). */
export interface EpStatus {
  ep: string;
  resp: etcdserverpb.StatusResponse;
}

/** EpHealth is one `endpoint health` result; took is a Go duration string ("" when not measured). */
export interface EpHealth {
  ep: string;
  health: boolean;
  took: string;
  error: string;
}

/** EpHashKV is one answered `endpoint hashkv`. */
export interface EpHashKV {
  ep: string;
  resp: etcdserverpb.HashKVResponse;
}

/** Printer renders command results in one output format (-w). */
export interface Printer {
  get(r: etcdserverpb.RangeResponse): void;
  put(r: etcdserverpb.PutResponse): void;
  del(r: etcdserverpb.DeleteRangeResponse): void;
  txn(r: etcdserverpb.TxnResponse): void;
  endpointStatus(list: EpStatus[]): void;
  endpointHealth(list: EpHealth[]): void;
  endpointHashKV(list: EpHashKV[]): void;
  memberAdd(r: etcdserverpb.MemberAddResponse): void;
  memberRemove(id: bigint, r: etcdserverpb.MemberRemoveResponse): void;
  memberUpdate(id: bigint, r: etcdserverpb.MemberUpdateResponse): void;
  memberPromote(id: bigint, r: etcdserverpb.MemberPromoteResponse): void;
  memberList(r: etcdserverpb.MemberListResponse): void;
  moveLeader(leader: bigint, target: bigint, r: etcdserverpb.MoveLeaderResponse): void;
  /** alarm prints `alarm list` and `alarm disarm`. */
  alarm(r: etcdserverpb.AlarmResponse): void;
  /** watch prints one watch response (events, or an empty progress/cancel response). */
  watch(r: etcdserverpb.WatchResponse): void;
  grant(r: etcdserverpb.LeaseGrantResponse): void;
  revoke(id: bigint, r: etcdserverpb.LeaseRevokeResponse): void;
  keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void;
  timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse, keys: boolean): void;
  leases(r: etcdserverpb.LeaseLeasesResponse): void;
  /** dbStatus prints `snapshot status`. */
  dbStatus(s: DBStatus): void;
}

/** unsupported is what a format does for a result it cannot print (exit 4, like etcdctl). */
export function unsupported(format: string): never {
  return exitWithError(ExitCode.BadFeature, `${format} not supported as output format`);
}

/**
 * nilPrinterPanic is what etcdctl 3.4 does for `member promote` in every format but simple:
 * its printer has no MemberPromote and calls through a nil interface (a Go panic, exit 2).
 */
export function nilPrinterPanic(): never {
  throw new GoPanic("runtime error: invalid memory address or nil pointer dereference");
}

/** newPrinter returns the printer for -w format, or undefined for an unknown format. */
export function newPrinter(format: string, isHex: boolean, io: Io): Printer | undefined {
  switch (format) {
    case "simple":
      return new SimplePrinter(io, isHex);
    case "fields":
      return new FieldsPrinter(io);
    case "json":
      return new JSONPrinter(io);
    case "protobuf":
      return new ProtobufPrinter(io);
    case "table":
      return new TablePrinter(io);
    default:
      return undefined;
  }
}
