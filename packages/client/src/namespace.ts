import * as grpc from "@grpc/grpc-js";
import { toBuffer, type Bytes } from "./bytes.js";
import { EtcdError } from "./errors.js";

/** ERR_KEY_NOT_PROVIDED is etcd's message for an empty key. */
export const ERR_KEY_NOT_PROVIDED = "etcdserver: key is not provided";

/**
 * Namespace puts keys under a prefix and takes it off again, as etcd's Go client namespace
 * package does: a key gets the prefix in front, a range end too, and the range end "\0" (the
 * end of the keyspace) becomes the end of the prefix's keyspace. An empty prefix changes
 * nothing.
 */
export class Namespace {
  readonly prefix: Buffer;

  constructor(prefix: Bytes) {
    this.prefix = Buffer.from(toBuffer(prefix));
  }

  /** nested is the namespace `sub` inside this one. */
  nested(sub: Bytes): Namespace {
    return new Namespace(Buffer.concat([this.prefix, toBuffer(sub)]));
  }

  /**
   * key is k under the prefix. An empty key is refused under a prefix, as etcd's Go client
   * namespace does: it would name the prefix itself, which no prefix read would then list.
   */
  key(k: Buffer): Buffer {
    if (this.prefix.length === 0) return k;
    if (k.length === 0) throw new EtcdError(grpc.status.INVALID_ARGUMENT, ERR_KEY_NOT_PROVIDED, true);
    return Buffer.concat([this.prefix, k]);
  }

  /** rangeEnd is a request's range end under the prefix (an empty one stays empty: a single key). */
  rangeEnd(end: Buffer): Buffer {
    if (this.prefix.length === 0 || end.length === 0) return end;
    if (end.length === 1 && end[0] === 0) return namespaceEnd(this.prefix);
    return Buffer.concat([this.prefix, end]);
  }

  /** strip is how many bytes to cut off the front of a key the server returns. */
  get strip(): number {
    return this.prefix.length;
  }
}

/** namespaceEnd is the end of the keyspace under prefix: prefix + 1 as a big-endian number, "\0" when it overflows. */
function namespaceEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    end[i] = ((end[i] as number) + 1) & 0xff;
    if (end[i] !== 0) return end;
  }
  return Buffer.from([0]);
}
