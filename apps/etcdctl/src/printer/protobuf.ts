import { etcdserverpb } from "@etcd-ts/proto";
import { ExitCode, exitWithError, type Io } from "../ctl/io.js";
import { nilPrinterPanic, unsupported, type EpHashKV, type EpHealth, type EpStatus, type Printer } from "./printer.js";
import type { DBStatus } from "../ctl/snapshot_status.js";

/** ProtobufPrinter is `-w protobuf`: the response's wire encoding, raw, with no newline. */
export class ProtobufPrinter implements Printer {
  private readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  get(r: etcdserverpb.RangeResponse): void {
    this.io.out(Buffer.from(etcdserverpb.RangeResponse.encode(r).finish()));
  }

  put(r: etcdserverpb.PutResponse): void {
    this.io.out(Buffer.from(etcdserverpb.PutResponse.encode(r).finish()));
  }

  del(r: etcdserverpb.DeleteRangeResponse): void {
    this.io.out(Buffer.from(etcdserverpb.DeleteRangeResponse.encode(r).finish()));
  }

  txn(r: etcdserverpb.TxnResponse): void {
    this.io.out(Buffer.from(etcdserverpb.TxnResponse.encode(r).finish()));
  }

  endpointStatus(_list: EpStatus[]): void {
    unsupported("protobuf");
  }

  endpointHealth(_list: EpHealth[]): void {
    unsupported("protobuf");
  }

  dbStatus(_s: DBStatus): void {
    unsupported("protobuf");
  }

  endpointHashKV(_list: EpHashKV[]): void {
    unsupported("protobuf");
  }

  memberAdd(r: etcdserverpb.MemberAddResponse): void {
    this.io.out(Buffer.from(etcdserverpb.MemberAddResponse.encode(r).finish()));
  }

  memberRemove(_id: bigint, r: etcdserverpb.MemberRemoveResponse): void {
    this.io.out(Buffer.from(etcdserverpb.MemberRemoveResponse.encode(r).finish()));
  }

  memberUpdate(_id: bigint, r: etcdserverpb.MemberUpdateResponse): void {
    this.io.out(Buffer.from(etcdserverpb.MemberUpdateResponse.encode(r).finish()));
  }

  memberPromote(_id: bigint, _r: etcdserverpb.MemberPromoteResponse): void {
    nilPrinterPanic();
  }

  memberList(r: etcdserverpb.MemberListResponse): void {
    this.io.out(Buffer.from(etcdserverpb.MemberListResponse.encode(r).finish()));
  }

  moveLeader(_leader: bigint, _target: bigint, r: etcdserverpb.MoveLeaderResponse): void {
    this.io.out(Buffer.from(etcdserverpb.MoveLeaderResponse.encode(r).finish()));
  }

  alarm(r: etcdserverpb.AlarmResponse): void {
    this.io.out(Buffer.from(etcdserverpb.AlarmResponse.encode(r).finish()));
  }

  /** watch encodes what etcdctl rebuilds from the Go client's response: no watch ID, no cancel reason. */
  watch(r: etcdserverpb.WatchResponse): void {
    const wr = etcdserverpb.WatchResponse.fromPartial({
      header: r.header ?? {},
      events: r.events,
      compactRevision: r.compactRevision,
      canceled: r.canceled,
      created: r.created,
    });
    this.io.out(Buffer.from(etcdserverpb.WatchResponse.encode(wr).finish()));
  }

  // The Go client's lease responses embed *ResponseHeader, whose Marshal is promoted: etcdctl
  // prints the header alone.
  grant(r: etcdserverpb.LeaseGrantResponse): void {
    this.header(r.header);
  }

  /** revoke: clientv3.LeaseRevokeResponse has no Marshal; etcdctl exits 4 with its %v. */
  revoke(_id: bigint, r: etcdserverpb.LeaseRevokeResponse): void {
    exitWithError(
      ExitCode.BadFeature,
      `marshal unsupported for type clientv3.LeaseRevokeResponse ({${r.header === undefined ? "<nil>" : headerText(r.header)}})`,
    );
  }

  keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.header(r.header);
  }

  timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse, _keys: boolean): void {
    this.header(r.header);
  }

  leases(r: etcdserverpb.LeaseLeasesResponse): void {
    this.header(r.header);
  }

  private header(h: etcdserverpb.ResponseHeader | undefined): void {
    this.io.out(Buffer.from(etcdserverpb.ResponseHeader.encode(h ?? etcdserverpb.ResponseHeader.create()).finish()));
  }
}

/** headerText is gogo/protobuf's CompactTextString of a ResponseHeader (non-zero fields, each followed by a space). */
export function headerText(h: etcdserverpb.ResponseHeader): string {
  let s = "";
  if (h.clusterId !== 0n) s += `cluster_id:${h.clusterId} `;
  if (h.memberId !== 0n) s += `member_id:${h.memberId} `;
  if (h.revision !== 0n) s += `revision:${h.revision} `;
  if (h.raftTerm !== 0n) s += `raft_term:${h.raftTerm} `;
  return s;
}
