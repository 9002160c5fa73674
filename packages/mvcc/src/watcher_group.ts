import { compareBytes } from "./bytes.js";
import type { mvccpb } from "@etcd-ts/proto";

/**
 * WatcherState is where a watcher is in the watchable store. synced: in the synced group,
 * receiving each new revision as it is applied; unsynced: behind the store, waiting to catch
 * up from the backend; syncing: unsynced and chosen by the catch-up round that is running;
 * done: canceled, closed or removed after compaction, in no group.
 */
export type WatcherState = "synced" | "unsynced" | "syncing" | "done";

/** WatcherOwner is what a watcher delivers into: its stream (see watch_stream.ts). */
export interface WatcherOwner {
  /** room tells how many bytes one more response may take now: -1 when nothing fits (queue full), Infinity when the queue is empty. */
  room(): number;
  /** byteBudget is the most a response of several revisions may take, even in an empty queue. */
  byteBudget(): number;
  /** push queues a response of the given estimated size (the caller checked room()). */
  push(watchId: bigint, events: mvccpb.Event[], revision: bigint, compactRevision: bigint, size: number): void;
  /** dropWatcher forgets a watcher the store removed on its own (after compaction). */
  dropWatcher(w: Watcher): void;
}

/**
 * Watcher is one watch: the key or range it watches, its options, and minRev, the next
 * revision it must receive (it has observed the store up to minRev - 1).
 */
export class Watcher {
  readonly id: bigint;
  readonly key: Buffer;
  /** end: undefined = the key alone; empty = every key >= key; else [key, end). */
  readonly end: Buffer | undefined;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly owner: WatcherOwner;
  minRev: bigint;
  state: WatcherState = "unsynced";
  /** batch collects this watcher's events of one revision during one notify (always emptied before notify returns). */
  batch: mvccpb.Event[] | undefined = undefined;
  /** gap collects the events published while this watcher's catch-up read is running. */
  gap: mvccpb.Event[] | undefined = undefined;

  constructor(
    id: bigint,
    key: Buffer,
    end: Buffer | undefined,
    minRev: bigint,
    opts: { prevKv: boolean; noPut: boolean; noDelete: boolean },
    owner: WatcherOwner,
  ) {
    this.id = id;
    this.key = key;
    this.end = end;
    this.minRev = minRev;
    this.prevKv = opts.prevKv;
    this.noPut = opts.noPut;
    this.noDelete = opts.noDelete;
    this.owner = owner;
  }
}

/** compareEnd orders range ends where an empty end means "no upper bound". */
function compareEnd(a: Buffer, b: Buffer): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return compareBytes(a, b);
}

/** endAbove tells whether the (exclusive) end lies above key, i.e. key < end. */
function endAbove(end: Buffer, key: Buffer): boolean {
  return end.length === 0 || compareBytes(end, key) > 0;
}

/** IntervalNode is one distinct [start, end) with the watchers on it, in an AVL tree augmented with the subtree's largest end. */
interface IntervalNode {
  start: Buffer;
  end: Buffer;
  watchers: Set<Watcher>;
  left: IntervalNode | undefined;
  right: IntervalNode | undefined;
  height: number;
  maxEnd: Buffer;
}

const height = (n: IntervalNode | undefined): number => (n === undefined ? 0 : n.height);

function update(n: IntervalNode): void {
  const lh = height(n.left);
  const rh = height(n.right);
  n.height = (lh > rh ? lh : rh) + 1;
  let m = n.end;
  if (n.left !== undefined && compareEnd(n.left.maxEnd, m) > 0) m = n.left.maxEnd;
  if (n.right !== undefined && compareEnd(n.right.maxEnd, m) > 0) m = n.right.maxEnd;
  n.maxEnd = m;
}

function rotateRight(n: IntervalNode): IntervalNode {
  const l = n.left as IntervalNode;
  n.left = l.right;
  l.right = n;
  update(n);
  update(l);
  return l;
}

function rotateLeft(n: IntervalNode): IntervalNode {
  const r = n.right as IntervalNode;
  n.right = r.left;
  r.left = n;
  update(n);
  update(r);
  return r;
}

function balance(n: IntervalNode): IntervalNode {
  update(n);
  const bf = height(n.left) - height(n.right);
  if (bf > 1) {
    const l = n.left as IntervalNode;
    if (height(l.left) < height(l.right)) n.left = rotateLeft(l);
    return rotateRight(n);
  }
  if (bf < -1) {
    const r = n.right as IntervalNode;
    if (height(r.right) < height(r.left)) n.right = rotateRight(r);
    return rotateLeft(n);
  }
  return n;
}

function compareInterval(start: Buffer, end: Buffer, n: IntervalNode): number {
  const c = compareBytes(start, n.start);
  return c !== 0 ? c : compareEnd(end, n.end);
}

/**
 * IntervalTree maps distinct key ranges [start, end) (an empty end: no upper bound) to the
 * watchers on them, and answers "which ranges hold this key" in O(log n + matches): an AVL
 * tree ordered by (start, end) where every node knows the largest end in its subtree.
 */
class IntervalTree {
  private root: IntervalNode | undefined = undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get height(): number {
    return height(this.root);
  }

  /** get returns the watcher set of exactly [start, end), if present. */
  get(start: Buffer, end: Buffer): Set<Watcher> | undefined {
    let n = this.root;
    while (n !== undefined) {
      const c = compareInterval(start, end, n);
      if (c === 0) return n.watchers;
      n = c < 0 ? n.left : n.right;
    }
    return undefined;
  }

  /** insert adds [start, end) with its (new, non-empty) watcher set; the interval must be absent. */
  insert(start: Buffer, end: Buffer, watchers: Set<Watcher>): void {
    this.root = this.insertAt(this.root, { start, end, watchers, left: undefined, right: undefined, height: 1, maxEnd: end });
    this.count++;
  }

  private insertAt(n: IntervalNode | undefined, node: IntervalNode): IntervalNode {
    if (n === undefined) return node;
    if (compareInterval(node.start, node.end, n) < 0) n.left = this.insertAt(n.left, node);
    else n.right = this.insertAt(n.right, node);
    return balance(n);
  }

  /** remove deletes [start, end); it returns false when absent. */
  remove(start: Buffer, end: Buffer): boolean {
    const before = this.count;
    this.root = this.removeAt(this.root, start, end);
    return this.count < before;
  }

  private removeAt(n: IntervalNode | undefined, start: Buffer, end: Buffer): IntervalNode | undefined {
    if (n === undefined) return undefined;
    const c = compareInterval(start, end, n);
    if (c < 0) {
      n.left = this.removeAt(n.left, start, end);
    } else if (c > 0) {
      n.right = this.removeAt(n.right, start, end);
    } else {
      this.count--;
      if (n.left === undefined) return n.right;
      if (n.right === undefined) return n.left;
      // Replace n by its successor, the smallest node of the right subtree.
      let s = n.right;
      while (s.left !== undefined) s = s.left;
      const right = this.removeMin(n.right);
      s.left = n.left;
      s.right = right;
      return balance(s);
    }
    return balance(n);
  }

  private removeMin(n: IntervalNode): IntervalNode | undefined {
    if (n.left === undefined) return n.right;
    n.left = this.removeMin(n.left);
    return balance(n);
  }

  /** stab appends to out every watcher of every range holding key. */
  stab(key: Buffer, out: Watcher[]): void {
    if (this.root !== undefined) stabAt(this.root, key, out);
  }

  /** any tells whether some range holds key. */
  any(key: Buffer): boolean {
    let n = this.root;
    // Walk down: prefer the left subtree whenever it can hold key (its maxEnd is above key).
    while (n !== undefined) {
      if (!endAbove(n.maxEnd, key)) return false;
      if (n.left !== undefined && endAbove(n.left.maxEnd, key)) {
        n = n.left;
        continue;
      }
      if (compareBytes(n.start, key) > 0) return false;
      if (endAbove(n.end, key)) return true;
      n = n.right;
    }
    return false;
  }
}

function stabAt(n: IntervalNode, key: Buffer, out: Watcher[]): void {
  if (!endAbove(n.maxEnd, key)) return;
  if (n.left !== undefined) stabAt(n.left, key, out);
  if (compareBytes(n.start, key) > 0) return;
  if (endAbove(n.end, key)) for (const w of n.watchers) out.push(w);
  if (n.right !== undefined) stabAt(n.right, key, out);
}

/**
 * WatcherGroup is a set of watchers indexed for event matching (etcd's watcherGroup): a map
 * from key to the watchers of that single key, and an interval tree of the watched ranges, so
 * finding the watchers of one event key costs one map lookup and one stabbing query, never a
 * scan of all watchers. It also keeps every member in insertion order.
 */
export class WatcherGroup {
  private readonly keys = new Map<string, Set<Watcher>>();
  private ranges = new IntervalTree();
  private readonly all = new Set<Watcher>();

  get size(): number {
    return this.all.size;
  }

  has(w: Watcher): boolean {
    return this.all.has(w);
  }

  /** add puts w in the group (no-op if already there). */
  add(w: Watcher): void {
    if (this.all.has(w)) return;
    this.all.add(w);
    if (w.end === undefined) {
      const k = w.key.toString("latin1");
      let set = this.keys.get(k);
      if (set === undefined) {
        set = new Set();
        this.keys.set(k, set);
      }
      set.add(w);
      return;
    }
    const set = this.ranges.get(w.key, w.end);
    if (set !== undefined) set.add(w);
    else this.ranges.insert(w.key, w.end, new Set([w]));
  }

  /** delete removes w; it returns false when w was not in the group. */
  delete(w: Watcher): boolean {
    if (!this.all.delete(w)) return false;
    if (w.end === undefined) {
      const k = w.key.toString("latin1");
      const set = this.keys.get(k);
      if (set !== undefined) {
        set.delete(w);
        if (set.size === 0) this.keys.delete(k);
      }
      return true;
    }
    const set = this.ranges.get(w.key, w.end);
    if (set !== undefined) {
      set.delete(w);
      if (set.size === 0) this.ranges.remove(w.key, w.end);
    }
    return true;
  }

  /** match appends to out every watcher of the group whose key or range holds key (each once). */
  match(key: Buffer, out: Watcher[]): void {
    if (this.keys.size > 0) {
      const set = this.keys.get(key.toString("latin1"));
      if (set !== undefined) for (const w of set) out.push(w);
    }
    if (this.ranges.size > 0) this.ranges.stab(key, out);
  }

  /** rangeTreeHeight is the height of the range index (for tests: it stays logarithmic). */
  get rangeTreeHeight(): number {
    return this.ranges.height;
  }

  /** contains tells whether some watcher of the group watches key. */
  contains(key: Buffer): boolean {
    if (this.keys.size > 0 && this.keys.has(key.toString("latin1"))) return true;
    return this.ranges.size > 0 && this.ranges.any(key);
  }

  /** watchers iterates the members in insertion order. */
  watchers(): IterableIterator<Watcher> {
    return this.all.values();
  }

  /** clear empties the group. */
  clear(): void {
    this.all.clear();
    this.keys.clear();
    this.ranges = new IntervalTree();
  }
}
