import { afterEach, describe, expect, it } from "vitest";
import { Lessor, leaseKey } from "./lessor.js";
import { Harness } from "./testing/harness.js";

const harnesses: Harness[] = [];
async function member(opts: { minTtl?: number } = {}): Promise<Harness> {
  const h = await Harness.create(opts);
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.destroy();
});

describe("persistence", () => {
  it("stores each lease under lease/ + its 8-byte big-endian ID (two's complement for negative IDs)", () => {
    expect(leaseKey(0x0102030405060708n).toString("hex")).toBe(Buffer.from("lease/").toString("hex") + "0102030405060708");
    expect(leaseKey(-2n).subarray(6).toString("hex")).toBe("fffffffffffffffe");
  });

  it("a restart resumes from the checkpointed remaining TTL, else the full TTL", async () => {
    const h = await member();
    h.lessor.promote(0);
    h.lessor.grant(1n, 60n);
    h.lessor.grant(2n, 60n);
    h.lessor.grant(-3n, 100n);
    h.clock.at(5);
    for (const c of h.lessor.checkpoints(10)) if (c.id === 1n) h.lessor.applyCheckpoint(c.id, c.remainingTtl);
    await h.commit();
    await h.restart();
    const l = h.lessor;
    expect(l.isPrimary).toBe(false);
    expect(l.leases().sort()).toEqual([-3n, 1n, 2n].sort());
    expect(l.get(1n)).toEqual({ id: 1n, ttl: 60n, remainingTtl: 55n });
    expect(l.get(-3n)).toEqual({ id: -3n, ttl: 100n, remainingTtl: 0n });
    h.clock.at(1000);
    l.promote(0);
    expect(l.timeToLive(1n, false)?.ttl).toBe(55n);
    expect(l.timeToLive(2n, false)?.ttl).toBe(60n);
    h.clock.at(1055);
    expect(l.expired(10)).toEqual([1n]);
    l.revoke(1n);
    h.clock.at(1060);
    expect(l.expired(10)).toEqual([2n]);
  });

  it("a restart loses what was not committed, and keeps revokes that were", async () => {
    const h = await member();
    h.lessor.grant(1n, 60n);
    h.lessor.grant(2n, 60n);
    await h.commit();
    h.lessor.revoke(1n);
    await h.commit();
    h.lessor.grant(3n, 60n);
    h.lessor.applyCheckpoint(2n, 7n);
    await h.restart();
    expect(h.lessor.leases()).toEqual([2n]);
    expect(h.lessor.get(2n)?.remainingTtl).toBe(0n);
  });

  it("open sees writes still in the batch transaction", async () => {
    const h = await member();
    h.lessor.grant(1n, 60n);
    await h.commit();
    h.lessor.grant(2n, 60n);
    h.lessor.revoke(1n);
    const other = await Lessor.open(h.backend, h.tx, { minTtl: 1, checkpointIntervalMs: 5000, clock: h.clock.now });
    expect(other.leases()).toEqual([2n]);
  });

  it("raises a stored TTL below minTtl when loading", async () => {
    const h = await member({ minTtl: 1 });
    h.lessor.grant(1n, 2n);
    await h.commit();
    h.opts = { ...h.opts, minTtl: 5 };
    await h.restart();
    expect(h.lessor.get(1n)?.ttl).toBe(5n);
  });

  it("reopen reloads from a new backend after a snapshot install, drops attachments, keeps the role", async () => {
    const h = await member();
    const snap = await member();
    h.lessor.grant(1n, 60n);
    h.lessor.attach(1n, Buffer.from("k"));
    snap.lessor.grant(1n, 30n);
    snap.lessor.grant(2n, 60n);
    snap.lessor.applyCheckpoint(2n, 20n);
    await snap.commit();
    await h.lessor.reopen(snap.backend, snap.tx);
    expect(h.lessor.leases()).toEqual([1n, 2n]);
    expect(h.lessor.keys(1n)).toEqual([]);
    expect(h.lessor.leaseOf(Buffer.from("k"))).toBe(0n);
    expect(h.lessor.get(1n)?.ttl).toBe(30n);
    // Writes now go to the new transaction.
    h.lessor.grant(3n, 60n);
    expect(snap.tx.pendingSize).toBe(1);
    expect(h.tx.pendingSize).toBe(1); // the grant of lease 1 before the reopen
    expect(h.lessor.isPrimary).toBe(false);

    h.lessor.promote(0);
    h.clock.at(100);
    await h.lessor.reopen(snap.backend, snap.tx);
    expect(h.lessor.isPrimary).toBe(true);
    expect(h.lessor.exists(3n)).toBe(true); // pending in snap.tx, seen by the load
    expect(h.lessor.timeToLive(2n, false)?.ttl).toBe(20n);
    h.clock.at(120);
    expect(h.lessor.expired(10)).toEqual([2n]);
  });

  it("fails loudly on a malformed record", async () => {
    const h = await member();
    h.tx.put(Buffer.from("lease/short"), Buffer.from("x"));
    await h.commit();
    await expect(h.restart()).rejects.toThrow(/malformed backend key/);
  });
});
