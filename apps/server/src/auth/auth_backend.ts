import { mergedScan, type Backend, type BatchTx } from "@etcd-ts/backend";
import type { AuthBackend } from "@etcd-ts/auth";

/**
 * authBackend gives the auth store the member's backend: scans see what the batch
 * transaction holds and has not written yet, writes go into it (committed with the applied
 * batch and the consistent index, as every store's writes are).
 */
export function authBackend(backend: Backend, tx: BatchTx): AuthBackend {
  return {
    scan: (gte, lt) => mergedScan(backend, tx.unflushed(), gte, lt),
    put: (key, value) => tx.put(key, value),
    del: (key) => tx.del(key),
  };
}
