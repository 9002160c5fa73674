/**
 * Wait pairs a proposal with its result: the proposer registers an ID and awaits; the apply
 * loop triggers the ID with the outcome. Each ID is triggered at most once. IDs are bigint
 * (uint64 request IDs); a Map keeps bigint keys by value.
 */
export class Wait<T> {
  private readonly pending = new Map<bigint, { resolve: (v: T) => void; reject: (e: unknown) => void; start: number }>();
  private sweeper: NodeJS.Timeout | undefined;

  /**
   * constructor: a waiter not triggered within timeoutMs is rejected with timeoutError, or,
   * when that is a function, with what it returns for the waiter's ID and registration time
   * (etcd tells "request timed out" from "possibly due to previous leader failure" by when the
   * request started). One sweeping interval serves every waiter (no timer per request).
   */
  constructor(
    private readonly timeoutMs = Number.POSITIVE_INFINITY,
    private readonly timeoutError: unknown = new Error("wait: timed out"),
  ) {}

  /** register returns a promise settled by trigger/fail for `id`, or by the timeout. */
  register(id: bigint): Promise<T> {
    if (this.sweeper === undefined && Number.isFinite(this.timeoutMs)) {
      this.sweeper = setInterval(() => this.sweep(), Math.min(100, this.timeoutMs));
      this.sweeper.unref();
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, start: Date.now() });
    });
  }

  /** trigger resolves the waiter of `id`, if any (a replayed or foreign entry has none). */
  trigger(id: bigint, value: T): void {
    const w = this.pending.get(id);
    if (w === undefined) return;
    this.pending.delete(id);
    w.resolve(value);
  }

  /** fail rejects the waiter of `id`, if any. */
  fail(id: bigint, err: unknown): void {
    const w = this.pending.get(id);
    if (w === undefined) return;
    this.pending.delete(id);
    w.reject(err);
  }

  /** failAll rejects every waiter (server stopping) and stops the sweeper. */
  failAll(err: unknown): void {
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  get size(): number {
    return this.pending.size;
  }

  private sweep(): void {
    const expired = Date.now() - this.timeoutMs;
    // Map iteration is in insertion order, which is deadline order: stop at the first live one.
    for (const [id, w] of this.pending) {
      if (w.start > expired) break;
      this.pending.delete(id);
      const te = this.timeoutError;
      w.reject(typeof te === "function" ? (te as TimeoutErrorFn)(id, w.start) : te);
    }
  }
}

/** TimeoutErrorFn picks the error for a waiter that timed out, from its ID and start time (ms since the epoch). */
export type TimeoutErrorFn = (id: bigint, startMs: number) => unknown;

/**
 * IdGenerator makes unique uint64 request IDs like etcd's idutil: the top 16 bits are the low
 * bits of the member ID; the low 48 bits start at (start time in ms << 8) and count up, so IDs
 * stay unique across members and across restarts of one member.
 */
export class IdGenerator {
  private next: bigint;
  constructor(memberId: bigint, nowMs: number) {
    const prefix = (memberId & 0xffffn) << 48n;
    const suffix = (BigInt(nowMs) & 0xffffffffffn) << 8n;
    this.next = prefix | suffix;
  }
  id(): bigint {
    this.next = (this.next & 0xffff000000000000n) | ((this.next + 1n) & 0xffffffffffffn);
    return this.next;
  }
}
