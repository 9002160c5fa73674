import { mvccpb } from "@etcd-ts/proto";

/** encodeKV encodes a KeyValue as stored under its revision key. */
export function encodeKV(kv: mvccpb.KeyValue): Buffer {
  const bytes = mvccpb.KeyValue.encode(kv).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
