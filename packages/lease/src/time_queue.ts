import { createRequire } from "node:module";
import type SortedBtreeModule from "sorted-btree";

// sorted-btree is CommonJS; require() loads it the same way under Node and under vitest.
const BTree = (createRequire(import.meta.url)("sorted-btree") as typeof SortedBtreeModule).default;

/** QueueItem is one lease's place in a TimeQueue: due at time (clock milliseconds). */
export interface QueueItem {
  readonly time: number;
  readonly id: bigint;
}

function compareItems(a: QueueItem, b: QueueItem): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * TimeQueue orders lease IDs by a due time, at most one entry per lease (etcd's
 * LeaseExpiredNotifier: register-or-update instead of pushing duplicates). It is a B+ tree
 * keyed by (time, id), so ties come out in ID order and every operation is O(log n): set
 * moves a lease's entry, delete removes it, peek reads the earliest.
 */
export class TimeQueue {
  private readonly tree = new BTree<QueueItem, undefined>(undefined, compareItems);
  private readonly items = new Map<bigint, QueueItem>();

  /** size is the number of queued leases. */
  get size(): number {
    return this.items.size;
  }

  /** set queues id at time, replacing its earlier entry. */
  set(id: bigint, time: number): void {
    const old = this.items.get(id);
    if (old !== undefined) {
      if (old.time === time) return;
      this.tree.delete(old);
    }
    const item: QueueItem = { time, id };
    this.tree.set(item, undefined);
    this.items.set(id, item);
  }

  /** delete removes id's entry, if any. */
  delete(id: bigint): void {
    const old = this.items.get(id);
    if (old === undefined) return;
    this.tree.delete(old);
    this.items.delete(id);
  }

  /** timeOf is id's due time, or undefined when it is not queued. */
  timeOf(id: bigint): number | undefined {
    return this.items.get(id)?.time;
  }

  /** peek returns the earliest entry without removing it. */
  peek(): QueueItem | undefined {
    return this.tree.minKey();
  }

  /** clear empties the queue. */
  clear(): void {
    this.tree.clear();
    this.items.clear();
  }
}
