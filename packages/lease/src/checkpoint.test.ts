import { afterEach, describe, expect, it } from "vitest";
import { Harness } from "./testing/harness.js";

const harnesses: Harness[] = [];
async function member(opts: { checkpointIntervalMs?: number } = {}): Promise<Harness> {
  const h = await Harness.create(opts);
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.destroy();
});

describe("checkpoints on the primary", () => {
  it("are due one interval after the grant for leases that outlive it, with remaining seconds rounded up", async () => {
    const h = await member();
    h.lessor.promote(0);
    h.clock.at(0.2);
    h.lessor.grant(1n, 60n);
    h.lessor.grant(2n, 5n); // expires when its checkpoint would be due: none
    h.lessor.grant(3n, 10n);
    h.clock.at(5.199);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    expect(h.lessor.nextDeadline()).toBe(5200);
    h.clock.at(5.2);
    expect(h.lessor.checkpoints(10)).toEqual([
      { id: 1n, remainingTtl: 55n },
      { id: 3n, remainingTtl: 5n },
    ]);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    h.clock.at(6.7);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    expect(h.lessor.expired(10)).toEqual([2n]);
    h.lessor.revoke(2n);
    // Applied a moment later: recorded and persisted; the primary's expiry does not move.
    h.lessor.applyCheckpoint(1n, 55n);
    h.lessor.applyCheckpoint(3n, 5n);
    expect(h.lessor.get(1n)?.remainingTtl).toBe(55n);
    expect(h.lessor.timeToLive(1n, false)?.ttl).toBe(53n);
    await h.commit();
    expect((await h.records()).get(1n)).toEqual([60n, 55n]);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    // The next one comes one interval after the previous was taken; lease 3 expires first.
    expect(h.lessor.nextDeadline()).toBe(10200);
    h.clock.at(10.2);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 50n }]);
    h.clock.at(10.7);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    expect(h.lessor.expired(10)).toEqual([3n]);
  });

  it("respects the limit and returns the rest on the next call, earliest due first", async () => {
    const h = await member();
    h.lessor.promote(0);
    for (let i = 1n; i <= 5n; i++) {
      h.clock.at(Number(i) / 10);
      h.lessor.grant(10n - i, 60n);
    }
    h.clock.at(6);
    expect(h.lessor.checkpoints(2).map((c) => c.id)).toEqual([9n, 8n]);
    expect(h.lessor.checkpoints(2).map((c) => c.id)).toEqual([7n, 6n]);
    expect(h.lessor.checkpoints(2)).toEqual([{ id: 5n, remainingTtl: 55n }]);
    expect(h.lessor.checkpoints(2)).toEqual([]);
  });

  it("a lost checkpoint proposal is retried one interval later", async () => {
    const h = await member();
    h.lessor.promote(0);
    h.lessor.grant(1n, 60n);
    h.clock.at(5);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 55n }]);
    h.clock.at(10);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 50n }]);
  });

  it("leave out a lease whose recorded remaining TTL is already the value", async () => {
    const h = await member();
    h.lessor.promote(0);
    h.lessor.grant(1n, 60n);
    h.clock.at(10);
    h.lessor.applyCheckpoint(1n, 50n); // e.g. recorded from an earlier leader's view
    expect(h.lessor.checkpoints(10)).toEqual([]);
    expect(h.lessor.nextDeadline()).toBe(15000);
    h.clock.at(15);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 45n }]);
  });

  it("renew of a lease with a recorded remaining TTL makes a clearing checkpoint due at once", async () => {
    const h = await member();
    h.lessor.promote(0);
    h.lessor.grant(1n, 60n);
    h.lessor.grant(2n, 60n);
    h.clock.at(5);
    expect(h.lessor.checkpoints(10)).toHaveLength(2);
    h.lessor.applyCheckpoint(1n, 55n);
    h.lessor.applyCheckpoint(2n, 55n);
    h.clock.at(7);
    expect(h.lessor.renew(1n)).toBe(60n);
    expect(h.lessor.nextDeadline()).toBe(7000);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 0n }]);
    h.lessor.applyCheckpoint(1n, 0n);
    await h.commit();
    expect((await h.records()).get(1n)).toEqual([60n, 0n]);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    h.clock.at(10);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 2n, remainingTtl: 50n }]);
    h.clock.at(12);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 55n }]);
  });

  it("renew of a lease without a recorded remaining TTL needs no checkpoint until one interval later", async () => {
    const h = await member();
    h.lessor.promote(0);
    h.lessor.grant(1n, 60n);
    h.clock.at(4);
    h.lessor.renew(1n);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    expect(h.lessor.nextDeadline()).toBe(9000);
    h.clock.at(9);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 55n }]);
  });

  it("an applied checkpoint that understates the primary's remaining time (taken before a renew) is corrected at once", async () => {
    const h = await member();
    h.lessor.promote(0);
    h.lessor.grant(1n, 60n);
    h.clock.at(5);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 55n }]);
    h.clock.at(6);
    h.lessor.renew(1n); // nothing recorded yet: no clearing checkpoint
    expect(h.lessor.checkpoints(10)).toEqual([]);
    h.clock.at(6.5);
    h.lessor.applyCheckpoint(1n, 55n); // the checkpoint taken at 5 s lands after the renew
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 0n }]);
  });

  it("an applied checkpoint taken a moment earlier does not trigger another", async () => {
    const h = await member();
    h.lessor.promote(0);
    h.lessor.grant(1n, 60n);
    h.clock.at(5.5);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 1n, remainingTtl: 55n }]);
    h.clock.at(9.9);
    h.lessor.applyCheckpoint(1n, 55n);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    expect(h.lessor.nextDeadline()).toBe(10500);
  });

  it("with checkpointIntervalMs 0 none are scheduled, but a recorded remaining TTL is still cleared on renew", async () => {
    const h = await member({ checkpointIntervalMs: 0 });
    h.lessor.promote(0);
    h.lessor.grant(1n, 60n);
    h.lessor.grant(2n, 60n);
    h.clock.at(30);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    expect(h.lessor.nextDeadline()).toBe(60000);
    h.lessor.applyCheckpoint(2n, 30n);
    h.lessor.renew(2n);
    expect(h.lessor.checkpoints(10)).toEqual([{ id: 2n, remainingTtl: 0n }]);
    expect(h.lessor.checkpoints(10)).toEqual([]);
  });
});

describe("checkpoints off the primary", () => {
  it("none are due; applied ones are recorded and persisted; unknown IDs are ignored", async () => {
    const h = await member();
    h.lessor.grant(1n, 60n);
    h.clock.at(30);
    expect(h.lessor.checkpoints(10)).toEqual([]);
    h.lessor.applyCheckpoint(1n, 31n);
    h.lessor.applyCheckpoint(2n, 31n);
    expect(h.lessor.exists(2n)).toBe(false);
    expect(h.lessor.get(1n)).toEqual({ id: 1n, ttl: 60n, remainingTtl: 31n });
    await h.commit();
    expect(await h.records()).toEqual(new Map([[1n, [60n, 31n]]]));
  });
});

describe("leader change", () => {
  /** run grants a 60 s lease on a leader and a follower, applies the leader's checkpoints on both, and fails over at 10.5 s. */
  async function run(checkpointIntervalMs: number): Promise<bigint> {
    const leader = await member({ checkpointIntervalMs });
    const follower = await member({ checkpointIntervalMs });
    leader.lessor.promote(0);
    for (const m of [leader, follower]) m.lessor.grant(1n, 60n);
    for (let ms = 0; ms <= 10_500; ms += 500) {
      leader.clock.ms = ms;
      follower.clock.ms = ms;
      for (const c of leader.lessor.checkpoints(1000)) {
        for (const m of [leader, follower]) m.lessor.applyCheckpoint(c.id, c.remainingTtl);
      }
    }
    leader.lessor.demote();
    follower.lessor.promote(1000);
    return follower.lessor.timeToLive(1n, false)!.ttl;
  }

  it("the new leader resumes from the last checkpoint: a 60 s lease read 10.5 s after its grant is about 50 s", async () => {
    const ttl = await run(5000);
    // Truth: 49.5 s left; checkpointed 50 s at 10 s, plus the 1 s election extension.
    expect(ttl).toBe(51n);
  });

  it("without checkpoints it would restart from the full TTL", async () => {
    expect(await run(0)).toBe(61n);
  });
});
