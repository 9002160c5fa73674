/**
 * gateway_routes.ts is etcd 3.4's JSON gateway route table: the google.api.http annotations
 * of its rpc.proto, v3lock.proto and v3election.proto (every one `post`, body "*"), as
 * HTTP path -> fully-qualified gRPC service and method. Where etcd binds one path twice
 * (/v3/maintenance/hash: Hash, then HashKV) grpc-gateway serves the first registered, so
 * only that one is listed.
 */

/** GatewayRoute names the gRPC method an HTTP path calls. */
export interface GatewayRoute {
  service: string;
  method: string;
}

const KV = "etcdserverpb.KV";
const WATCH = "etcdserverpb.Watch";
const LEASE = "etcdserverpb.Lease";
const CLUSTER = "etcdserverpb.Cluster";
const MAINT = "etcdserverpb.Maintenance";
const AUTH = "etcdserverpb.Auth";
const LOCK = "v3lockpb.Lock";
const ELECTION = "v3electionpb.Election";

const TABLE: [string, string, string][] = [
  ["/v3/kv/range", KV, "Range"],
  ["/v3/kv/put", KV, "Put"],
  ["/v3/kv/deleterange", KV, "DeleteRange"],
  ["/v3/kv/txn", KV, "Txn"],
  ["/v3/kv/compaction", KV, "Compact"],
  ["/v3/watch", WATCH, "Watch"],
  ["/v3/lease/grant", LEASE, "LeaseGrant"],
  ["/v3/lease/revoke", LEASE, "LeaseRevoke"],
  ["/v3/kv/lease/revoke", LEASE, "LeaseRevoke"],
  ["/v3/lease/keepalive", LEASE, "LeaseKeepAlive"],
  ["/v3/lease/timetolive", LEASE, "LeaseTimeToLive"],
  ["/v3/kv/lease/timetolive", LEASE, "LeaseTimeToLive"],
  ["/v3/lease/leases", LEASE, "LeaseLeases"],
  ["/v3/kv/lease/leases", LEASE, "LeaseLeases"],
  ["/v3/cluster/member/add", CLUSTER, "MemberAdd"],
  ["/v3/cluster/member/remove", CLUSTER, "MemberRemove"],
  ["/v3/cluster/member/update", CLUSTER, "MemberUpdate"],
  ["/v3/cluster/member/list", CLUSTER, "MemberList"],
  ["/v3/cluster/member/promote", CLUSTER, "MemberPromote"],
  ["/v3/maintenance/alarm", MAINT, "Alarm"],
  ["/v3/maintenance/status", MAINT, "Status"],
  ["/v3/maintenance/defragment", MAINT, "Defragment"],
  ["/v3/maintenance/hash", MAINT, "Hash"],
  ["/v3/maintenance/snapshot", MAINT, "Snapshot"],
  ["/v3/maintenance/transfer-leadership", MAINT, "MoveLeader"],
  ["/v3/auth/enable", AUTH, "AuthEnable"],
  ["/v3/auth/disable", AUTH, "AuthDisable"],
  ["/v3/auth/authenticate", AUTH, "Authenticate"],
  ["/v3/auth/user/add", AUTH, "UserAdd"],
  ["/v3/auth/user/get", AUTH, "UserGet"],
  ["/v3/auth/user/list", AUTH, "UserList"],
  ["/v3/auth/user/delete", AUTH, "UserDelete"],
  ["/v3/auth/user/changepw", AUTH, "UserChangePassword"],
  ["/v3/auth/user/grant", AUTH, "UserGrantRole"],
  ["/v3/auth/user/revoke", AUTH, "UserRevokeRole"],
  ["/v3/auth/role/add", AUTH, "RoleAdd"],
  ["/v3/auth/role/get", AUTH, "RoleGet"],
  ["/v3/auth/role/list", AUTH, "RoleList"],
  ["/v3/auth/role/delete", AUTH, "RoleDelete"],
  ["/v3/auth/role/grant", AUTH, "RoleGrantPermission"],
  ["/v3/auth/role/revoke", AUTH, "RoleRevokePermission"],
  ["/v3/lock/lock", LOCK, "Lock"],
  ["/v3/lock/unlock", LOCK, "Unlock"],
  ["/v3/election/campaign", ELECTION, "Campaign"],
  ["/v3/election/proclaim", ELECTION, "Proclaim"],
  ["/v3/election/leader", ELECTION, "Leader"],
  ["/v3/election/observe", ELECTION, "Observe"],
  ["/v3/election/resign", ELECTION, "Resign"],
];

/** GATEWAY_ROUTES maps each gateway path (under /v3/) to its gRPC method. */
export const GATEWAY_ROUTES: ReadonlyMap<string, GatewayRoute> = new Map(TABLE.map(([path, service, method]) => [path, { service, method }]));

/**
 * gatewayPath is the /v3/ path a request URL path is served as: /v3beta/... is rewritten to
 * /v3/... (etcd 3.4's accessController does this for backward compatibility; /v3alpha/ is
 * not served by 3.4.23), and anything outside /v3/ is undefined (not the gateway's).
 */
export function gatewayPath(urlPath: string): string | undefined {
  if (urlPath.startsWith("/v3beta/")) return `/v3/${urlPath.slice("/v3beta/".length)}`;
  if (urlPath.startsWith("/v3/")) return urlPath;
  return undefined;
}
