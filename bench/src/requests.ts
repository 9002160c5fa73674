import { etcdserverpb } from "@etcd-ts/proto";
import type { Op } from "./workload.js";

/** PUT_PATH and RANGE_PATH are the gRPC method paths of etcd's KV service. */
export const PUT_PATH = "/etcdserverpb.KV/Put";
export const RANGE_PATH = "/etcdserverpb.KV/Range";

/** methodPath returns the gRPC method an op calls. */
export function methodPath(op: Op): string {
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
export function encodeRequests(op: Op, shape: RequestShape): Buffer[] {
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
