import type { Bytes } from "./bytes.js";
import type { Etcd } from "./etcd.js";
import type { KeyValue } from "./key_value.js";
import { compare, op, type GetOptions } from "./ops.js";

/**
 * uniqueKey puts value under `<prefix>/<nanoseconds>` with a key of its own (etcd's
 * contrib/recipes newUniqueKV: a transaction that only creates, tried again on a collision)
 * and returns the key.
 */
async function uniqueKey(etcd: Etcd, prefix: string, value: Bytes, signal?: AbortSignal): Promise<string> {
  for (;;) {
    const key = `${prefix}/${BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)}`;
    const t = await etcd.txn().if(compare.version(key, "==", 0)).do(op.put(key, value)).commit(signal !== undefined ? { signal } : {});
    if (t.succeeded) return key;
  }
}

/**
 * waitPut resolves once a key under prefix is put after revision (etcd's recipes'
 * WaitPrefixEvents for a put), rejecting when the watch fails or signal aborts.
 */
async function waitPut(etcd: Etcd, prefix: string, revision: bigint, signal?: AbortSignal): Promise<void> {
  const w = etcd.watch(`${prefix}/`, { prefix: true, startRevision: revision + 1n, ...(signal !== undefined ? { signal } : {}) });
  try {
    for await (const ev of w) if (ev.type === "put") return;
    throw new Error("client: the watch ended before a key was put (aborted or closed)");
  } finally {
    w.close();
  }
}

/**
 * claimFirst takes the first key of the range `from` reads (by create revision or by key)
 * and deletes it, if nobody changed it meanwhile; undefined when the range is empty, and the
 * read's revision so a caller can wait from there.
 */
async function claimFirst(etcd: Etcd, prefix: string, from: GetOptions, signal?: AbortSignal): Promise<{ kv: KeyValue | undefined; revision: bigint }> {
  for (;;) {
    const r = await etcd.range(`${prefix}/`, { ...from, prefix: true, limit: 1, ...(signal !== undefined ? { signal } : {}) });
    const kv = r.kvs[0];
    if (kv === undefined) return { kv: undefined, revision: r.revision };
    const t = await etcd
      .txn()
      .if(compare.modRevision(kv.key, "==", kv.modRevision))
      .do(op.delete(kv.key))
      .commit(signal !== undefined ? { signal } : {});
    if (t.succeeded) return { kv, revision: t.revision };
  }
}

/**
 * Queue is a multi-producer, multi-consumer FIFO queue under a key prefix (etcd's
 * contrib/recipes Queue): enqueue adds a key, dequeue takes the oldest by create revision,
 * waiting while the queue is empty. Each item is handed to exactly one dequeue.
 */
export class Queue {
  constructor(
    private readonly etcd: Etcd,
    readonly name: string,
  ) {}

  /** enqueue adds value at the end of the queue. */
  async enqueue(value: Bytes, signal?: AbortSignal): Promise<void> {
    await uniqueKey(this.etcd, this.name, value, signal);
  }

  /** dequeue removes and returns the oldest item, waiting for one while the queue is empty. */
  async dequeue(signal?: AbortSignal): Promise<Buffer> {
    for (;;) {
      const { kv, revision } = await claimFirst(this.etcd, this.name, { sort: { target: "createRevision", order: "ascend" } }, signal);
      if (kv !== undefined) return kv.value;
      await waitPut(this.etcd, this.name, revision, signal);
    }
  }

  /** length is the number of items waiting. */
  length(): Promise<bigint> {
    return this.etcd.count(`${this.name}/`);
  }
}

/**
 * PriorityQueue is a queue whose items come out lowest priority number first, then oldest
 * first (etcd's contrib/recipes PriorityQueue: keys `<prefix>/<priority %05d>/<unique>`).
 * Priorities are 0..65535.
 */
export class PriorityQueue {
  constructor(
    private readonly etcd: Etcd,
    readonly name: string,
  ) {}

  /** enqueue adds value with priority (0 comes out first). */
  async enqueue(value: Bytes, priority: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isInteger(priority) || priority < 0 || priority > 0xffff) {
      throw new RangeError(`client: a priority is an integer from 0 to 65535, got ${priority}`);
    }
    await uniqueKey(this.etcd, `${this.name}/${String(priority).padStart(5, "0")}`, value, signal);
  }

  /** dequeue removes and returns the first item by priority, then age, waiting while the queue is empty. */
  async dequeue(signal?: AbortSignal): Promise<Buffer> {
    for (;;) {
      const { kv, revision } = await claimFirst(this.etcd, this.name, { sort: { target: "key", order: "ascend" } }, signal);
      if (kv !== undefined) return kv.value;
      await waitPut(this.etcd, this.name, revision, signal);
    }
  }
}

/**
 * Barrier blocks waiters until it is released (etcd's contrib/recipes Barrier): hold puts
 * the barrier key, release deletes it, and wait returns once the key does not exist.
 */
export class Barrier {
  constructor(
    private readonly etcd: Etcd,
    readonly name: string,
  ) {}

  /** hold raises the barrier; false when it was already held. */
  async hold(): Promise<boolean> {
    const t = await this.etcd.txn().if(compare.version(this.name, "==", 0)).do(op.put(this.name, "")).commit();
    return t.succeeded;
  }

  /** release lowers the barrier, letting every waiter through. */
  async release(): Promise<void> {
    await this.etcd.delete(this.name);
  }

  /** wait resolves once the barrier is not held (at once when it is not). */
  async wait(signal?: AbortSignal): Promise<void> {
    const r = await this.etcd.range(this.name, signal !== undefined ? { signal } : {});
    if (r.kvs.length === 0) return;
    const w = this.etcd.watch(this.name, { startRevision: r.revision + 1n, ...(signal !== undefined ? { signal } : {}) });
    try {
      for await (const ev of w) if (ev.type === "delete") return;
      throw new Error("client: the watch ended before the barrier was released (aborted or closed)");
    } finally {
      w.close();
    }
  }
}
