/** Header names and paths of etcd-ts's peer protocol (HTTP/2 on the peer URLs). */
export const H_CLUSTER_ID = "x-etcd-cluster-id";
export const H_FROM = "x-etcd-from";
export const H_TO = "x-etcd-to";
export const PATH_MESSAGES = "/raft/messages";
export const PATH_SNAPSHOT = "/raft/snapshot";
/** PATH_STREAM is the long-lived request on which a member receives a peer's messages (see stream.ts). */
export const PATH_STREAM = "/raft/stream";
export const PATH_MEMBERS = "/members";
export const PATH_PROMOTE = "/members/promote/";
/** PATH_VERSION answers a member's server and cluster versions as JSON (etcd's peer /version). */
export const PATH_VERSION = "/version";
/** PATH_HASHKV answers a member's HashKV at a revision (etcd's /members/hashkv, for corruption checks). */
export const PATH_HASHKV = "/members/hashkv";

/** MAX_BATCH_BYTES bounds one message batch a peer accepts (raft limits MsgApp size per message). */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** PATH_LEASES renews a lease on the leader for a follower (etcd's /leases): a LeaseKeepAliveRequest in, a LeaseKeepAliveResponse out. */
export const PATH_LEASES = "/leases";
/** PATH_LEASES_INTERNAL answers a lease's TimeToLive on the leader for a follower (etcd's /leases/internal): a LeaseInternalRequest in, a LeaseInternalResponse out. */
export const PATH_LEASES_INTERNAL = "/leases/internal";
/** MAX_LEASE_REQUEST_BYTES bounds a forwarded lease request's body (a few varint fields). */
export const MAX_LEASE_REQUEST_BYTES = 256;
