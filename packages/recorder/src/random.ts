/**
 * Rng is a seeded pseudo-random source (mulberry32): the same seed gives the same sequence,
 * so a run's fault schedule and operation mix are reproduced by its seed.
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** next is uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** int is uniform in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[Math.floor(this.next() * xs.length)];
    if (x === undefined) throw new Error("robustness: pick from an empty list");
    return x;
  }
  /** fork derives an independent source (one per client), so clients do not perturb each other's sequences. */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 4294967296));
  }
}
