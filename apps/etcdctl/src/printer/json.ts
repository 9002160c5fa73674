import type { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import { goJSONString } from "./goformat.js";
import { nilPrinterPanic, type EpHashKV, type EpHealth, type EpStatus, type Printer } from "./printer.js";
import type { DBStatus } from "../ctl/snapshot_status.js";

/**
 * JSON encoders reproducing Go's encoding/json of etcd's gogo-generated structs: snake_case
 * tags with omitempty, 64-bit integers as exact numbers, bytes as standard base64, oneof
 * wrappers as {"Response":{"ResponsePut":...}}.
 */
type Field = [string, string | undefined];

function obj(fields: Field[]): string {
  return "{" + fields.filter((f) => f[1] !== undefined).map(([k, v]) => `"${k}":${v}`).join(",") + "}";
}
const num = (v: bigint | number): string | undefined => (v === 0n || v === 0 ? undefined : v.toString());
const bool = (b: boolean): string | undefined => (b ? "true" : undefined);
const bytes = (b: Uint8Array): string | undefined =>
  b.length === 0 ? undefined : `"${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")}"`;
const str = (s: string): string | undefined => (s === "" ? undefined : goJSONString(s));
function arr<T>(list: readonly T[], f: (x: T) => string): string | undefined {
  return list.length === 0 ? undefined : `[${list.map(f).join(",")}]`;
}

export function headerJSON(h: etcdserverpb.ResponseHeader | undefined): string | undefined {
  if (h === undefined) return undefined;
  return obj([
    ["cluster_id", num(h.clusterId)],
    ["member_id", num(h.memberId)],
    ["revision", num(h.revision)],
    ["raft_term", num(h.raftTerm)],
  ]);
}

export function keyValueJSON(kv: mvccpb.KeyValue): string {
  return obj([
    ["key", bytes(kv.key)],
    ["create_revision", num(kv.createRevision)],
    ["mod_revision", num(kv.modRevision)],
    ["version", num(kv.version)],
    ["value", bytes(kv.value)],
    ["lease", num(kv.lease)],
  ]);
}

export function rangeJSON(r: etcdserverpb.RangeResponse): string {
  return obj([
    ["header", headerJSON(r.header)],
    ["kvs", arr(r.kvs, keyValueJSON)],
    ["more", bool(r.more)],
    ["count", num(r.count)],
  ]);
}

export function putJSON(r: etcdserverpb.PutResponse): string {
  return obj([
    ["header", headerJSON(r.header)],
    ["prev_kv", r.prevKv === undefined ? undefined : keyValueJSON(r.prevKv)],
  ]);
}

export function deleteJSON(r: etcdserverpb.DeleteRangeResponse): string {
  return obj([
    ["header", headerJSON(r.header)],
    ["deleted", num(r.deleted)],
    ["prev_kvs", arr(r.prevKvs, keyValueJSON)],
  ]);
}

function responseOpJSON(op: etcdserverpb.ResponseOp): string {
  let inner: string | undefined;
  if (op.responseRange !== undefined) inner = obj([["ResponseRange", rangeJSON(op.responseRange)]]);
  else if (op.responsePut !== undefined) inner = obj([["ResponsePut", putJSON(op.responsePut)]]);
  else if (op.responseDeleteRange !== undefined) {
    inner = obj([["ResponseDeleteRange", deleteJSON(op.responseDeleteRange)]]);
  } else if (op.responseTxn !== undefined) inner = obj([["ResponseTxn", txnJSON(op.responseTxn)]]);
  return obj([["Response", inner]]);
}

export function txnJSON(r: etcdserverpb.TxnResponse): string {
  return obj([
    ["header", headerJSON(r.header)],
    ["succeeded", bool(r.succeeded)],
    ["responses", arr(r.responses, responseOpJSON)],
  ]);
}

export function statusJSON(r: etcdserverpb.StatusResponse): string {
  return obj([
    ["header", headerJSON(r.header)],
    ["version", str(r.version)],
    ["dbSize", num(r.dbSize)],
    ["leader", num(r.leader)],
    ["raftIndex", num(r.raftIndex)],
    ["raftTerm", num(r.raftTerm)],
    ["raftAppliedIndex", num(r.raftAppliedIndex)],
    ["errors", arr(r.errors, goJSONString)],
    ["dbSizeInUse", num(r.dbSizeInUse)],
    ["isLearner", bool(r.isLearner)],
  ]);
}

export function hashKVJSON(r: etcdserverpb.HashKVResponse): string {
  return obj([
    ["header", headerJSON(r.header)],
    ["hash", num(r.hash)],
    ["compact_revision", num(r.compactRevision)],
  ]);
}

export function memberJSON(m: etcdserverpb.Member): string {
  return obj([
    ["ID", num(m.ID)],
    ["name", str(m.name)],
    ["peerURLs", arr(m.peerURLs, goJSONString)],
    ["clientURLs", arr(m.clientURLs, goJSONString)],
    ["isLearner", bool(m.isLearner)],
  ]);
}

/** membersJSON encodes the responses made of a header and the member list. */
export function membersJSON(r: { header: etcdserverpb.ResponseHeader | undefined; members: etcdserverpb.Member[] }): string {
  return obj([
    ["header", headerJSON(r.header)],
    ["members", arr(r.members, memberJSON)],
  ]);
}

export function memberAddJSON(r: etcdserverpb.MemberAddResponse): string {
  return obj([
    ["header", headerJSON(r.header)],
    ["member", r.member === undefined ? undefined : memberJSON(r.member)],
    ["members", arr(r.members, memberJSON)],
  ]);
}

/** headerFields are a *ResponseHeader embedded in a Go struct: its fields promoted (omitempty). */
function headerFields(h: etcdserverpb.ResponseHeader | undefined): Field[] {
  if (h === undefined) return [];
  return [
    ["cluster_id", num(h.clusterId)],
    ["member_id", num(h.memberId)],
    ["revision", num(h.revision)],
    ["raft_term", num(h.raftTerm)],
  ];
}

function eventJSON(ev: mvccpb.Event): string {
  return obj([
    ["type", num(ev.type)],
    ["kv", ev.kv === undefined ? undefined : keyValueJSON(ev.kv)],
    ["prev_kv", ev.prevKv === undefined ? undefined : keyValueJSON(ev.prevKv)],
  ]);
}

/** watchJSON is clientv3.WatchResponse: exported fields without tags, Header a value, Events never null. */
export function watchJSON(r: etcdserverpb.WatchResponse): string {
  return (
    `{"Header":${headerJSON(r.header) ?? "{}"},"Events":[${r.events.map(eventJSON).join(",")}],` +
    `"CompactRevision":${r.compactRevision},"Canceled":${r.canceled},"Created":${r.created}}`
  );
}

/** leaseGrantJSON is clientv3.LeaseGrantResponse (ID, TTL and Error have no tags, no omitempty). */
export function leaseGrantJSON(r: etcdserverpb.LeaseGrantResponse): string {
  return obj([...headerFields(r.header), ["ID", r.ID.toString()], ["TTL", r.TTL.toString()], ["Error", goJSONString(r.error)]]);
}

export function leaseKeepAliveJSON(r: etcdserverpb.LeaseKeepAliveResponse): string {
  return obj([...headerFields(r.header), ["ID", r.ID.toString()], ["TTL", r.TTL.toString()]]);
}

/** leaseTimeToLiveJSON: keys is null when the server sent none (a nil slice in Go). */
export function leaseTimeToLiveJSON(r: etcdserverpb.LeaseTimeToLiveResponse): string {
  return obj([
    ...headerFields(r.header),
    ["id", r.ID.toString()],
    ["ttl", r.TTL.toString()],
    ["granted-ttl", r.grantedTTL.toString()],
    ["keys", r.keys.length === 0 ? "null" : `[${r.keys.map((k) => `"${Buffer.from(k).toString("base64")}"`).join(",")}]`],
  ]);
}

/** leaseLeasesJSON: leases is always an array (the Go client makes one). */
export function leaseLeasesJSON(r: etcdserverpb.LeaseLeasesResponse): string {
  return obj([...headerFields(r.header), ["leases", `[${r.leases.map((l) => `{"id":${l.ID}}`).join(",")}]`]]);
}

/** JSONPrinter is `-w json`: one line of JSON per result. */
export class JSONPrinter implements Printer {
  private readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  private print(s: string): void {
    this.io.out(s + "\n");
  }

  get(r: etcdserverpb.RangeResponse): void {
    this.print(rangeJSON(r));
  }

  put(r: etcdserverpb.PutResponse): void {
    this.print(putJSON(r));
  }

  del(r: etcdserverpb.DeleteRangeResponse): void {
    this.print(deleteJSON(r));
  }

  txn(r: etcdserverpb.TxnResponse): void {
    this.print(txnJSON(r));
  }

  endpointStatus(list: EpStatus[]): void {
    this.print(`[${list.map((s) => `{"Endpoint":${goJSONString(s.ep)},"Status":${statusJSON(s.resp)}}`).join(",")}]`);
  }

  endpointHealth(list: EpHealth[]): void {
    const one = (h: EpHealth): string =>
      `{"endpoint":${goJSONString(h.ep)},"health":${h.health},"took":${goJSONString(h.took)}` +
      (h.error === "" ? "" : `,"error":${goJSONString(h.error)}`) +
      "}";
    this.print(`[${list.map(one).join(",")}]`);
  }

  dbStatus(s: DBStatus): void {
    this.print(`{"hash":${s.hash},"revision":${s.revision},"totalKey":${s.totalKey},"totalSize":${s.totalSize}}`);
  }

  endpointHashKV(list: EpHashKV[]): void {
    this.print(`[${list.map((h) => `{"Endpoint":${goJSONString(h.ep)},"HashKV":${hashKVJSON(h.resp)}}`).join(",")}]`);
  }

  memberAdd(r: etcdserverpb.MemberAddResponse): void {
    this.print(memberAddJSON(r));
  }

  memberRemove(_id: bigint, r: etcdserverpb.MemberRemoveResponse): void {
    this.print(membersJSON(r));
  }

  memberUpdate(_id: bigint, r: etcdserverpb.MemberUpdateResponse): void {
    this.print(membersJSON(r));
  }

  memberPromote(_id: bigint, _r: etcdserverpb.MemberPromoteResponse): void {
    nilPrinterPanic();
  }

  memberList(r: etcdserverpb.MemberListResponse): void {
    this.print(membersJSON(r));
  }

  moveLeader(_leader: bigint, _target: bigint, r: etcdserverpb.MoveLeaderResponse): void {
    this.print(obj([["header", headerJSON(r.header)]]));
  }

  alarm(r: etcdserverpb.AlarmResponse): void {
    const member = (a: etcdserverpb.AlarmMember): string => obj([["memberID", num(a.memberID)], ["alarm", num(a.alarm)]]);
    this.print(obj([["header", headerJSON(r.header)], ["alarms", arr(r.alarms, member)]]));
  }

  watch(r: etcdserverpb.WatchResponse): void {
    this.print(watchJSON(r));
  }

  grant(r: etcdserverpb.LeaseGrantResponse): void {
    this.print(leaseGrantJSON(r));
  }

  revoke(_id: bigint, r: etcdserverpb.LeaseRevokeResponse): void {
    this.print(obj([["header", headerJSON(r.header)]]));
  }

  keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.print(leaseKeepAliveJSON(r));
  }

  timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse, _keys: boolean): void {
    this.print(leaseTimeToLiveJSON(r));
  }

  leases(r: etcdserverpb.LeaseLeasesResponse): void {
    this.print(leaseLeasesJSON(r));
  }
}
