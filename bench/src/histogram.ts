/**
 * SUB_BUCKET_BITS is the log-linear histogram's precision: every power-of-two range of
 * latencies is split into 2^SUB_BUCKET_BITS equal buckets, so a recorded value is off by
 * less than 1/64 (1.6%) of itself. Values below 2^SUB_BUCKET_BITS microseconds are exact.
 */
const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;

/** MAX_MICROS is the largest recordable latency in microseconds (~35 minutes); larger values are clamped. */
export const MAX_MICROS = 0x7fffffff;

/** BUCKET_COUNT is the number of buckets needed to cover 0..MAX_MICROS. */
export const BUCKET_COUNT = (31 - SUB_BUCKET_BITS + 1) * SUB_BUCKETS;

/**
 * bucketIndex maps a latency in whole microseconds to its bucket. Values below SUB_BUCKETS
 * map to themselves; above, the top SUB_BUCKET_BITS+1 bits select the bucket.
 */
export function bucketIndex(micros: number): number {
  let v = Math.floor(micros);
  if (!(v > 0)) return 0;
  if (v > MAX_MICROS) v = MAX_MICROS;
  if (v < SUB_BUCKETS) return v;
  const msb = 31 - Math.clz32(v);
  const shift = msb - SUB_BUCKET_BITS;
  return (shift + 1) * SUB_BUCKETS + ((v >>> shift) - SUB_BUCKETS);
}

/** bucketLowerBound is the smallest microsecond value that maps to bucket i. */
export function bucketLowerBound(i: number): number {
  if (i < SUB_BUCKETS) return i;
  const shift = Math.floor(i / SUB_BUCKETS) - 1;
  const mantissa = (i % SUB_BUCKETS) + SUB_BUCKETS;
  return mantissa * 2 ** shift;
}

/** bucketWidth is the number of microsecond values that map to bucket i (1 below SUB_BUCKETS). */
export function bucketWidth(i: number): number {
  if (i < SUB_BUCKETS) return 1;
  return 2 ** (Math.floor(i / SUB_BUCKETS) - 1);
}

/**
 * LatencyHistogram records request latencies in microseconds into fixed log-linear buckets,
 * so recording is O(1) with no allocation and histograms from several worker threads merge
 * by adding their counts. Percentiles are reported as the middle of the bucket holding the
 * requested rank, clamped to the exact min and max seen.
 */
export class LatencyHistogram {
  /** counts[i] is the number of recorded values in bucket i. */
  readonly counts: Float64Array;
  /** count is the number of recorded values. */
  count = 0;
  /** sum is the sum of recorded values in microseconds. */
  sum = 0;
  /** min is the smallest recorded value in microseconds (Infinity when empty). */
  min = Infinity;
  /** max is the largest recorded value in microseconds (0 when empty). */
  max = 0;

  constructor(counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(BUCKET_COUNT);
  }

  /** record adds one latency in microseconds (fractions are truncated, negatives count as 0). */
  record(micros: number): void {
    const v = micros > 0 ? micros : 0;
    this.counts[bucketIndex(v)]! += 1;
    this.count += 1;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** reset forgets every recorded value. */
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
  }

  /** merge adds other's recorded values to this histogram. */
  merge(other: HistogramSnapshot | LatencyHistogram): void {
    const oc = other.counts;
    if (oc.length !== this.counts.length) {
      throw new Error(`histogram: cannot merge ${oc.length} buckets into ${this.counts.length}`);
    }
    for (let i = 0; i < oc.length; i++) this.counts[i]! += oc[i]!;
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      if (other.min < this.min) this.min = other.min;
      if (other.max > this.max) this.max = other.max;
    }
  }

  /** mean is the average recorded value in microseconds (0 when empty). */
  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * percentile returns the latency in microseconds below which a fraction q (0..1) of the
   * recorded values fall, within the bucket precision; 0 when empty.
   */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.min(this.count, Math.max(1, Math.ceil(q * this.count)));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const mid = bucketLowerBound(i) + (bucketWidth(i) - 1) / 2;
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  /** snapshot copies the histogram into a plain object that postMessage can carry. */
  snapshot(): HistogramSnapshot {
    return { counts: this.counts.slice(), count: this.count, sum: this.sum, min: this.min, max: this.max };
  }

  /** fromSnapshot rebuilds a histogram from a snapshot. */
  static fromSnapshot(s: HistogramSnapshot): LatencyHistogram {
    const h = new LatencyHistogram(new Float64Array(BUCKET_COUNT));
    h.merge(s);
    return h;
  }
}

/** HistogramSnapshot is a LatencyHistogram's state as plain data (structured-clone safe). */
export interface HistogramSnapshot {
  counts: Float64Array;
  count: number;
  sum: number;
  min: number;
  max: number;
}
