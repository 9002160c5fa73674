import { describe, expect, it } from "vitest";
import { BUCKET_COUNT, bucketIndex, bucketLowerBound, bucketWidth, LatencyHistogram, MAX_MICROS } from "./histogram.js";

describe("bucketIndex", () => {
  it("is exact below 64 us and monotone, with every value inside its bucket's bounds", () => {
    for (let v = 0; v < 64; v++) expect(bucketIndex(v)).toBe(v);
    let prev = -1;
    const bad: number[] = [];
    for (let v = 0; v < 2_000_000; v += 7) {
      const i = bucketIndex(v);
      if (i < prev || v < bucketLowerBound(i) || v >= bucketLowerBound(i) + bucketWidth(i)) bad.push(v);
      prev = i;
    }
    expect(bad).toEqual([]);
  });

  it("keeps relative bucket width under 1/64 and fits the largest value", () => {
    for (let i = 64; i < BUCKET_COUNT; i++) expect(bucketWidth(i) / bucketLowerBound(i)).toBeLessThanOrEqual(1 / 64);
    expect(bucketIndex(MAX_MICROS)).toBe(BUCKET_COUNT - 1);
    expect(bucketIndex(MAX_MICROS * 10)).toBe(BUCKET_COUNT - 1);
    expect(bucketIndex(-5)).toBe(0);
  });
});

describe("LatencyHistogram", () => {
  it("reports percentiles of a uniform distribution within the bucket precision", () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 10_000; v++) h.record(v);
    expect(h.count).toBe(10_000);
    expect(h.min).toBe(1);
    expect(h.max).toBe(10_000);
    expect(h.mean()).toBeCloseTo(5000.5, 6);
    for (const [q, want] of [
      [0.5, 5000],
      [0.9, 9000],
      [0.99, 9900],
      [1, 10_000],
    ] as const) {
      expect(Math.abs(h.percentile(q) - want) / want).toBeLessThan(1 / 64);
    }
    expect(h.percentile(0)).toBe(1);
  });

  it("clamps percentiles to the exact min and max", () => {
    const h = new LatencyHistogram();
    h.record(1000.4);
    expect(h.percentile(0.5)).toBe(1000.4);
    expect(h.percentile(0.99)).toBe(1000.4);
  });

  it("returns 0 for an empty histogram", () => {
    const h = new LatencyHistogram();
    expect(h.percentile(0.5)).toBe(0);
    expect(h.mean()).toBe(0);
  });

  it("merges snapshots into the same result as recording everything in one", () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let v = 0; v < 5000; v++) {
      const x = (v * 7919) % 100_000;
      (v % 2 === 0 ? a : b).record(x);
      all.record(x);
    }
    const m = LatencyHistogram.fromSnapshot(a.snapshot());
    m.merge(b.snapshot());
    expect(m.count).toBe(all.count);
    expect(m.min).toBe(all.min);
    expect(m.max).toBe(all.max);
    expect(m.sum).toBe(all.sum);
    for (const q of [0.1, 0.5, 0.99]) expect(m.percentile(q)).toBe(all.percentile(q));
  });

  it("reset forgets everything", () => {
    const h = new LatencyHistogram();
    h.record(5);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.max).toBe(0);
    expect(h.min).toBe(Infinity);
    expect(h.counts.every((c) => c === 0)).toBe(true);
  });

  it("refuses to merge a histogram of another shape", () => {
    const h = new LatencyHistogram();
    expect(() => h.merge({ counts: new Float64Array(3), count: 0, sum: 0, min: Infinity, max: 0 })).toThrow(/histogram/);
  });
});
