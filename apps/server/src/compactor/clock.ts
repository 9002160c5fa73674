import { performance } from "node:perf_hooks";

/**
 * Clock is the compactors' time source (etcd's clockwork.Clock): the real clock in a server,
 * a fake one in tests (testing/fake_clock.ts), so minutes and hours pass without waiting.
 */
export interface Clock {
  /** now is the current time in milliseconds from a fixed origin; only differences mean anything. */
  now(): number;
  /**
   * after calls fn once, ms milliseconds from now (Go's clock.After); the returned function
   * cancels the call if it has not happened yet.
   */
  after(ms: number, fn: () => void): () => void;
}

/** realClock is monotonic time and unref'ed timers: a pending call never keeps the process alive. */
export const realClock: Clock = {
  now: () => performance.now(),
  after(ms: number, fn: () => void): () => void {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};
