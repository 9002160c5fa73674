import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LeaseError, type LeaseErrorCode } from "./errors.js";
import { MAX_LEASE_TTL } from "./lessor.js";
import { Harness } from "./testing/harness.js";

const b = (s: string): Buffer => Buffer.from(s);

function code(fn: () => unknown): LeaseErrorCode | string {
  try {
    fn();
  } catch (err) {
    if (err instanceof LeaseError) return err.code;
    return `other: ${(err as Error).message}`;
  }
  return "no error";
}

let h: Harness;
afterEach(async () => {
  await h.destroy();
});

describe("grant", () => {
  beforeEach(async () => {
    h = await Harness.create({ minTtl: 5 });
  });

  it("refuses ID 0, an ID in use and a TTL above MAX_LEASE_TTL, with etcd's messages", () => {
    expect(code(() => h.lessor.grant(0n, 10n))).toBe("not_found");
    h.lessor.grant(1n, 10n);
    expect(code(() => h.lessor.grant(1n, 20n))).toBe("exists");
    expect(() => h.lessor.grant(1n, 20n)).toThrow("lease already exists");
    expect(code(() => h.lessor.grant(2n, MAX_LEASE_TTL + 1n))).toBe("ttl_too_large");
    expect(() => h.lessor.grant(2n, MAX_LEASE_TTL + 1n)).toThrow("too large lease TTL");
    expect(h.lessor.exists(2n)).toBe(false);
    expect(h.lessor.grant(2n, MAX_LEASE_TTL).ttl).toBe(MAX_LEASE_TTL);
    expect(h.lessor.get(1n)).toEqual({ id: 1n, ttl: 10n, remainingTtl: 0n });
  });

  it("raises a TTL below minTtl (also zero and negative) to minTtl", () => {
    expect(h.lessor.grant(1n, 1n).ttl).toBe(5n);
    expect(h.lessor.grant(2n, 0n).ttl).toBe(5n);
    expect(h.lessor.grant(3n, -7n).ttl).toBe(5n);
    expect(h.lessor.grant(4n, 6n).ttl).toBe(6n);
    expect(h.lessor.timeToLive(1n, false)?.grantedTtl).toBe(5n);
  });

  it("persists the record into the batch transaction (written by its commit)", async () => {
    h.lessor.grant(7n, 30n);
    expect((await h.records()).size).toBe(0);
    await h.commit();
    expect(await h.records()).toEqual(new Map([[7n, [30n, 0n]]]));
  });

  it("on a non-primary the lease never expires; on the primary it expires at now + ttl", () => {
    h.clock.at(100);
    h.lessor.grant(1n, 10n);
    h.clock.at(1000);
    expect(h.lessor.expired(10)).toEqual([]);
    h.lessor.promote(0);
    h.lessor.grant(2n, 10n);
    h.clock.at(1009.999);
    expect(h.lessor.expired(10)).toEqual([]);
    h.clock.at(1010);
    expect(h.lessor.expired(10)).toEqual([1n, 2n]);
  });
});

describe("expiry", () => {
  beforeEach(async () => {
    h = await Harness.create();
    h.lessor.promote(0);
  });

  it("reports leases in expiry order, up to the limit, oldest first", () => {
    h.lessor.grant(1n, 30n);
    h.lessor.grant(2n, 10n);
    h.lessor.grant(3n, 20n);
    h.clock.at(1);
    h.lessor.grant(4n, 10n);
    expect(h.lessor.nextDeadline()).toBe(5000); // the first checkpoint
    h.clock.at(10.5);
    expect(h.lessor.expired(10)).toEqual([2n]);
    h.lessor.revoke(2n);
    h.clock.at(40);
    expect(h.lessor.expired(2)).toEqual([4n, 3n]);
    expect(h.lessor.expired(2)).toEqual([1n]);
    expect(h.lessor.expired(2)).toEqual([]);
  });

  it("renew extends the expiry; the lease's old place in the queue does not expire it early", () => {
    h.lessor.grant(1n, 10n);
    h.clock.at(8);
    expect(h.lessor.renew(1n)).toBe(10n);
    h.clock.at(12);
    expect(h.lessor.expired(10)).toEqual([]);
    expect(h.lessor.timeToLive(1n, false)?.ttl).toBe(6n);
    expect(h.lessor.remainingMs(1n)).toBe(6_000);
    expect(h.lessor.remainingMs(2n)).toBeUndefined();
    h.clock.at(17.999);
    expect(h.lessor.expired(10)).toEqual([]);
    h.clock.at(18);
    expect(h.lessor.expired(10)).toEqual([1n]);
  });

  it("renew: not_primary off the primary, not_found for unknown and for expired leases", () => {
    h.lessor.grant(1n, 10n);
    expect(code(() => h.lessor.renew(2n))).toBe("not_found");
    h.clock.at(10);
    expect(code(() => h.lessor.renew(1n))).toBe("not_found");
    h.lessor.demote();
    expect(code(() => h.lessor.renew(1n))).toBe("not_primary");
    expect(() => h.lessor.renew(1n)).toThrow("not a primary lessor");
  });

  it("reports an expired lease again only after the retry interval (3 s by default), while it exists", () => {
    h.lessor.grant(1n, 10n);
    h.lessor.grant(2n, 12n);
    h.clock.at(10);
    expect(h.lessor.expired(10)).toEqual([1n]);
    expect(h.lessor.expired(10)).toEqual([]);
    h.clock.at(12);
    expect(h.lessor.expired(10)).toEqual([2n]);
    h.clock.at(12.999);
    expect(h.lessor.expired(10)).toEqual([]);
    expect(h.lessor.checkpoints(10)).toEqual([]); // both expired: their checkpoints are dropped
    expect(h.lessor.nextDeadline()).toBe(13000);
    h.clock.at(13);
    expect(h.lessor.expired(10)).toEqual([1n]);
    h.lessor.revoke(2n);
    h.clock.at(100);
    expect(h.lessor.expired(10)).toEqual([1n]);
  });

  it("honours a configured retry interval", async () => {
    await h.destroy();
    h = await Harness.create({ expiredRetryMs: 500 });
    h.lessor.promote(0);
    h.lessor.grant(1n, 10n);
    h.clock.at(10);
    expect(h.lessor.expired(1)).toEqual([1n]);
    h.clock.at(10.499);
    expect(h.lessor.expired(1)).toEqual([]);
    h.clock.at(10.5);
    expect(h.lessor.expired(1)).toEqual([1n]);
  });

  it("promote: every lease expires extendMs after its remaining TTL; demote stops expiries", () => {
    h.lessor.demote();
    h.lessor.grant(1n, 10n);
    h.lessor.grant(2n, 20n);
    h.lessor.applyCheckpoint(2n, 4n);
    h.clock.at(100);
    expect(h.lessor.expired(10)).toEqual([]);
    expect(h.lessor.nextDeadline()).toBeUndefined();
    h.lessor.promote(1500);
    expect(h.lessor.isPrimary).toBe(true);
    expect(h.lessor.timeToLive(1n, false)?.ttl).toBe(11n);
    h.clock.at(105.499);
    expect(h.lessor.expired(10)).toEqual([]);
    h.clock.at(105.5);
    expect(h.lessor.expired(10)).toEqual([2n]);
    h.lessor.revoke(2n);
    h.clock.at(111.499);
    expect(h.lessor.expired(10)).toEqual([]);
    h.lessor.renew(1n);
    h.lessor.demote();
    expect(h.lessor.isPrimary).toBe(false);
    h.clock.at(1000);
    expect(h.lessor.expired(10)).toEqual([]);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    expect(h.lessor.nextDeadline()).toBeUndefined();
    expect(h.lessor.timeToLive(1n, false)?.ttl).toBe(-1n);
    h.lessor.promote(0);
    h.clock.at(1009.999);
    expect(h.lessor.expired(10)).toEqual([]);
    h.clock.at(1010);
    expect(h.lessor.expired(10)).toEqual([1n]);
  });

  it("promote spreads leases that would expire together: at most 3/4 of the revoke rate per second", () => {
    h.lessor.demote();
    for (let i = 1n; i <= 2000n; i++) h.lessor.grant(i, 10n);
    h.lessor.promote(0);
    const perSecond = new Map<number, number>();
    let last = 0;
    for (let i = 1n; i <= 2000n; i++) {
      const ttl = h.lessor.timeToLive(i, false)!.ttl;
      expect(ttl >= 10n && ttl <= 12n).toBe(true);
    }
    // Walk time forward and count what expires in each second.
    for (let s = 10; s <= 14; s++) {
      h.clock.at(s);
      const got = h.lessor.expired(5000);
      for (const id of got) h.lessor.revoke(id);
      perSecond.set(s, got.length);
      last += got.length;
    }
    expect(last).toBe(2000);
    expect(perSecond.get(10)).toBe(750);
    expect(perSecond.get(11)).toBe(0); // the 751st lease is pushed just past 11 s
    expect(perSecond.get(12)).toBe(750);
    expect(perSecond.get(13)).toBe(500);
    for (const n of perSecond.values()) expect(n).toBeLessThanOrEqual(750);
  });

  it("fewer leases than the revoke rate are not spread", () => {
    h.lessor.demote();
    for (let i = 1n; i <= 999n; i++) h.lessor.grant(i, 10n);
    h.lessor.promote(0);
    h.clock.at(10);
    expect(h.lessor.expired(5000).length).toBe(999);
  });
});

describe("revoke", () => {
  beforeEach(async () => {
    h = await Harness.create();
    h.lessor.promote(0);
  });

  it("removes the lease, its record, its keys and its place in the queues", async () => {
    h.lessor.grant(1n, 60n);
    h.lessor.grant(2n, 60n);
    h.lessor.attach(1n, b("a"));
    await h.commit();
    expect((await h.records()).has(1n)).toBe(true);
    h.lessor.revoke(1n);
    expect(h.lessor.exists(1n)).toBe(false);
    expect(h.lessor.keys(1n)).toEqual([]);
    expect(h.lessor.leaseOf(b("a"))).toBe(0n);
    expect(h.lessor.timeToLive(1n, true)).toBeUndefined();
    expect(h.lessor.leases()).toEqual([2n]);
    await h.commit();
    expect([...(await h.records()).keys()]).toEqual([2n]);
    h.lessor.revoke(2n);
    expect(h.lessor.nextDeadline()).toBeUndefined();
    h.clock.at(100);
    expect(h.lessor.expired(10)).toEqual([]);
    expect(h.lessor.checkpoints(10)).toEqual([]);
  });

  it("of an unknown lease throws not_found", () => {
    expect(code(() => h.lessor.revoke(9n))).toBe("not_found");
    expect(() => h.lessor.revoke(9n)).toThrow("lease not found");
  });
});

describe("attach and detach", () => {
  beforeEach(async () => {
    h = await Harness.create();
  });

  it("keys() lists the attached keys sorted by bytes; detach removes one; unknown detaches are no-ops", () => {
    h.lessor.grant(1n, 60n);
    h.lessor.grant(2n, 60n);
    for (const k of ["zeta", "alpha", "\u00ff", "alpha2", "Beta"]) h.lessor.attach(1n, b(k));
    h.lessor.attach(1n, b("alpha"));
    expect(h.lessor.keys(1n).map((k) => k.toString("latin1"))).toEqual(["Beta", "alpha", "alpha2", "zeta", "\u00c3\u00bf"]);
    h.lessor.detach(1n, b("alpha2"));
    h.lessor.detach(1n, b("nope"));
    h.lessor.detach(9n, b("zeta"));
    h.lessor.detach(2n, b("zeta"));
    expect(h.lessor.keys(1n).map(String)).toEqual(["Beta", "alpha", "zeta", "\u00ff"]);
    expect(h.lessor.leaseOf(b("zeta"))).toBe(1n);
    expect(h.lessor.keys(9n)).toEqual([]);
  });

  it("attach to an unknown lease throws not_found; attaching to another lease moves the key", () => {
    h.lessor.grant(1n, 60n);
    h.lessor.grant(2n, 60n);
    expect(code(() => h.lessor.attach(3n, b("k")))).toBe("not_found");
    h.lessor.attach(1n, b("k"));
    h.lessor.attach(2n, b("k"));
    expect(h.lessor.keys(1n)).toEqual([]);
    expect(h.lessor.keys(2n)).toEqual([b("k")]);
    expect(h.lessor.leaseOf(b("k"))).toBe(2n);
    h.lessor.detach(1n, b("k"));
    expect(h.lessor.leaseOf(b("k"))).toBe(2n);
    h.lessor.revoke(1n);
    expect(h.lessor.leaseOf(b("k"))).toBe(2n);
  });

  it("keeps its own copy of each key", () => {
    h.lessor.grant(1n, 60n);
    const k = b("key");
    h.lessor.attach(1n, k);
    k[0] = 0x4b;
    expect(h.lessor.keys(1n)).toEqual([b("key")]);
  });
});

describe("timeToLive", () => {
  beforeEach(async () => {
    h = await Harness.create();
    h.lessor.promote(0);
  });

  it("truncates the remaining time to whole seconds as etcd does, and lists keys only when asked", () => {
    h.lessor.grant(1n, 10n);
    h.lessor.attach(1n, b("b"));
    h.lessor.attach(1n, b("a"));
    expect(h.lessor.timeToLive(1n, false)).toEqual({ grantedTtl: 10n, ttl: 10n, keys: [] });
    h.clock.at(0.001);
    expect(h.lessor.timeToLive(1n, true)).toEqual({ grantedTtl: 10n, ttl: 9n, keys: [b("a"), b("b")] });
    h.clock.at(8.999);
    expect(h.lessor.timeToLive(1n, false)?.ttl).toBe(1n);
    h.clock.at(9.001);
    expect(h.lessor.timeToLive(1n, false)?.ttl).toBe(0n);
    h.clock.at(12.5);
    expect(h.lessor.timeToLive(1n, false)?.ttl).toBe(-2n); // expired, not yet revoked: etcd's int64(Seconds())
    expect(h.lessor.timeToLive(2n, true)).toBeUndefined();
  });

  it("reads -1 off the primary, where no expiry is tracked", () => {
    h.lessor.grant(1n, 10n);
    h.lessor.demote();
    expect(h.lessor.timeToLive(1n, false)).toEqual({ grantedTtl: 10n, ttl: -1n, keys: [] });
  });
});

describe("leases", () => {
  it("lists every lease, soonest expiry first, then by ID", async () => {
    h = await Harness.create();
    h.lessor.grant(5n, 60n);
    h.lessor.grant(-3n, 60n);
    h.lessor.grant(4n, 60n);
    expect(h.lessor.leases()).toEqual([-3n, 4n, 5n]);
    h.lessor.promote(0);
    h.lessor.renew(-3n);
    h.clock.at(1);
    h.lessor.renew(4n);
    expect(h.lessor.leases()).toEqual([-3n, 5n, 4n]);
    expect(h.lessor.size).toBe(3);
  });
});
