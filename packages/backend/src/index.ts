/**
 * @etcd-ts/backend is the storage backend: an ordered byte-key store on RocksDB with atomic
 * write batches and range scans, and the one batch transaction (BatchTx) every store of a
 * member writes into. It is the only package that imports the RocksDB binding.
 */
export { Backend, type BackendOptions, type BackendScan, type ScanChunk, type ScanOptions, type WriteOp } from "./backend.js";
export { BatchTx, DEFAULT_LIMIT_OPS, type BatchTxOptions } from "./batch_tx.js";
export { mergedScan } from "./merged_scan.js";
export { consistentIndexKey } from "./meta.js";
