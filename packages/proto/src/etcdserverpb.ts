/**
 * etcdserverpb gathers the protobuf package etcdserverpb, which spans three files as in Go
 * etcd: rpc.proto (the v3 API), etcdserver.proto (the v2 Request and the WAL Metadata) and
 * raft_internal.proto (InternalRaftRequest, the data of a normal raft entry in a Go etcd WAL).
 * Re-exports only. Each generated file also exports protobufPackage, protobufFileName and
 * its own copies of the helper types; rpc.proto's are the ones re-exported here.
 */
export * from "./gen/etcdserverpb/rpc.js";
export { Request, Metadata } from "./gen/etcdserverpb/etcdserver.js";
export { RequestHeader, InternalRaftRequest, EmptyResponse, InternalAuthenticateRequest } from "./gen/etcdserverpb/raft_internal.js";
