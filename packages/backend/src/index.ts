/**
 * @etcd-ts/backend is the storage backend: an ordered byte-key store on RocksDB with atomic
 * write batches and range scans. It is the only package that imports the RocksDB binding.
 */
export { Backend, type BackendOptions, type ScanChunk, type ScanOptions, type WriteOp } from "./backend.js";
