import { etcdRevisionBytes, finishedCompactKey, keyPrefix, metaPrefix, revKeyLen, scheduledCompactKey, tombstoneMark } from "./revision.js";

/**
 * mvcc's records in etcd's own bbolt layout (its snapshot and backend files), both ways:
 *
 * - the `key` bucket: etcd's key is 8 bytes main revision, '_', 8 bytes sub (17 bytes), then
 *   't' for a tombstone; the backend's is `key/`, 8 bytes main, 8 bytes sub, then 't'. Both
 *   sort in revision order, so the mapping keeps the order. Values (mvccpb.KeyValue) are the same.
 * - the `meta` bucket's compaction marks: etcd keeps `scheduledCompactRev` and
 *   `finishedCompactRev` as 17-byte revisions (sub 0); the backend keeps 8-byte main revisions.
 */

/** ETCD_KEY_BUCKET is the name of etcd's bucket of revisions. */
export const ETCD_KEY_BUCKET = "key";
/** ETCD_META_BUCKET is the name of etcd's bucket of store metadata. */
export const ETCD_META_BUCKET = "meta";
/** KEY_PREFIX is the backend prefix of revision keys (the `key` bucket). */
export const KEY_PREFIX: Buffer = keyPrefix;
/** META_PREFIX is the backend prefix of mvcc's metadata (part of the `meta` bucket). */
export const META_PREFIX: Buffer = metaPrefix;

const ETCD_REV_LEN = 17;
const SCHEDULED = Buffer.from("scheduledCompactRev");
const FINISHED = Buffer.from("finishedCompactRev");

/** toEtcdRevisionKey maps a backend revision key to etcd's `key` bucket key; it throws on a malformed key. */
export function toEtcdRevisionKey(backendKey: Buffer): Buffer {
  const tomb = backendKey.length === revKeyLen + 1 && backendKey[revKeyLen] === tombstoneMark;
  if ((backendKey.length !== revKeyLen && !tomb) || !backendKey.subarray(0, keyPrefix.length).equals(keyPrefix)) {
    throw new Error(`mvcc: malformed revision key ${backendKey.toString("hex")}`);
  }
  return etcdRevisionBytes(backendKey);
}

/** fromEtcdRevisionKey maps etcd's `key` bucket key to the backend's; it throws on a key etcd could not have written. */
export function fromEtcdRevisionKey(etcdKey: Buffer): Buffer {
  const tomb = etcdKey.length === ETCD_REV_LEN + 1 && etcdKey[ETCD_REV_LEN] === tombstoneMark;
  if ((etcdKey.length !== ETCD_REV_LEN && !tomb) || etcdKey[8] !== 0x5f) {
    throw new Error(`mvcc: malformed etcd revision key ${etcdKey.toString("hex")}`);
  }
  const out = Buffer.allocUnsafe(keyPrefix.length + etcdKey.length - 1);
  keyPrefix.copy(out, 0);
  etcdKey.copy(out, keyPrefix.length, 0, 8);
  etcdKey.copy(out, keyPrefix.length + 8, 9);
  return out;
}

/**
 * toEtcdMeta maps one of mvcc's backend metadata records to etcd's `meta` bucket, or
 * undefined for a key that is not mvcc's.
 */
export function toEtcdMeta(key: Buffer, value: Buffer): { key: Buffer; value: Buffer } | undefined {
  const name = key.equals(scheduledCompactKey) ? SCHEDULED : key.equals(finishedCompactKey) ? FINISHED : undefined;
  if (name === undefined) return undefined;
  if (value.length !== 8) throw new Error(`mvcc: malformed ${key.toString()} value ${value.toString("hex")}`);
  const rev = Buffer.alloc(ETCD_REV_LEN);
  value.copy(rev, 0);
  rev[8] = 0x5f;
  return { key: name, value: rev };
}

/** fromEtcdMeta maps a key of etcd's `meta` bucket that mvcc owns to the backend's record, or undefined for another key. */
export function fromEtcdMeta(key: Buffer, value: Buffer): { key: Buffer; value: Buffer } | undefined {
  const backendKey = key.equals(SCHEDULED) ? scheduledCompactKey : key.equals(FINISHED) ? finishedCompactKey : undefined;
  if (backendKey === undefined) return undefined;
  if (value.length !== ETCD_REV_LEN || value[8] !== 0x5f) throw new Error(`mvcc: malformed etcd ${key.toString()} value ${value.toString("hex")}`);
  return { key: backendKey, value: Buffer.from(value.subarray(0, 8)) };
}
