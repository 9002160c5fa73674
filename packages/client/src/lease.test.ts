import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import { EtcdError } from "./errors.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

const b = (s: string): Buffer => Buffer.from(s);

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: not within ${ms}ms`)), ms);
    }),
  ]);
}

describe("Lease against etcd", () => {
  let etcd: RunningEtcd;
  let c: Client;
  beforeAll(async () => {
    etcd = await startEtcd();
    c = new Client({ endpoints: [etcd.endpoint] });
  }, 30_000);
  afterAll(async () => {
    c?.close();
    await etcd?.stop();
  });

  it("grants with a server- or client-chosen ID, lists, reports time to live with keys, and revokes", async () => {
    const g = await c.lease.grant(100);
    expect(g.ID).toBeGreaterThan(0n);
    expect(g.TTL).toBe(100n);
    const mine = await c.lease.grant(50n, { id: 0x1234n });
    expect(mine.ID).toBe(0x1234n);
    await expect(c.lease.grant(50, { id: 0x1234n })).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      message: "etcdserver: lease already exists",
    });
    await c.put({ key: b("lk1"), value: b("v"), lease: 0x1234n });
    await c.put({ key: b("lk2"), value: b("v"), lease: 0x1234n });
    const ttl = await c.lease.timeToLive(0x1234n, { keys: true });
    expect(ttl.grantedTTL).toBe(50n);
    expect(ttl.TTL).toBeGreaterThan(40n);
    // etcd lists a lease's keys in map order (random), so compare them as a set.
    expect(ttl.keys.map((k) => k.toString()).sort()).toEqual(["lk1", "lk2"]);
    expect((await c.lease.timeToLive(0x1234n)).keys).toEqual([]);
    const list = await c.lease.leases();
    expect(list.leases.map((l) => l.ID).sort()).toEqual([g.ID, 0x1234n].sort());

    await c.lease.revoke(0x1234n);
    expect((await c.range({ key: b("lk"), rangeEnd: b("ll") })).count).toBe(0n);
    const gone = await c.lease.timeToLive(0x1234n);
    expect([gone.TTL, gone.grantedTTL]).toEqual([-1n, 0n]);
    await expect(c.lease.revoke(0x1234n)).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      message: "etcdserver: requested lease not found",
    });
    await c.lease.revoke(g.ID);
  });

  it("renews once, and refuses to renew a lease that is gone", async () => {
    const g = await c.lease.grant(30);
    const r = await c.lease.keepAliveOnce(g.ID);
    expect([r.ID, r.TTL]).toEqual([g.ID, 30n]);
    await c.lease.revoke(g.ID);
    const err = await c.lease.keepAliveOnce(g.ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdError);
    expect(err).toMatchObject({ code: grpc.status.NOT_FOUND, message: "etcdserver: requested lease not found" });
  });

  it("keeps a lease alive past its TTL, and reports it lost when it is revoked", async () => {
    const ka = await c.lease.grantKeptAlive(2);
    const answers: bigint[] = [];
    ka.on("keepalive", (r: { TTL: bigint }) => answers.push(r.TTL));
    await new Promise((r) => setTimeout(r, 3500));
    expect((await c.lease.timeToLive(ka.id)).TTL).toBeGreaterThan(0n);
    // A keep-alive every TTL/3: the first at once, then about every 667 ms.
    expect(answers.length).toBeGreaterThanOrEqual(4);
    expect(answers.every((t) => t === 2n)).toBe(true);

    const other = await c.lease.grantKeptAlive(60);
    await c.lease.revoke(ka.id);
    const lost = await within(ka.lost, 3000, "lost");
    expect(lost).toMatchObject({ code: grpc.status.NOT_FOUND, message: "etcdserver: requested lease not found" });
    expect(ka.isDone).toBe(true);
    // The other lease on the same stream is unaffected.
    expect(other.isDone).toBe(false);
    const it = other[Symbol.asyncIterator]();
    expect((await it.next()).value?.TTL).toBe(60n);
    other.close();
    expect((await it.next()).done).toBe(true);
    await c.lease.revoke(other.id);
  });

  it("iterates over keep-alive answers until the lease is gone", async () => {
    const g = await c.lease.grant(3);
    const ka = c.lease.keepAlive(g.ID);
    const seen: bigint[] = [];
    let revoked = false;
    for await (const r of ka) {
      seen.push(r.TTL);
      if (!revoked) {
        revoked = true;
        await c.lease.revoke(g.ID);
      }
    }
    expect(seen).toEqual([3n]);
    expect(await ka.lost).toMatchObject({ code: grpc.status.NOT_FOUND });
  });
});

describe("Lease keep-alive without a server", () => {
  it("reports the lease lost once no answer came within the TTL", async () => {
    const etcd = await startEtcd();
    const c = new Client({ endpoints: [etcd.endpoint], dialTimeoutMs: 500 });
    try {
      const ka = await c.lease.grantKeptAlive(2);
      await new Promise<void>((resolve) => ka.once("keepalive", () => resolve()));
      await etcd.stop();
      const t0 = Date.now();
      const err = await within(ka.lost, 6000, "lost");
      expect(err).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED, local: true });
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      c.close();
      await etcd.stop();
    }
  }, 40_000);
});

describe("Lease keep-alive across a member loss", () => {
  it("keeps renewing through another member when the one serving the stream dies", async () => {
    const etcd = await startEtcd({ size: 3 });
    const probe = new Client({ endpoints: [etcd.endpoint] });
    try {
      // Serve the stream from a follower, so that killing it does not need an election.
      const st = await Promise.all(etcd.members.map((m) => probe.status(m.endpoint)));
      const leaderIdx = st.findIndex((s) => s.leader === s.header!.memberId);
      const others = etcd.members.filter((_, i) => i !== leaderIdx);
      const follower = others[0]!;
      const c = new Client({ endpoints: [follower.endpoint, ...others.slice(1).map((m) => m.endpoint), etcd.members[leaderIdx]!.endpoint] });
      try {
        const ka = await c.lease.grantKeptAlive(2);
        await new Promise<void>((resolve) => ka.once("keepalive", () => resolve()));
        await follower.stop();
        let renewals = 0;
        ka.on("keepalive", () => renewals++);
        // Twice the TTL: without failover the lease would be lost by now.
        await new Promise((r) => setTimeout(r, 4000));
        expect(ka.isDone).toBe(false);
        expect(renewals).toBeGreaterThanOrEqual(2);
        expect((await c.lease.timeToLive(ka.id)).TTL).toBeGreaterThan(0n);
        ka.close();
      } finally {
        c.close();
      }
    } finally {
      probe.close();
      await etcd.stop();
    }
  }, 60_000);
});
