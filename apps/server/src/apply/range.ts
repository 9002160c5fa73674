import { etcdserverpb, mvccpb } from "@etcd-ts/proto";

const { SortOrder, SortTarget } = { SortOrder: etcdserverpb.RangeRequest_SortOrder, SortTarget: etcdserverpb.RangeRequest_SortTarget };

/**
 * ShapedRange is a range request's answer: kvs after filters, sort and limit; more is true
 * when the limit cut kvs short; count is the number of keys in the range at the read
 * revision before filters and limit. The KeyValues may be shared with the store and must be
 * treated as read-only.
 */
export interface ShapedRange {
  kvs: mvccpb.KeyValue[];
  more: boolean;
  count: bigint;
}

/**
 * fetchLimit is how many key-values a range must read from the index (0 = all): all of them
 * when the result is sorted or filtered afterwards, else one past the limit to learn `more`.
 */
export function fetchLimit(req: etcdserverpb.RangeRequest): number {
  if (
    req.sortOrder !== SortOrder.NONE ||
    req.minModRevision !== 0n ||
    req.maxModRevision !== 0n ||
    req.minCreateRevision !== 0n ||
    req.maxCreateRevision !== 0n
  ) {
    return 0;
  }
  if (req.limit <= 0n) return 0;
  return Number(req.limit) + 1;
}

/**
 * shapeRange turns the key-values read for req (in key order, at most fetchLimit(req) of
 * them) into the answer, in etcd's order: revision filters, sort, limit, keys_only.
 */
export function shapeRange(req: etcdserverpb.RangeRequest, fetched: mvccpb.KeyValue[], count: number): ShapedRange {
  let kvs = fetched;
  if (req.maxModRevision !== 0n) kvs = kvs.filter((kv) => kv.modRevision <= req.maxModRevision);
  if (req.minModRevision !== 0n) kvs = kvs.filter((kv) => kv.modRevision >= req.minModRevision);
  if (req.maxCreateRevision !== 0n) kvs = kvs.filter((kv) => kv.createRevision <= req.maxCreateRevision);
  if (req.minCreateRevision !== 0n) kvs = kvs.filter((kv) => kv.createRevision >= req.minCreateRevision);

  let order = req.sortOrder;
  if (req.sortTarget !== SortTarget.KEY && order === SortOrder.NONE) {
    // The index returns keys in ascending order; other targets default to ascending.
    order = SortOrder.ASCEND;
  }
  if (order === SortOrder.ASCEND || order === SortOrder.DESCEND) {
    const cmp = comparator(req.sortTarget);
    if (cmp !== undefined) {
      if (kvs === fetched) kvs = kvs.slice();
      // Stable: key-value pairs that tie on the target stay in key order.
      if (order === SortOrder.ASCEND) kvs.sort(cmp);
      else kvs.sort((a, b) => cmp(b, a));
    }
  }

  let more = false;
  if (req.limit > 0n && kvs.length > req.limit) {
    kvs = kvs.slice(0, Number(req.limit));
    more = true;
  }
  if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: emptyValue }));
  return { kvs, more, count: BigInt(count) };
}

const emptyValue = Buffer.alloc(0);

function comparator(target: etcdserverpb.RangeRequest_SortTarget): ((a: mvccpb.KeyValue, b: mvccpb.KeyValue) => number) | undefined {
  switch (target) {
    case SortTarget.KEY:
      return (a, b) => Buffer.compare(a.key, b.key);
    case SortTarget.VERSION:
      return (a, b) => compareBig(a.version, b.version);
    case SortTarget.CREATE:
      return (a, b) => compareBig(a.createRevision, b.createRevision);
    case SortTarget.MOD:
      return (a, b) => compareBig(a.modRevision, b.modRevision);
    case SortTarget.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return undefined;
  }
}

/** compareBig orders two bigints. */
export function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
