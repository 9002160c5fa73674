import { afterEach, describe, expect, it } from "vitest";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Etcd } from "./embed.js";
import { leaderOf, running, startCluster, stopAll, until } from "./testing/cluster.js";

const b = (s: string): Buffer => Buffer.from(s);

afterEach(stopAll);

const get = async (e: Etcd, key: string) =>
  (await e.server.range(etcdserverpb.RangeRequest.fromPartial({ key: b(key), serializable: true }))).kvs[0];

async function cluster(): Promise<{ leader: Etcd; followers: Etcd[]; all: Etcd[] }> {
  const all = await startCluster(3);
  await until(() => all.some((m) => m.server.leader === m.server.memberId && m.server.lessor.isPrimary));
  const leader = leaderOf(all);
  return { leader, followers: all.filter((m) => m !== leader), all };
}

describe("leases on a 3-member cluster", () => {
  it("renews and answers TimeToLive on a follower by forwarding to the leader", async () => {
    const { followers } = await cluster();
    const f = followers[0] as Etcd;
    const g = await f.server.leaseGrant({ ID: 0n, TTL: 30n });
    expect(await f.server.leaseRenew(g.ID)).toBe(30n);
    const t = await f.server.leaseTimeToLive({ ID: g.ID, keys: false });
    expect(t.grantedTTL).toBe(30n);
    expect(t.TTL).toBeGreaterThan(25n);
    await expect(f.server.leaseRenew(12345n)).rejects.toMatchObject({ message: "etcdserver: requested lease not found" });
    await expect(f.server.leaseTimeToLive({ ID: 12345n, keys: false })).rejects.toMatchObject({ message: "etcdserver: requested lease not found" });
    // Every member knows the lease (it went through raft).
    await until(() => running.every((m) => m.server.lessor.exists(g.ID)));
  });

  it("expires a lease that is not kept alive on every member, its keys deleted at one revision", async () => {
    const { followers, all } = await cluster();
    const f = followers[1] as Etcd;
    await f.server.leaseGrant({ ID: 77n, TTL: 1n });
    await f.server.put(etcdserverpb.PutRequest.fromPartial({ key: b("x/1"), value: b("v"), lease: 77n }));
    const r = await f.server.put(etcdserverpb.PutRequest.fromPartial({ key: b("x/2"), value: b("v"), lease: 77n }));
    const putRev = r.header?.revision as bigint;
    const t0 = Date.now();
    await until(async () => (await Promise.all(all.map((m) => get(m, "x/1")))).every((kv) => kv === undefined), 5000);
    // TTL 1s plus the leader's expiry pass (500ms) and an election timeout's margin.
    expect(Date.now() - t0).toBeLessThan(1000 + 500 + 200 + 1000);
    await until(() => all.every((m) => m.server.kv.currentRevision === putRev + 1n));
    for (const m of all) {
      expect(await get(m, "x/2")).toBeUndefined();
      expect(m.server.lessor.exists(77n)).toBe(false);
    }
  });

  it("a new leader resumes a lease from its checkpointed remaining TTL and never expires one that is kept alive", async () => {
    const { leader, followers } = await cluster();
    const f = followers[0] as Etcd;
    await f.server.leaseGrant({ ID: 1n, TTL: 60n });
    await f.server.leaseGrant({ ID: 2n, TTL: 2n });
    await f.server.put(etcdserverpb.PutRequest.fromPartial({ key: b("kept"), value: b("v"), lease: 2n }));
    let stopKeeping = false;
    const keeper = (async () => {
      while (!stopKeeping) {
        await f.server.leaseRenew(2n).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    // Past a checkpoint (every 5s), then the leader dies.
    await new Promise((r) => setTimeout(r, 6000));
    await leader.stop();
    running.splice(running.indexOf(leader), 1);
    await until(() => running.some((m) => m.server.leader === m.server.memberId && m.server.lessor.isPrimary), 10_000);
    const t = await f.server.leaseTimeToLive({ ID: 1n, keys: false });
    // About 60 - 6 s, not the full 60 s, and not expired early.
    expect(t.TTL).toBeLessThanOrEqual(56n);
    expect(t.TTL).toBeGreaterThanOrEqual(50n);
    await new Promise((r) => setTimeout(r, 3000));
    stopKeeping = true;
    await keeper;
    expect(await get(f, "kept")).toBeDefined();
  }, 30_000);
});
