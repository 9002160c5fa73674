import type { etcdserverpb } from "@etcd-ts/proto";
import { humanizeBytes } from "./goformat.js";
import type { DBStatus } from "../ctl/snapshot_status.js";
import type { EpHashKV, EpHealth, EpStatus } from "./printer.js";

/** ENDPOINT_STATUS_HEADER is the column list of `endpoint status` (simple and table). */
export const ENDPOINT_STATUS_HEADER = [
  "endpoint", "ID", "version", "db size", "is leader", "is learner", "raft term", "raft index",
  "raft applied index", "errors",
];

export function endpointStatusRows(list: EpStatus[]): string[][] {
  return list.map(({ ep, resp }) => {
    const memberId = resp.header?.memberId ?? 0n;
    return [
      ep,
      memberId.toString(16),
      resp.version,
      humanizeBytes(resp.dbSize),
      String(resp.leader === memberId),
      String(resp.isLearner),
      resp.raftTerm.toString(),
      resp.raftIndex.toString(),
      resp.raftAppliedIndex.toString(),
      resp.errors.join(", "),
    ];
  });
}

export const ENDPOINT_HEALTH_HEADER = ["endpoint", "health", "took", "error"];

export function endpointHealthRows(list: EpHealth[]): string[][] {
  return list.map((h) => [h.ep, String(h.health), h.took, h.error]);
}

export const ENDPOINT_HASHKV_HEADER = ["endpoint", "hash"];

export function endpointHashKVRows(list: EpHashKV[]): string[][] {
  return list.map((h) => [h.ep, String(h.resp.hash)]);
}

/** MEMBER_LIST_HEADER is the column list of `member list` (simple and table). */
export const MEMBER_LIST_HEADER = ["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"];

/** memberListRows are `member list` rows; a member without a name has not started yet. */
export function memberListRows(r: etcdserverpb.MemberListResponse): string[][] {
  return r.members.map((m) => [
    m.ID.toString(16),
    m.name === "" ? "unstarted" : "started",
    m.name,
    m.peerURLs.join(","),
    m.clientURLs.join(","),
    String(m.isLearner),
  ]);
}

/** DB_STATUS_HEADER is `snapshot status`'s table header (etcdctl's makeDBStatusTable). */
export const DB_STATUS_HEADER = ["hash", "revision", "total keys", "total size"];

/** dbStatusRow is `snapshot status`'s one row: hash in hex, revision, keys, size as go-humanize prints it. */
export function dbStatusRow(s: DBStatus): string[] {
  return [s.hash.toString(16), String(s.revision), String(s.totalKey), humanizeBytes(s.totalSize)];
}
