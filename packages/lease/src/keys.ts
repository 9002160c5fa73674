/**
 * The lease store's backend keys, in a module that loads nothing else (the snapshot image
 * worker maps backend keys without loading the store or the RocksDB binding).
 */

/** LEASE_PREFIX starts the backend key of every lease record (etcd's "lease" bucket); the 8-byte big-endian ID follows. */
export const LEASE_PREFIX = Buffer.from("lease/");
