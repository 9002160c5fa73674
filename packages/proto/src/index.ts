/**
 * @etcd-ts/proto re-exports the ts-proto output for etcd's v3 API and etcd-ts's internal
 * formats, one namespace per protobuf package. 64-bit integers are `bigint` (exact); bytes
 * are `Buffer`. Nothing here is hand-written logic.
 *
 * Go etcd 3.4's on-disk formats (for moving data dirs between Go etcd and etcd-ts) keep Go's
 * protobuf package names raftpb, walpb and snappb; their namespaces here are etcdraftpb,
 * etcdwalpb and etcdsnappb, because raftpb and walpb name etcd-ts's own formats (protobuf
 * packages etcdts.raftpb and etcdts.walpb). These proto2 messages have field presence: a
 * field is encoded exactly when it is set, zero included, and a decoded absent field is
 * undefined (see packages/proto/buf.gen.proto2.yaml).
 */
export * as etcdserverpb from "./etcdserverpb.js";
export * as mvccpb from "./gen/mvccpb/kv.js";
export * as authpb from "./gen/authpb/auth.js";
export * as v3lockpb from "./gen/v3lockpb/v3lock.js";
export * as v3electionpb from "./gen/v3electionpb/v3election.js";
export * as raftpb from "./gen/etcdts/raftpb/raft.js";
export * as walpb from "./gen/etcdts/walpb/wal.js";
export * as serverpb from "./gen/etcdts/serverpb/internal.js";
export * as leasepb from "./gen/leasepb/lease.js";
/** etcdraftpb is Go etcd's raftpb (Entry, HardState, ConfState, ConfChange, Snapshot, ...), as stored in its WAL and .snap files. */
export * as etcdraftpb from "./gen/raftpb/raft.js";
/** etcdwalpb is Go etcd's walpb: the Record every WAL frame holds and the Snapshot marker record body. */
export * as etcdwalpb from "./gen/walpb/record.js";
/** etcdsnappb is Go etcd's snappb: the body of a .snap file. */
export * as etcdsnappb from "./gen/snappb/snap.js";
/** FILE_DESCRIPTOR_SET: the descriptors of every file of ../../proto, all of the above (base64 FileDescriptorSet), for JSON conversion. */
export { FILE_DESCRIPTOR_SET } from "./gen/descriptors.js";
