import { etcdserverpb } from "@etcd-ts/proto";
import type { KvOp } from "./workload.js";

/** PUT_PATH and RANGE_PATH are the gRPC method paths of etcd's KV service. */
export const PUT_PATH = "/etcdserverpb.KV/Put";
export const RANGE_PATH = "/etcdserverpb.KV/Range";
/** WATCH_PATH is etcd's bidi-streaming Watch method. */
export const WATCH_PATH = "/etcdserverpb.Watch/Watch";
/** LEASE_GRANT_PATH and LEASE_REVOKE_PATH are the Lease service's methods the bench calls. */
export const LEASE_GRANT_PATH = "/etcdserverpb.Lease/LeaseGrant";
export const LEASE_REVOKE_PATH = "/etcdserverpb.Lease/LeaseRevoke";

/**
 * WATCH_PREFIX and LEASE_PREFIX start the keys of the watch and lease-put workloads, so
 * their writes never touch the keyspace the read workloads read (nor each other's: a
 * watcher on WATCH_PREFIX sees the watch workload's puts only).
 */
export const WATCH_PREFIX = "w";
export const LEASE_PREFIX = "l";

/** methodPath returns the gRPC method a KV op calls. */
export function methodPath(op: KvOp): string {
  return op === "put" ? PUT_PATH : RANGE_PATH;
}

/**
 * benchKey returns key number i of the keyspace: its decimal digits, zero-padded on the
 * left to keySize bytes (so keys sort in numeric order). Throws if i does not fit.
 */
export function benchKey(i: number, keySize: number): Buffer {
  const digits = String(i);
  if (digits.length > keySize) {
    throw new Error(`bench: key ${i} does not fit in ${keySize} bytes`);
  }
  return Buffer.from(digits.padStart(keySize, "0"), "latin1");
}

/**
 * benchValue returns the value every put writes: valueSize bytes of a fixed, non-repeating
 * pattern (so nothing on the path can compress it to nothing).
 */
export function benchValue(valueSize: number): Buffer {
  const v = Buffer.alloc(valueSize);
  let x = 0x9e3779b9;
  for (let i = 0; i < valueSize; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v[i] = 0x21 + ((x >>> 0) % 94); // printable ASCII
  }
  return v;
}

/**
 * prefixedKey returns key number i of a workload's own keyspace: `prefix` followed by i's
 * zero-padded digits, keySize bytes in all. Throws if it does not fit.
 */
export function prefixedKey(prefix: string, i: number, keySize: number): Buffer {
  const digits = String(i);
  if (prefix.length + digits.length > keySize) {
    throw new Error(`bench: key ${i} with prefix "${prefix}" does not fit in ${keySize} bytes (raise --key-size)`);
  }
  return Buffer.from(prefix + digits.padStart(keySize - prefix.length, "0"), "latin1");
}

/** prefixEnd returns the range_end that selects every key starting with prefix (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key
}

/** RequestShape fixes the keyspace and sizes the requests are built from. */
export interface RequestShape {
  /** keySpace is the number of distinct keys (keys 0..keySpace-1). */
  keySpace: number;
  /** keySize is each key's length in bytes. */
  keySize: number;
  /** valueSize is each put's value length in bytes. */
  valueSize: number;
}

/**
 * encodeRequests returns one pre-encoded protobuf request per key, index = key number, so
 * the load generator sends ready-made bytes and does no protobuf work per request.
 */
export function encodeRequests(op: KvOp, shape: RequestShape): Buffer[] {
  const out: Buffer[] = new Array<Buffer>(shape.keySpace);
  const value = benchValue(shape.valueSize);
  for (let i = 0; i < shape.keySpace; i++) {
    const key = benchKey(i, shape.keySize);
    const bytes =
      op === "put"
        ? etcdserverpb.PutRequest.encode(etcdserverpb.PutRequest.fromPartial({ key, value })).finish()
        : etcdserverpb.RangeRequest.encode(
            etcdserverpb.RangeRequest.fromPartial({ key, serializable: op === "range-serializable" }),
          ).finish();
    out[i] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return out;
}

function bytesOf(m: Uint8Array): Buffer {
  return Buffer.from(m.buffer, m.byteOffset, m.byteLength);
}

/**
 * encodePrefixedPuts returns one PutRequest per key of the prefix's keyspace (key i =
 * prefixedKey(prefix, i)), value benchValue(valueSize), no lease. The value is the last
 * field, so it occupies the last valueSize bytes of each request.
 */
export function encodePrefixedPuts(prefix: string, shape: RequestShape): Buffer[] {
  const value = benchValue(shape.valueSize);
  const out: Buffer[] = new Array<Buffer>(shape.keySpace);
  for (let i = 0; i < shape.keySpace; i++) {
    const key = prefixedKey(prefix, i, shape.keySize);
    out[i] = bytesOf(etcdserverpb.PutRequest.encode(etcdserverpb.PutRequest.fromPartial({ key, value })).finish());
  }
  return out;
}

/** encodeWatchCreate returns a WatchRequest creating a watcher on every key under prefix, from now on. */
export function encodeWatchCreate(prefix: string): Buffer {
  const key = Buffer.from(prefix, "latin1");
  return bytesOf(
    etcdserverpb.WatchRequest.encode(
      etcdserverpb.WatchRequest.fromPartial({ createRequest: { key, rangeEnd: prefixEnd(key) } }),
    ).finish(),
  );
}

/** encodeLeaseGrant returns a LeaseGrantRequest for a lease of ttlSeconds with a server-chosen ID. */
export function encodeLeaseGrant(ttlSeconds: number): Buffer {
  return bytesOf(etcdserverpb.LeaseGrantRequest.encode({ TTL: BigInt(ttlSeconds), ID: 0n }).finish());
}

/** PUT_LEASE_TAG is the tag byte of PutRequest.lease (field 3, varint). */
const PUT_LEASE_TAG = 0x18;
/** REVOKE_ID_TAG is the tag byte of LeaseRevokeRequest.ID (field 1, varint). */
const REVOKE_ID_TAG = 0x08;

/**
 * withLease returns `put` (an encoded PutRequest without lease) with its lease field set to
 * the int64 whose varint bytes are id[idStart, idEnd), copied as they came in a
 * LeaseGrantResponse, so the ID is exact whatever its size. With framed, the result
 * carries gRPC's 5-byte length prefix (the h2 transport's format).
 */
export function withLease(put: Buffer, id: Uint8Array, idStart: number, idEnd: number, framed: boolean): Buffer {
  const len = put.length + 1 + (idEnd - idStart);
  const off = framed ? 5 : 0;
  const b = Buffer.allocUnsafe(off + len);
  if (framed) {
    b[0] = 0;
    b.writeUInt32BE(len, 1);
  }
  put.copy(b, off);
  b[off + put.length] = PUT_LEASE_TAG;
  b.set(id.subarray(idStart, idEnd), off + put.length + 1);
  return b;
}

/** encodeLeaseRevoke returns a LeaseRevokeRequest for the lease whose ID varint is id[idStart, idEnd) (framed as in withLease). */
export function encodeLeaseRevoke(id: Uint8Array, idStart: number, idEnd: number, framed: boolean): Buffer {
  const len = 1 + (idEnd - idStart);
  const off = framed ? 5 : 0;
  const b = Buffer.allocUnsafe(off + len);
  if (framed) {
    b[0] = 0;
    b.writeUInt32BE(len, 1);
  }
  b[off] = REVOKE_ID_TAG;
  b.set(id.subarray(idStart, idEnd), off + 1);
  return b;
}

/** TXN_PATH and DELETE_RANGE_PATH are the KV methods the defrag workload's preparation calls. */
export const TXN_PATH = "/etcdserverpb.KV/Txn";
export const DELETE_RANGE_PATH = "/etcdserverpb.KV/DeleteRange";
/** COMPACT_PATH is KV.Compact; DEFRAGMENT_PATH and STATUS_PATH are Maintenance methods. */
export const COMPACT_PATH = "/etcdserverpb.KV/Compact";
export const DEFRAGMENT_PATH = "/etcdserverpb.Maintenance/Defragment";
export const STATUS_PATH = "/etcdserverpb.Maintenance/Status";
/** SNAPSHOT_PATH is Maintenance.Snapshot, server-streaming (an empty SnapshotRequest, then SnapshotResponses). */
export const SNAPSHOT_PATH = "/etcdserverpb.Maintenance/Snapshot";

/** DEFRAG_PREFIX starts the keys of the defrag workload (its fill and its load). */
export const DEFRAG_PREFIX = "d";
/** SNAPSHOT_PREFIX starts the keys the snapshot workload's fill writes. */
export const SNAPSHOT_PREFIX = "s";
/** RANGE_ALL_PREFIX starts the keys the range-all workload's fill writes and its Range reads. */
export const RANGE_ALL_PREFIX = "r";

/**
 * encodeFillTxn returns a TxnRequest (no compares) whose success branch puts keys
 * prefixedKey(prefix, first) .. prefixedKey(prefix, first + count - 1), each with value
 * benchValue(valueSize): one request writes many keys, so filling a large store takes
 * few round trips.
 */
export function encodeFillTxn(prefix: string, first: number, count: number, keySize: number, valueSize: number): Buffer {
  const value = benchValue(valueSize);
  const success: etcdserverpb.RequestOp[] = [];
  for (let i = first; i < first + count; i++) {
    success.push(etcdserverpb.RequestOp.fromPartial({ requestPut: { key: prefixedKey(prefix, i, keySize), value } }));
  }
  return bytesOf(etcdserverpb.TxnRequest.encode(etcdserverpb.TxnRequest.fromPartial({ success })).finish());
}

/**
 * encodePrefixedRanges returns one linearizable single-key RangeRequest per key of the
 * prefix's keyspace (key i = prefixedKey(prefix, i)).
 */
export function encodePrefixedRanges(prefix: string, shape: RequestShape): Buffer[] {
  const out: Buffer[] = new Array<Buffer>(shape.keySpace);
  for (let i = 0; i < shape.keySpace; i++) {
    const key = prefixedKey(prefix, i, shape.keySize);
    out[i] = bytesOf(etcdserverpb.RangeRequest.encode(etcdserverpb.RangeRequest.fromPartial({ key })).finish());
  }
  return out;
}

/**
 * encodePrefixRange returns a RangeRequest for every key under prefix (key = prefix,
 * range_end = prefixEnd(prefix)), everything else default: linearizable, no limit, keys
 * and values, the current revision.
 */
export function encodePrefixRange(prefix: string): Buffer {
  const key = Buffer.from(prefix, "latin1");
  const rangeEnd = prefixEnd(key);
  return bytesOf(etcdserverpb.RangeRequest.encode(etcdserverpb.RangeRequest.fromPartial({ key, rangeEnd })).finish());
}

/** encodeDeleteFrom returns a DeleteRangeRequest for every key under prefix from prefixedKey(prefix, first) on. */
export function encodeDeleteFrom(prefix: string, first: number, keySize: number): Buffer {
  const key = prefixedKey(prefix, first, keySize);
  const rangeEnd = prefixEnd(Buffer.from(prefix, "latin1"));
  return bytesOf(etcdserverpb.DeleteRangeRequest.encode(etcdserverpb.DeleteRangeRequest.fromPartial({ key, rangeEnd })).finish());
}

/** encodeCompact returns a CompactionRequest at revision; physical waits until the compaction is done. */
export function encodeCompact(revision: number, physical: boolean): Buffer {
  return bytesOf(etcdserverpb.CompactionRequest.encode({ revision: BigInt(revision), physical }).finish());
}
