/**
 * @etcd-ts/proto re-exports the ts-proto output for etcd's v3 API and etcd-ts's internal
 * formats, one namespace per protobuf package. 64-bit integers are `bigint` (exact); bytes
 * are `Buffer`. Nothing here is hand-written logic.
 */
export * as etcdserverpb from "./gen/etcdserverpb/rpc.js";
export * as mvccpb from "./gen/mvccpb/kv.js";
export * as authpb from "./gen/authpb/auth.js";
export * as v3lockpb from "./gen/v3lockpb/v3lock.js";
export * as v3electionpb from "./gen/v3electionpb/v3election.js";
export * as raftpb from "./gen/etcdts/raftpb/raft.js";
export * as walpb from "./gen/etcdts/walpb/wal.js";
export * as serverpb from "./gen/etcdts/serverpb/internal.js";
export * as leasepb from "./gen/leasepb/lease.js";
/** FILE_DESCRIPTOR_SET: the descriptors of every file above (base64 FileDescriptorSet), for JSON conversion. */
export { FILE_DESCRIPTOR_SET } from "./gen/descriptors.js";
