import type { Clock } from "../compactor/clock.js";

/** FakeTimer is one pending `after` call of a FakeClock. */
interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * FakeClock is a Clock whose time moves only when a test advances it (etcd's clockwork fake
 * clock). Time starts at 0 ms.
 */
export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: FakeTimer[] = [];

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): () => void {
    const timer: FakeTimer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  /** pending is how many `after` calls are waiting. */
  get pending(): number {
    return this.timers.length;
  }

  /**
   * advance moves time forward by ms. The calls that fall due run in time order, each at its
   * own time, and the work each one starts (promises, immediates) settles before the next
   * runs, so a call scheduled meanwhile also runs if it falls due within the advance.
   */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: FakeTimer | undefined;
      for (const x of this.timers) {
        if (x.at <= end && (next === undefined || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      }
      if (next === undefined) break;
      const due = next;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await settle();
  }
}

/** settle lets pending promise callbacks and immediates run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
