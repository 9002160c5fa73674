import { etcdserverpb, type mvccpb } from "@etcd-ts/proto";
import { compareBig } from "./range.js";

const { Result, Target } = { Result: etcdserverpb.Compare_CompareResult, Target: etcdserverpb.Compare_CompareTarget };

const missing: mvccpb.KeyValue = {
  key: Buffer.alloc(0),
  createRevision: 0n,
  modRevision: 0n,
  version: 0n,
  value: Buffer.alloc(0),
  lease: 0n,
};

/**
 * compareKVs evaluates one txn compare against the key-values currently in its range: every
 * one must satisfy it. An empty range compares as a key with version, create, mod revision
 * and lease 0, except that a VALUE compare on an empty range always fails (a missing value
 * cannot be told from an empty one).
 */
export function compareKVs(c: etcdserverpb.Compare, kvs: readonly mvccpb.KeyValue[]): boolean {
  if (kvs.length === 0) {
    if (c.target === Target.VALUE) return false;
    return compareKV(c, missing);
  }
  for (const kv of kvs) {
    if (!compareKV(c, kv)) return false;
  }
  return true;
}

/** compareKV evaluates a compare against one key-value; an unset operand counts as 0 / empty. */
export function compareKV(c: etcdserverpb.Compare, kv: mvccpb.KeyValue): boolean {
  let result = 0;
  switch (c.target) {
    case Target.VALUE:
      result = Buffer.compare(kv.value, c.value ?? missing.value);
      break;
    case Target.CREATE:
      result = compareBig(kv.createRevision, c.createRevision ?? 0n);
      break;
    case Target.MOD:
      result = compareBig(kv.modRevision, c.modRevision ?? 0n);
      break;
    case Target.VERSION:
      result = compareBig(kv.version, c.version ?? 0n);
      break;
    case Target.LEASE:
      result = compareBig(kv.lease, c.lease ?? 0n);
      break;
    default:
      break;
  }
  switch (c.result) {
    case Result.EQUAL:
      return result === 0;
    case Result.NOT_EQUAL:
      return result !== 0;
    case Result.GREATER:
      return result > 0;
    case Result.LESS:
      return result < 0;
    default:
      return true;
  }
}
