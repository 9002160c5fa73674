import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness } from "./testing/harness.js";

const N = 100_000;
let h: Harness;
beforeEach(async () => {
  h = await Harness.create();
});
afterEach(async () => {
  await h.destroy();
});

describe("100k leases", () => {
  it("expire in expiry order, limit per call, each reported once until the retry interval", () => {
    h.lessor.promote(0);
    // TTLs 10..59 s, IDs interleaved so expiry order differs from grant order.
    for (let i = 0; i < N; i++) h.lessor.grant(BigInt(i + 1), BigInt(10 + ((i * 7919) % 50)));
    h.clock.at(9.999);
    expect(h.lessor.expired(1000)).toEqual([]);
    h.clock.at(60);
    const seen = new Set<bigint>();
    const sizes = new Set<number>();
    let lastTtl = 0n;
    let outOfOrder = 0;
    for (let call = 0; call < N / 1000; call++) {
      const got = h.lessor.expired(1000);
      sizes.add(got.length);
      for (const id of got) {
        const ttl = h.lessor.get(id)!.ttl;
        if (ttl < lastTtl) outOfOrder++;
        lastTtl = ttl;
        seen.add(id);
      }
    }
    expect([...sizes]).toEqual([1000]);
    expect(outOfOrder).toBe(0);
    expect(seen.size).toBe(N);
    expect(h.lessor.expired(1000)).toEqual([]);
    h.clock.at(63);
    expect(h.lessor.expired(1000)).toHaveLength(1000);
  });

  it("renewed leases are not expired by their old queue places", () => {
    h.lessor.promote(0);
    for (let i = 1; i <= N; i++) h.lessor.grant(BigInt(i), 10n);
    h.clock.at(8);
    for (let i = 1; i <= N; i += 2) h.lessor.renew(BigInt(i));
    h.clock.at(12);
    let n = 0;
    let odd = 0;
    for (let got = h.lessor.expired(1000); got.length > 0; got = h.lessor.expired(1000)) {
      odd += got.filter((id) => id % 2n === 1n).length;
      n += got.length;
    }
    expect(n).toBe(N / 2);
    expect(odd).toBe(0);
    h.clock.at(17.999);
    expect(h.lessor.expired(N).filter((id) => id % 2n === 1n)).toEqual([]);
    h.clock.at(18);
    expect(h.lessor.expired(N).filter((id) => id % 2n === 1n)).toHaveLength(N / 2);
  });

  it("checkpoint in batches of the limit, each lease once per interval", () => {
    h.lessor.promote(0);
    for (let i = 1; i <= N; i++) h.lessor.grant(BigInt(i), 60n);
    h.clock.at(5);
    const seen = new Set<bigint>();
    const sizes = new Set<number>();
    const values = new Set<bigint>();
    for (let call = 0; call < N / 1000; call++) {
      const got = h.lessor.checkpoints(1000);
      sizes.add(got.length);
      for (const c of got) {
        values.add(c.remainingTtl);
        seen.add(c.id);
        h.lessor.applyCheckpoint(c.id, c.remainingTtl);
      }
    }
    expect([...sizes]).toEqual([1000]);
    expect([...values]).toEqual([55n]);
    expect(seen.size).toBe(N);
    expect(h.lessor.checkpoints(1000)).toEqual([]);
    expect(h.lessor.nextDeadline()).toBe(10_000);
  });

  it("a call looks at a bounded number of due leases even when none needs a checkpoint", () => {
    // Promoted with a long extension: at the first checkpoint every lease still has more than
    // its full TTL left, so each due lease is looked at and skipped.
    for (let i = 1; i <= N; i++) h.lessor.grant(BigInt(i), 10n);
    h.lessor.promote(10_000);
    h.clock.at(5);
    expect(h.lessor.checkpoints(100)).toEqual([]);
    // It stopped after 4 * limit leases: the rest are still due.
    expect(h.lessor.nextDeadline()).toBe(5000);
    let calls = 1;
    let returned = 0;
    while (h.lessor.nextDeadline()! <= 5000) {
      returned += h.lessor.checkpoints(100).length;
      calls++;
    }
    expect(returned).toBe(0);
    expect(calls).toBe(N / 400);
    expect(h.lessor.nextDeadline()).toBe(10_000);
  });
});
