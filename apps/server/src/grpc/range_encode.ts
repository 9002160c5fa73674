import { etcdserverpb } from "@etcd-ts/proto";
import { encodedKVSize, writeKV } from "@etcd-ts/mvcc";
import { varintSize, writeVarint } from "../varint.js";

/** KVS_TAG is RangeResponse.kvs's key: field 2, length-delimited. */
const KVS_TAG = 0x12;

/**
 * encodeRangeResponse encodes r exactly as etcdserverpb.RangeResponse.encode does (fields
 * in number order: header, kvs, more, count), into one buffer of the exact size: the
 * KeyValues are sized first and then written in place. The generic writer doubles a
 * zero-filled buffer as it goes and copies the result out, so an 80 MiB range cost about
 * 128 MiB of buffer plus an 80 MiB copy; this costs the 80 MiB of the answer alone.
 */
export function encodeRangeResponse(r: etcdserverpb.RangeResponse): Buffer {
  // The header and the scalars are a few bytes: the generated encoder writes them.
  const head = r.header === undefined ? undefined : etcdserverpb.RangeResponse.encode({ header: r.header, kvs: [], more: false, count: 0n }).finish();
  const tail = r.more || r.count !== 0n ? etcdserverpb.RangeResponse.encode({ header: undefined, kvs: [], more: r.more, count: r.count }).finish() : undefined;
  const n = r.kvs.length;
  const sizes = new Float64Array(n);
  let size = (head?.length ?? 0) + (tail?.length ?? 0);
  for (let i = 0; i < n; i++) {
    const s = encodedKVSize(r.kvs[i]!);
    sizes[i] = s;
    size += 1 + varintSize(s) + s;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  if (head !== undefined) {
    out.set(head, 0);
    at = head.length;
  }
  for (let i = 0; i < n; i++) {
    out[at++] = KVS_TAG;
    at = writeVarint(out, at, sizes[i]!);
    at = writeKV(out, at, r.kvs[i]!);
  }
  if (tail !== undefined) {
    out.set(tail, at);
    at += tail.length;
  }
  if (at !== size) throw new Error(`grpc: RangeResponse encoded to ${at} bytes, sized ${size}`);
  return out;
}
