import { RaftInvariantError } from "../errors.js";

/**
 * Inflights is the flow-control window of one follower: a ring buffer of the last entry
 * indexes of MsgApp messages sent but not yet acknowledged, at most `size` of them.
 * Indexes are added in ascending order.
 */
export class Inflights {
  private start = 0;
  private count = 0;
  private buffer: bigint[] = [];
  readonly size: number;

  constructor(size: number) {
    this.size = size;
  }

  clone(): Inflights {
    const c = new Inflights(this.size);
    c.start = this.start;
    c.count = this.count;
    c.buffer = this.buffer.slice();
    return c;
  }

  /** add records a MsgApp whose last entry has index `inflight`. */
  add(inflight: bigint): void {
    if (this.full()) throw new RaftInvariantError("cannot add into a full inflights");
    let next = this.start + this.count;
    if (next >= this.size) next -= this.size;
    this.buffer[next] = inflight;
    this.count++;
  }

  /** freeLE frees every inflight message whose index is <= to. */
  freeLE(to: bigint): void {
    if (this.count === 0 || to < this.buffer[this.start]!) return;
    let idx = this.start;
    let i = 0;
    for (; i < this.count; i++) {
      if (to < this.buffer[idx]!) break;
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    this.count -= i;
    this.start = idx;
    if (this.count === 0) this.start = 0;
  }

  /** freeFirstOne frees the oldest inflight message. */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.buffer[this.start]!);
  }

  full(): boolean {
    return this.count === this.size;
  }

  length(): number {
    return this.count;
  }

  reset(): void {
    this.count = 0;
    this.start = 0;
  }
}
