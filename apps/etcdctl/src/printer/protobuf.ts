import { etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import { nilPrinterPanic, unsupported, type EpHashKV, type EpHealth, type EpStatus, type Printer } from "./printer.js";

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
}
