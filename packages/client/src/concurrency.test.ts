import * as grpc from "@grpc/grpc-js";
import type { etcdserverpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import { Election, leaseHex, Mutex, Session } from "./concurrency.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

const settled = async (p: Promise<unknown>, ms = 300): Promise<boolean> =>
  Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe("concurrency against etcd", () => {
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

  it("formats lease IDs as Go's %x", () => {
    expect(leaseHex(0x694d7e3b1a2c5f06n)).toBe("694d7e3b1a2c5f06");
    expect(leaseHex(-1n)).toBe("-1");
    expect(leaseHex(0xffffffffffffffffn)).toBe("-1");
  });

  it("hands a mutex to the waiters in order of arrival", async () => {
    const [s1, s2, s3] = await Promise.all([1, 2, 3].map(() => Session.create(c, { ttl: 10 })));
    const m1 = new Mutex(s1!, "mylock");
    const m2 = new Mutex(s2!, "mylock");
    const m3 = new Mutex(s3!, "mylock");
    await m1.lock();
    expect(m1.key.toString()).toBe(`mylock/${leaseHex(s1!.lease)}`);
    const held = await c.range({ key: m1.key });
    expect(held.kvs[0]?.lease).toBe(s1!.lease);
    expect(m1.header?.revision).toBe(held.kvs[0]?.createRevision);

    const p2 = m2.lock();
    expect(await settled(p2)).toBe(false);
    const p3 = m3.lock();
    expect(await settled(p3)).toBe(false);
    await m1.unlock();
    await p2;
    expect(await settled(p3)).toBe(false);
    await m2.unlock();
    await p3;
    await m3.unlock();
    for (const s of [s1, s2, s3]) await s!.close();
  });

  it("withdraws a waiter whose wait is aborted, and releases a lock whose session is lost", async () => {
    const s1 = await Session.create(c, { ttl: 10 });
    const s2 = await Session.create(c, { ttl: 10 });
    const m1 = new Mutex(s1, "lk2");
    const m2 = new Mutex(s2, "lk2");
    await m1.lock();
    const ac = new AbortController();
    const p2 = m2.lock(ac.signal);
    expect(await settled(p2)).toBe(false);
    ac.abort();
    await expect(p2).rejects.toMatchObject({ code: grpc.status.CANCELLED, local: true });
    expect((await c.range({ key: Buffer.from(`lk2/${leaseHex(s2.lease)}`) })).count).toBe(0n);

    // Revoking the holder's lease deletes its key: the next waiter gets the lock, and the
    // holder's session ends.
    const p3 = new Mutex(s2, "lk2").lock();
    expect(await settled(p3)).toBe(false);
    await c.lease.revoke(s1.lease);
    await p3;
    await Promise.race([s1.done, new Promise((_, rej) => setTimeout(() => rej(new Error("session not done")), 5000))]);
    expect(s1.isDone).toBe(true);
    await s2.close();
  });

  it("elects the oldest candidate, reports leaders to observers, and passes leadership on resign", async () => {
    const s1 = await Session.create(c);
    const s2 = await Session.create(c);
    const obsSession = await Session.create(c);
    const e1 = new Election(s1, "el");
    const e2 = new Election(s2, "el");
    const ac = new AbortController();
    const seen: string[] = [];
    const next: Array<(r: etcdserverpb.RangeResponse) => void> = [];
    const observed = (async () => {
      for await (const r of new Election(obsSession, "el").observe(ac.signal)) {
        seen.push(r.kvs[0]!.value.toString());
        next.shift()?.(r);
      }
    })();
    const nextObserved = (): Promise<etcdserverpb.RangeResponse> => new Promise((r) => next.push(r));

    const first = nextObserved();
    await e1.campaign("one");
    expect(e1.key.toString()).toBe(`el/${leaseHex(s1.lease)}`);
    const r1 = await first;
    expect(r1.kvs[0]?.key.toString()).toBe(e1.key.toString());
    const leader = await e2.leader();
    expect(leader.kvs[0]?.value.toString()).toBe("one");

    const p2 = e2.campaign("two");
    expect(await settled(p2)).toBe(false);
    const proclaimed = nextObserved();
    await e1.proclaim("uno");
    expect((await proclaimed).kvs[0]?.value.toString()).toBe("uno");

    const second = nextObserved();
    await e1.resign();
    await p2;
    expect((await second).kvs[0]?.value.toString()).toBe("two");
    await expect(e1.proclaim("x")).rejects.toMatchObject({ message: "election: not leader" });
    await e2.resign();
    ac.abort();
    await observed;
    expect(seen).toEqual(["one", "uno", "two"]);
    await expect(e2.leader()).rejects.toMatchObject({ message: "election: no leader" });
    for (const s of [s1, s2, obsSession]) await s.close();
  });
});
