import { mvccpb } from "@etcd-ts/proto";

/**
 * encodeKV encodes a KeyValue as stored under its revision key: exactly the protobuf bytes of
 * mvccpb.KeyValue (fields in number order, zero values omitted), written by hand because
 * this runs for every put and the generic writer allocates several chunks per message.
 */
export function encodeKV(kv: mvccpb.KeyValue): Buffer {
  const out = Buffer.allocUnsafe(encodedKVSize(kv));
  writeKV(out, 0, kv);
  return out;
}

/** encodedKVSize is the length in bytes of encodeKV(kv). */
export function encodedKVSize(kv: mvccpb.KeyValue): number {
  return (
    bytesFieldSize(kv.key.length) +
    int64FieldSize(kv.createRevision) +
    int64FieldSize(kv.modRevision) +
    int64FieldSize(kv.version) +
    bytesFieldSize(kv.value.length) +
    int64FieldSize(kv.lease)
  );
}

/**
 * writeKV writes encodeKV(kv)'s bytes into out at offset `at` and returns the offset after
 * them; out must have encodedKVSize(kv) bytes of room there (a response encoder lays many
 * KeyValues into one buffer this way, with no copy per message).
 */
export function writeKV(out: Buffer, at: number, kv: mvccpb.KeyValue): number {
  if (kv.key.length > 0) {
    out[at++] = 0x0a;
    at = putVarint(out, at, kv.key.length);
    out.set(kv.key, at);
    at += kv.key.length;
  }
  at = putInt64Field(out, at, 0x10, kv.createRevision);
  at = putInt64Field(out, at, 0x18, kv.modRevision);
  at = putInt64Field(out, at, 0x20, kv.version);
  if (kv.value.length > 0) {
    out[at++] = 0x2a;
    at = putVarint(out, at, kv.value.length);
    out.set(kv.value, at);
    at += kv.value.length;
  }
  return putInt64Field(out, at, 0x30, kv.lease);
}

function varintSize(n: number): number {
  let s = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    s++;
  }
  return s;
}

function bytesFieldSize(len: number): number {
  return len === 0 ? 0 : 1 + varintSize(len) + len;
}

/** int64FieldSize: int64 is a varint of the two's complement (negative values take 10 bytes). */
function int64FieldSize(v: bigint): number {
  if (v === 0n) return 0;
  if (v < 0n) return 11;
  if (v <= 0x1f_ffff_ffff_ffffn) return 1 + varintSize(Number(v));
  let s = 1;
  let u = v;
  while (u >= 0x80n) {
    u >>= 7n;
    s++;
  }
  return 1 + s;
}

function putVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}

function putInt64Field(out: Buffer, at: number, tag: number, v: bigint): number {
  if (v === 0n) return at;
  out[at++] = tag;
  if (v > 0n && v <= 0x1f_ffff_ffff_ffffn) return putVarint(out, at, Number(v));
  let u = BigInt.asUintN(64, v);
  while (u >= 0x80n) {
    out[at++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  out[at++] = Number(u);
  return at;
}

const emptyBuffer = Buffer.alloc(0);

/**
 * keyField returns the key of an encoded KeyValue without decoding the rest: the key is field
 * 1 and is written first (absent when empty). The result is a view into `encoded`.
 */
export function keyField(encoded: Buffer): Buffer {
  if (encoded.length === 0 || encoded[0] !== 0x0a) return emptyBuffer;
  let len = 0;
  let shift = 0;
  let pos = 1;
  for (;;) {
    const b = encoded[pos++];
    if (b === undefined || shift > 28) throw new Error("mvcc: malformed stored KeyValue");
    len += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
  }
  if (pos + len > encoded.length) throw new Error("mvcc: malformed stored KeyValue");
  return encoded.subarray(pos, pos + len);
}
