import { mvccpb, type etcdserverpb } from "@etcd-ts/proto";
import { alarmName, goHex016 } from "./goformat.js";
import type { Io } from "../ctl/io.js";
import { endpointStatusRows, endpointHashKVRows, memberListRows } from "./rows.js";
import type { EpHashKV, EpHealth, EpStatus, Printer } from "./printer.js";
import type { DBStatus } from "../ctl/snapshot_status.js";
import { dbStatusRow } from "./rows.js";

/** hexEscaped renders bytes as "\x66\x6f\x6f" (etcdctl's --hex). */
export function hexEscaped(b: Uint8Array): string {
  let s = "";
  for (const byte of b) s += "\\x" + byte.toString(16).padStart(2, "0");
  return s;
}

/** hex16 is Go's %16x: lower-case hex, space-padded to 16 columns. */
function hex16(v: bigint): string {
  return v.toString(16).padStart(16, " ");
}

/** SimplePrinter is etcdctl's default output: raw keys and values, one per line. */
export class SimplePrinter implements Printer {
  private readonly io: Io;
  private readonly isHex: boolean;
  /** valueOnly is set by `get --print-value-only`. */
  valueOnly = false;

  constructor(io: Io, isHex: boolean) {
    this.io = io;
    this.isHex = isHex;
  }

  private kv(kv: mvccpb.KeyValue): void {
    if (this.isHex) {
      if (!this.valueOnly) this.io.out(hexEscaped(kv.key) + "\n");
      this.io.out(hexEscaped(kv.value) + "\n");
      return;
    }
    if (!this.valueOnly) this.io.out(Buffer.concat([kv.key, Buffer.from("\n")]));
    this.io.out(Buffer.concat([kv.value, Buffer.from("\n")]));
  }

  get(r: etcdserverpb.RangeResponse): void {
    for (const kv of r.kvs) this.kv(kv);
  }

  put(r: etcdserverpb.PutResponse): void {
    this.io.out("OK\n");
    if (r.prevKv !== undefined) this.kv(r.prevKv);
  }

  del(r: etcdserverpb.DeleteRangeResponse): void {
    this.io.out(`${r.deleted}\n`);
    for (const kv of r.prevKvs) this.kv(kv);
  }

  txn(r: etcdserverpb.TxnResponse): void {
    this.io.out(r.succeeded ? "SUCCESS\n" : "FAILURE\n");
    for (const op of r.responses) {
      this.io.out("\n");
      if (op.responseDeleteRange !== undefined) this.del(op.responseDeleteRange);
      else if (op.responsePut !== undefined) this.put(op.responsePut);
      else if (op.responseRange !== undefined) this.get(op.responseRange);
      else this.io.out("unexpected response\n");
    }
  }

  endpointStatus(list: EpStatus[]): void {
    for (const row of endpointStatusRows(list)) this.io.out(row.join(", ") + "\n");
  }

  endpointHealth(list: EpHealth[]): void {
    for (const h of list) {
      if (h.error === "") this.io.err(`${h.ep} is healthy: successfully committed proposal: took = ${h.took}\n`);
      else this.io.err(`${h.ep} is unhealthy: failed to commit proposal: ${h.error}\n`);
    }
  }

  dbStatus(s: DBStatus): void {
    this.io.out(dbStatusRow(s).join(", ") + "\n");
  }

  endpointHashKV(list: EpHashKV[]): void {
    for (const row of endpointHashKVRows(list)) this.io.out(row.join(", ") + "\n");
  }

  memberAdd(r: etcdserverpb.MemberAddResponse): void {
    this.io.out(`Member ${hex16(r.member?.ID ?? 0n)} added to cluster ${hex16(r.header?.clusterId ?? 0n)}\n`);
  }

  memberRemove(id: bigint, r: etcdserverpb.MemberRemoveResponse): void {
    this.io.out(`Member ${hex16(id)} removed from cluster ${hex16(r.header?.clusterId ?? 0n)}\n`);
  }

  memberUpdate(id: bigint, r: etcdserverpb.MemberUpdateResponse): void {
    this.io.out(`Member ${hex16(id)} updated in cluster ${hex16(r.header?.clusterId ?? 0n)}\n`);
  }

  memberPromote(id: bigint, r: etcdserverpb.MemberPromoteResponse): void {
    this.io.out(`Member ${hex16(id)} promoted in cluster ${hex16(r.header?.clusterId ?? 0n)}\n`);
  }

  memberList(r: etcdserverpb.MemberListResponse): void {
    for (const row of memberListRows(r)) this.io.out(row.join(", ") + "\n");
  }

  /** alarm prints each alarm as Go's %+v of an *AlarmMember: its compact proto text, with a trailing space. */
  alarm(r: etcdserverpb.AlarmResponse): void {
    for (const a of r.alarms) {
      let line = "";
      if (a.memberID !== 0n) line += `memberID:${a.memberID} `;
      if (a.alarm !== 0) line += `alarm:${alarmName(a.alarm)} `;
      this.io.out(line + "\n");
    }
  }

  moveLeader(leader: bigint, target: bigint, _r: etcdserverpb.MoveLeaderResponse): void {
    this.io.out(`Leadership transferred from ${leader.toString(16)} to ${target.toString(16)}\n`);
  }

  watch(r: etcdserverpb.WatchResponse): void {
    for (const ev of r.events) {
      this.io.out(ev.type === mvccpb.Event_EventType.DELETE ? "DELETE\n" : ev.type === mvccpb.Event_EventType.PUT ? "PUT\n" : `${ev.type}\n`);
      if (ev.prevKv !== undefined) this.kv(ev.prevKv);
      if (ev.kv !== undefined) this.kv(ev.kv);
    }
  }

  grant(r: etcdserverpb.LeaseGrantResponse): void {
    this.io.out(`lease ${goHex016(r.ID)} granted with TTL(${r.TTL}s)\n`);
  }

  revoke(id: bigint, _r: etcdserverpb.LeaseRevokeResponse): void {
    this.io.out(`lease ${goHex016(id)} revoked\n`);
  }

  keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.io.out(`lease ${goHex016(r.ID)} keepalived with TTL(${r.TTL})\n`);
  }

  timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse, keys: boolean): void {
    if (r.grantedTTL === 0n && r.TTL === -1n) {
      this.io.out(`lease ${goHex016(r.ID)} already expired\n`);
      return;
    }
    let txt = Buffer.from(`lease ${goHex016(r.ID)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`);
    if (keys) {
      // Go's %v of a []string: the raw keys, space-separated, in brackets.
      const parts: Buffer[] = [Buffer.from(", attached keys([")];
      r.keys.forEach((k, i) => {
        if (i > 0) parts.push(Buffer.from(" "));
        parts.push(Buffer.from(k));
      });
      parts.push(Buffer.from("])"));
      txt = Buffer.concat([txt, ...parts]);
    }
    this.io.out(Buffer.concat([txt, Buffer.from("\n")]));
  }

  leases(r: etcdserverpb.LeaseLeasesResponse): void {
    this.io.out(`found ${r.leases.length} leases\n`);
    for (const l of r.leases) this.io.out(`${goHex016(l.ID)}\n`);
  }
}
