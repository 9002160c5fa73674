import type { Backend, WriteOp } from "./backend.js";

/** DEFAULT_LIMIT_OPS is BatchTxOptions.limitOps's default (etcd's defaultBatchLimit). */
export const DEFAULT_LIMIT_OPS = 10_000;

/** BatchTxOptions tune when committed batches reach the backend. */
export interface BatchTxOptions {
  /**
   * intervalMs: a backend write starts at least this long after the previous one started
   * (etcd's --backend-batch-interval); the batches committed meanwhile wait, readable
   * through lookup() and unflushed(), and go in one write. Fewer, larger writes cost one
   * native call and one thread-pool trip each. 0 (the default) writes as soon as the
   * previous write is done.
   */
  intervalMs?: number;
  /**
   * limitOps: once this many operations wait, they are written without waiting for the
   * interval (etcd's --backend-batch-limit). Default DEFAULT_LIMIT_OPS.
   */
  limitOps?: number;
}

/** Batch is a group of backend operations written atomically. */
interface Batch {
  ops: WriteOp[];
  /** overlayKeys are the overlay entries this batch adds, dropped once it is written. */
  overlayKeys: string[];
  written: Deferred;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A batch nobody waits on must not report an unhandled rejection; waiters still see it.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * BatchTx is the one write transaction every store of a member writes into (etcd's
 * backend.BatchTx): mvcc, membership, and the consistent index put their changes into the
 * pending batch, and its owner (the server's apply loop) commits it once per applied batch,
 * so everything one batch of raft entries changed reaches the backend atomically. Batches are
 * written strictly one after another, in commit order (batches committed while a write is in
 * flight go together in the next write). Until a batch is written, the values
 * it puts under overlay keys stay readable through lookup(), so readers never wait for the
 * disk. After one write fails every later write fails too: memory is then ahead of the
 * backend and the process must restart from the WAL.
 */
export class BatchTx {
  private readonly backend: Backend;
  private pending: Batch = newBatch();
  private readonly inflight: Batch[] = [];
  /** queued are the committed batches not yet handed to the backend, in commit order. */
  private queued: Batch[] = [];
  /** queuedOps counts the operations of queued. */
  private queuedOps = 0;
  private readonly intervalMs: number;
  private readonly limitOps: number;
  /** lastWriteAt is when the last backend write started (performance.now(), ms). */
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  /** wake ends the wait for the interval, when one runs. */
  private wake: (() => void) | undefined;
  /** hurry: idle() was called; the next write does not wait for the interval. */
  private hurry = false;
  private readonly overlay = new Map<string, Buffer>();
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  /**
   * onWritten, when set, gets the duration in seconds of each batch write to the backend
   * (a commit's or write()'s), measured around the write alone, not the wait before it.
   */
  onWritten: ((seconds: number) => void) | undefined;

  constructor(backend: Backend, opts: BatchTxOptions = {}) {
    this.backend = backend;
    this.intervalMs = opts.intervalMs ?? 0;
    this.limitOps = opts.limitOps ?? DEFAULT_LIMIT_OPS;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs < 0) {
      throw new Error(`backend: batch interval must be a non-negative number of milliseconds, got ${this.intervalMs}`);
    }
    if (!Number.isSafeInteger(this.limitOps) || this.limitOps <= 0) {
      throw new Error(`backend: batch limit must be a positive integer, got ${this.limitOps}`);
    }
  }

  /** put appends a put to the pending batch; overlayKey makes value readable via lookup until written. */
  put(key: Buffer, value: Buffer, overlayKey?: string): void {
    this.pending.ops.push({ type: "put", key, value });
    if (overlayKey !== undefined) {
      this.overlay.set(overlayKey, value);
      this.pending.overlayKeys.push(overlayKey);
    }
  }

  /** lookup returns a value put under overlayKey that is not yet known to be in the backend. */
  lookup(overlayKey: string): Buffer | undefined {
    return this.overlay.get(overlayKey);
  }

  /** pendingWritten resolves once the current pending batch has been written. */
  pendingWritten(): Promise<void> {
    return this.pending.written.promise;
  }

  /** pendingSize is the number of operations waiting in the pending batch. */
  get pendingSize(): number {
    return this.pending.ops.length;
  }

  /** del appends a deletion to the pending batch. */
  del(key: Buffer): void {
    this.pending.ops.push({ type: "del", key });
  }

  /** commit writes the pending batch after all earlier batches; it resolves once written. */
  commit(): Promise<void> {
    const batch = this.pending;
    this.pending = newBatch();
    this.enqueue(batch);
    return batch.written.promise;
  }

  /** write writes ops as their own batch after all earlier batches (pending ops stay pending). */
  write(ops: WriteOp[]): Promise<void> {
    const batch = newBatch();
    batch.ops = ops;
    this.enqueue(batch);
    return batch.written.promise;
  }

  /** unflushed returns the operations not yet known to be written, in write order. */
  unflushed(): WriteOp[] {
    const ops: WriteOp[] = [];
    for (const b of this.inflight) ops.push(...b.ops);
    ops.push(...this.pending.ops);
    return ops;
  }

  /** idle resolves when every batch committed so far has been written or has failed (without waiting for the interval). */
  idle(): Promise<void> {
    if (this.queued.length > 0) this.hurry = true;
    this.wake?.();
    return this.tail;
  }

  /**
   * sync resolves once every batch committed so far is written and durable on disk (writes
   * are otherwise unsynced), e.g. before the WAL releases the entries they hold.
   */
  async sync(): Promise<void> {
    await this.idle();
    if (this.failure !== undefined) throw this.failure;
    await this.backend.sync();
  }

  /** failed is the error of the first failed write, after which nothing more is written. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /**
   * close discards the pending batch (its writes are replayed from the WAL after a restart)
   * and resolves once the batches already committed have been written.
   */
  async close(): Promise<void> {
    if (this.closed) return this.tail;
    this.closed = true;
    this.pending.written.reject(new Error("backend: batch transaction closed before the batch was committed"));
    this.pending = newBatch();
    return this.idle();
  }

  private enqueue(batch: Batch): void {
    if (this.closed) {
      batch.written.reject(new Error("backend: batch transaction is closed"));
      return;
    }
    this.inflight.push(batch);
    this.queued.push(batch);
    this.queuedOps += batch.ops.length;
    if (this.queued.length > 1) {
      // Joins the group the next write picks up.
      if (this.queuedOps >= this.limitOps) this.wake?.();
      return;
    }
    this.tail = this.tail.then(() => this.waitInterval()).then(() => this.writeQueued());
  }

  /** waitInterval resolves once intervalMs has passed since the last write started, or at once when woken (limit reached, idle, sync, close). */
  private waitInterval(): Promise<void> | undefined {
    const wait = this.lastWriteAt + this.intervalMs - performance.now();
    if (wait <= 0 || this.queuedOps >= this.limitOps || this.closed || this.hurry) return undefined;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.wake = done;
    });
  }

  /**
   * writeQueued writes every batch queued since the previous write as one backend write (a
   * group commit: under load each write carries the batches committed while the one before it
   * was in the RocksDB thread, so one native call and one thread-pool trip serve them all).
   * The union of consecutive batches is as atomic as each of them, and keeps their order.
   */
  private async writeQueued(): Promise<void> {
    // Batches committed in this same microtask run join the group; later ones start the next.
    await Promise.resolve();
    const group = this.queued;
    this.queued = [];
    this.queuedOps = 0;
    this.hurry = false;
    this.lastWriteAt = performance.now();
    let ops = group[0]!.ops;
    if (group.length > 1) {
      ops = [];
      for (const b of group) for (const op of b.ops) ops.push(op);
    }
    try {
      if (this.failure !== undefined) throw this.failure;
      const start = this.onWritten === undefined ? 0 : performance.now();
      await this.backend.write(ops);
      if (this.onWritten !== undefined) this.onWritten((performance.now() - start) / 1000);
    } catch (err) {
      this.failure ??= new Error(`backend: batch write failed: ${(err as Error).message}`, { cause: err });
      this.inflight.splice(0, group.length);
      for (const b of group) b.written.reject(this.failure);
      return;
    }
    this.inflight.splice(0, group.length);
    for (const b of group) {
      for (const key of b.overlayKeys) this.overlay.delete(key);
      b.written.resolve();
    }
  }
}

function newBatch(): Batch {
  return { ops: [], overlayKeys: [], written: deferred() };
}
