import { mvccpb, type etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import { alarmName, goQuote } from "./goformat.js";
import { nilPrinterPanic, unsupported, type EpHashKV, type EpHealth, type EpStatus, type Printer } from "./printer.js";
import type { DBStatus } from "../ctl/snapshot_status.js";

/** FieldsPrinter is `-w fields`: one `"Name" : value` line per field, strings Go-quoted. */
export class FieldsPrinter implements Printer {
  private readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  private line(s: string): void {
    this.io.out(s + "\n");
  }

  private kv(pfx: string, kv: mvccpb.KeyValue): void {
    this.line(`"${pfx}Key" : ${goQuote(kv.key)}`);
    this.line(`"${pfx}CreateRevision" : ${kv.createRevision}`);
    this.line(`"${pfx}ModRevision" : ${kv.modRevision}`);
    this.line(`"${pfx}Version" : ${kv.version}`);
    this.line(`"${pfx}Value" : ${goQuote(kv.value)}`);
    this.line(`"${pfx}Lease" : ${kv.lease}`);
  }

  private hdr(h: etcdserverpb.ResponseHeader | undefined): void {
    this.line(`"ClusterID" : ${h?.clusterId ?? 0n}`);
    this.line(`"MemberID" : ${h?.memberId ?? 0n}`);
    this.line(`"Revision" : ${h?.revision ?? 0n}`);
    this.line(`"RaftTerm" : ${h?.raftTerm ?? 0n}`);
  }

  get(r: etcdserverpb.RangeResponse): void {
    this.hdr(r.header);
    for (const kv of r.kvs) this.kv("", kv);
    this.line(`"More" : ${r.more}`);
    this.line(`"Count" : ${r.count}`);
  }

  put(r: etcdserverpb.PutResponse): void {
    this.hdr(r.header);
    if (r.prevKv !== undefined) this.kv("Prev", r.prevKv);
  }

  del(r: etcdserverpb.DeleteRangeResponse): void {
    this.hdr(r.header);
    this.line(`"Deleted" : ${r.deleted}`);
    for (const kv of r.prevKvs) this.kv("Prev", kv);
  }

  txn(r: etcdserverpb.TxnResponse): void {
    this.hdr(r.header);
    this.line(`"Succeeded" : ${r.succeeded}`);
    for (const op of r.responses) {
      if (op.responseDeleteRange !== undefined) this.del(op.responseDeleteRange);
      else if (op.responsePut !== undefined) this.put(op.responsePut);
      else if (op.responseRange !== undefined) this.get(op.responseRange);
      else this.line(`"Unknown" : ${goQuote("<nil>")}`);
    }
  }

  endpointStatus(list: EpStatus[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.line(`"Version" : ${goQuote(resp.version)}`);
      this.line(`"DBSize" : ${resp.dbSize}`);
      this.line(`"Leader" : ${resp.leader}`);
      this.line(`"IsLearner" : ${resp.isLearner}`);
      this.line(`"RaftIndex" : ${resp.raftIndex}`);
      this.line(`"RaftTerm" : ${resp.raftTerm}`);
      this.line(`"RaftAppliedIndex" : ${resp.raftAppliedIndex}`);
      this.line(`"Errors" : [${resp.errors.join(" ")}]`);
      this.line(`"Endpoint" : ${goQuote(ep)}`);
      this.line("");
    }
  }

  endpointHealth(list: EpHealth[]): void {
    for (const h of list) {
      this.line(`"Endpoint" : ${goQuote(h.ep)}`);
      this.line(`"Health" : ${h.health}`);
      this.line(`"Took" : ${h.took}`);
      this.line(`"Error" : ${h.error}`);
      this.line("");
    }
  }

  dbStatus(s: DBStatus): void {
    this.line(`"Hash" : ${s.hash}`);
    this.line(`"Revision" : ${s.revision}`);
    this.line(`"Keys" : ${s.totalKey}`);
    this.line(`"Size" : ${s.totalSize}`);
  }

  endpointHashKV(list: EpHashKV[]): void {
    for (const h of list) {
      this.hdr(h.resp.header);
      this.line(`"Endpoint" : ${goQuote(h.ep)}`);
      this.line(`"Hash" : ${h.resp.hash}`);
      this.line("");
    }
  }

  memberAdd(_r: etcdserverpb.MemberAddResponse): void {
    unsupported("fields");
  }

  memberRemove(_id: bigint, _r: etcdserverpb.MemberRemoveResponse): void {
    unsupported("fields");
  }

  memberUpdate(_id: bigint, _r: etcdserverpb.MemberUpdateResponse): void {
    unsupported("fields");
  }

  memberPromote(_id: bigint, _r: etcdserverpb.MemberPromoteResponse): void {
    nilPrinterPanic();
  }

  memberList(r: etcdserverpb.MemberListResponse): void {
    this.hdr(r.header);
    for (const m of r.members) {
      this.line(`"ID" : ${m.ID}`);
      this.line(`"Name" : ${goQuote(m.name)}`);
      for (const u of m.peerURLs) this.line(`"PeerURL" : ${goQuote(u)}`);
      for (const u of m.clientURLs) this.line(`"ClientURL" : ${goQuote(u)}`);
      this.line(`"IsLearner" : ${m.isLearner}`);
      this.line("");
    }
  }

  moveLeader(_leader: bigint, _target: bigint, _r: etcdserverpb.MoveLeaderResponse): void {
    unsupported("fields");
  }

  alarm(r: etcdserverpb.AlarmResponse): void {
    // etcd answers Alarm without a header, and etcdctl 3.4's fields printer dereferences it.
    if (r.header === undefined) nilPrinterPanic();
    this.hdr(r.header);
    for (const a of r.alarms) {
      this.line(`"MemberID" : ${a.memberID}`);
      this.line(`"AlarmType" : ${alarmName(a.alarm)}`);
    }
  }

  watch(r: etcdserverpb.WatchResponse): void {
    this.hdr(r.header);
    for (const ev of r.events) {
      const t = ev.type === mvccpb.Event_EventType.DELETE ? "DELETE" : ev.type === mvccpb.Event_EventType.PUT ? "PUT" : String(ev.type);
      this.line(`"Type" : ${t}`);
      if (ev.prevKv !== undefined) this.kv("Prev", ev.prevKv);
      if (ev.kv !== undefined) this.kv("", ev.kv);
    }
  }

  grant(r: etcdserverpb.LeaseGrantResponse): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
  }

  revoke(_id: bigint, r: etcdserverpb.LeaseRevokeResponse): void {
    this.hdr(r.header);
  }

  keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
  }

  timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse, _keys: boolean): void {
    this.hdr(r.header);
    this.line(`"ID" : ${r.ID}`);
    this.line(`"TTL" : ${r.TTL}`);
    this.line(`"GrantedTTL" : ${r.grantedTTL}`);
    for (const k of r.keys) this.line(`"Key" : ${goQuote(k)}`);
  }

  leases(r: etcdserverpb.LeaseLeasesResponse): void {
    this.hdr(r.header);
    for (const l of r.leases) this.line(`"ID" : ${l.ID}`);
  }
}
