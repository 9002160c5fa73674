/** Header names and paths of etcd-ts's peer protocol (HTTP/2 on the peer URLs). */
export const H_CLUSTER_ID = "x-etcd-cluster-id";
export const H_FROM = "x-etcd-from";
export const H_TO = "x-etcd-to";
export const PATH_MESSAGES = "/raft/messages";
export const PATH_SNAPSHOT = "/raft/snapshot";
/** PATH_STREAM is the long-lived request on which a member receives a peer's messages (see stream.ts). */
export const PATH_STREAM = "/raft/stream";
/** PATH_PROBING answers a health probe with the time (etcd's rafthttp prober, xiang90/probing's handler). */
export const PATH_PROBING = "/raft/probing";
export const PATH_MEMBERS = "/members";
export const PATH_PROMOTE = "/members/promote/";
/** PATH_VERSION answers a member's server and cluster versions as JSON (etcd's peer /version). */
export const PATH_VERSION = "/version";
/** PATH_HASHKV answers a member's HashKV at a revision (etcd's /members/hashkv, for corruption checks). */
export const PATH_HASHKV = "/members/hashkv";

/**
 * MAX_BATCH_BYTES is the default bound on one message batch (a stream frame or a POST body) a
 * member accepts and sends: the transport splits the messages of one send into batches under
 * it (see encodeBatches). etcd's pipeline handler reads at most 64 MB per request too.
 */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/**
 * SINGLE_MESSAGE_SLACK covers what a raft message adds around its largest entry. A MsgApp
 * holds entries up to raft's maxSizePerMsg (1 MiB, see bootstrap.ts), or a single larger
 * entry, and an entry's data is a proposal of at most --max-request-bytes (EtcdServer.propose
 * refuses larger ones); every other message is smaller. Entry and message fields add a few
 * hundred bytes at most.
 */
const SINGLE_MESSAGE_SLACK = 1024 * 1024;

/**
 * peerBatchLimit is the batch bound for a member run with --max-request-bytes
 * `maxRequestBytes`: MAX_BATCH_BYTES, raised so that the largest legal single message (which
 * cannot be split across batches) always fits: max(1 MiB, maxRequestBytes + a few hundred
 * bytes) <= maxRequestBytes + SINGLE_MESSAGE_SLACK.
 */
export function peerBatchLimit(maxRequestBytes: number): number {
  return Math.max(MAX_BATCH_BYTES, maxRequestBytes + SINGLE_MESSAGE_SLACK);
}
/** PATH_LEASES renews a lease on the leader for a follower (etcd's /leases): a LeaseKeepAliveRequest in, a LeaseKeepAliveResponse out. */
export const PATH_LEASES = "/leases";
/** PATH_LEASES_INTERNAL answers a lease's TimeToLive on the leader for a follower (etcd's /leases/internal): a LeaseInternalRequest in, a LeaseInternalResponse out. */
export const PATH_LEASES_INTERNAL = "/leases/internal";
/** MAX_LEASE_REQUEST_BYTES bounds a forwarded lease request's body (a few varint fields). */
export const MAX_LEASE_REQUEST_BYTES = 256;
