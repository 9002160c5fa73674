/**
 * Wait pairs a proposal with its result: the proposer registers an ID and awaits; the apply
 * loop triggers the ID with the outcome. Each ID is triggered at most once. IDs are bigint
 * (uint64 request IDs); a Map keeps bigint keys by value.
 */
export class Wait<T> {
  private readonly pending = new Map<bigint, { resolve: (v: T) => void; reject: (e: unknown) => void }>();

  /** register returns a promise settled by trigger/fail for `id`. */
  register(id: bigint): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
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

  /** failAll rejects every waiter (server stopping). */
  failAll(err: unknown): void {
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
  }

  get size(): number {
    return this.pending.size;
  }
}

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
