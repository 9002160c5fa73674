import { etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import { unsupported, type EpHashKV, type EpHealth, type EpStatus, type Printer } from "./printer.js";

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
}
