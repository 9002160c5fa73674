import type { mvccpb } from "@etcd-ts/proto";

/**
 * KeyValue is one stored key as the Etcd API returns it: key and value as bytes, with
 * readers for UTF-8 strings and JSON, and its revisions. Under a namespace the key is
 * relative to it. Revisions, version and lease are full 64-bit values.
 */
export class KeyValue {
  constructor(
    readonly key: Buffer,
    readonly value: Buffer,
    /** createRevision is the revision of the put that created the key (since its last deletion). */
    readonly createRevision: bigint,
    /** modRevision is the revision of the key's last put. */
    readonly modRevision: bigint,
    /** version counts the puts since the key was created (1 for a new key). */
    readonly version: bigint,
    /** lease is the ID of the lease the key is attached to (0n: none). */
    readonly lease: bigint,
  ) {}

  /** fromProto makes a KeyValue of an mvccpb.KeyValue, with `strip` bytes cut off the key's front. */
  static fromProto(kv: mvccpb.KeyValue, strip = 0): KeyValue {
    return new KeyValue(
      Buffer.from(kv.key.buffer, kv.key.byteOffset + strip, kv.key.byteLength - strip),
      Buffer.from(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength),
      kv.createRevision,
      kv.modRevision,
      kv.version,
      kv.lease,
    );
  }

  /** keyString is the key decoded as UTF-8. */
  get keyString(): string {
    return this.key.toString("utf8");
  }

  /** string is the value decoded as UTF-8. */
  string(): string {
    return this.value.toString("utf8");
  }

  /** json parses the value as JSON (a SyntaxError when it is not). */
  json<T = unknown>(): T {
    return JSON.parse(this.value.toString("utf8")) as T;
  }
}
