import { Etcd3, EtcdLockFailedError, type Lease } from "etcd3";
import { until } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member, type Kind } from "./harness/member.js";
import { constantBackoff, EventLog, showEvents, sleep, withTimeout } from "./harness/watch_lease.js";

/**
 * The npm etcd3 client's Watch and Lease features and its lock and election recipes, unchanged,
 * against a single etcd-ts member and, with the same assertions, against the real etcd 3.4.
 * Leases use TTL 2: etcd's (and etcd-ts's) minimum for the default 1 s election timeout.
 */
const TTL = 2;

describe.each<Kind>(["etcd-ts", "etcd"])("etcd3 watch, lease and recipes against %s", (kind) => {
  let m: Member;
  let client: Etcd3;
  const clients: Etcd3[] = [];
  /** fresh is a new etcd3 client (closed after the suite), with a fast watch reconnect. */
  const fresh = (): Etcd3 => {
    const c = new Etcd3({ hosts: m.url, faultHandling: { watchBackoff: constantBackoff(100) } });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    m = await Member.create({ kind });
    await m.start();
    client = fresh();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await m.destroy();
  });

  it("watches one key: puts and deletes in order, with values, versions and types; other keys stay out", async () => {
    const w = await client.watch().key("wk").create();
    const log = new EventLog(w);
    const p1 = await client.put("wk").value("v1").exec();
    await client.put("wk-other").value("no");
    await client.put("w").value("no");
    const p2 = await client.put("wk").value("v2").exec();
    const d = await client.delete().key("wk").exec();
    await client.put("wk").value("v3");
    await log.count(4, 10_000);
    expect(log.events.map((e) => [e.type, e.key, e.value, e.version])).toEqual([
      ["put", "wk", "v1", 1n],
      ["put", "wk", "v2", 2n],
      ["delete", "wk", "", 0n],
      ["put", "wk", "v3", 1n],
    ]);
    expect(log.events[0]?.modRev).toBe(BigInt(p1.header.revision));
    expect(log.events[1]?.modRev).toBe(BigInt(p2.header.revision));
    expect(log.events[2]?.modRev).toBe(BigInt(d.header.revision));
    expect(log.events[1]?.createRev).toBe(BigInt(p1.header.revision));
    await sleep(300);
    expect(log.events).toHaveLength(4);
    await w.cancel();
    expect(log.errors).toEqual([]);
  });

  it("watches a prefix, and sends prev kv when asked", async () => {
    const w = await client.watch().prefix("wp/").create();
    const log = new EventLog(w);
    const wp = await client.watch().prefix("wp/").withPreviousKV().create();
    const logPrev = new EventLog(wp);
    await client.put("wp/a").value("a1");
    await client.put("wq").value("outside");
    await client.put("wp").value("outside too");
    await client.put("wp/b").value("b1");
    await client.put("wp/a").value("a2");
    await client.delete().prefix("wp/");
    await client.put("wp/c").value("c1");
    const expected = [
      ["put", "wp/a", "a1"],
      ["put", "wp/b", "b1"],
      ["put", "wp/a", "a2"],
      ["delete", "wp/a", ""],
      ["delete", "wp/b", ""],
      ["put", "wp/c", "c1"],
    ];
    await log.count(expected.length, 10_000);
    await logPrev.count(expected.length, 10_000);
    expect(log.events.map((e) => [e.type, e.key, e.value])).toEqual(expected);
    expect(logPrev.events.map((e) => [e.type, e.key, e.value])).toEqual(expected);
    // Without withPreviousKV no previous pair; with it, the pair before each change.
    expect(log.events.map((e) => e.prevValue)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(logPrev.events.map((e) => e.prevValue)).toEqual([undefined, undefined, "a1", "a2", "b1", undefined]);
    // One delete-range: both deletes carry one revision, in key order.
    expect(log.events[3]?.modRev).toBe(log.events[4]?.modRev);
    const revs = log.events.map((e) => e.modRev);
    expect(revs.every((r, i) => i === 0 || r >= (revs[i - 1] as bigint))).toBe(true);
    await w.cancel();
    await wp.cancel();
  });

  it("replays history from startRevision", async () => {
    const first = await client.put("hist/1").value("one").exec();
    await client.put("hist/2").value("two");
    await client.put("hist/1").value("uno");
    await client.delete().key("hist/2");
    const w = await client.watch().prefix("hist/").startRevision(first.header.revision).create();
    const log = new EventLog(w);
    await log.count(4, 10_000);
    await client.put("hist/3").value("three");
    await log.count(5, 10_000);
    expect(log.events.map((e) => [e.type, e.key, e.value])).toEqual([
      ["put", "hist/1", "one"],
      ["put", "hist/2", "two"],
      ["put", "hist/1", "uno"],
      ["delete", "hist/2", ""],
      ["put", "hist/3", "three"],
    ]);
    expect(log.events.map((e) => e.modRev)).toEqual([0n, 1n, 2n, 3n, 4n].map((d) => BigInt(first.header.revision) + d));
    // A start revision in the middle replays from there only.
    const mid = await client.watch().prefix("hist/").startRevision(String(BigInt(first.header.revision) + 2n)).create();
    const logMid = new EventLog(mid);
    await logMid.count(3, 10_000);
    await sleep(300);
    expect(logMid.events.map((e) => `${e.type}:${e.key}:${e.value}`)).toEqual(["put:hist/1:uno", "delete:hist/2:", "put:hist/3:three"]);
    await w.cancel();
    await mid.cancel();
  });

  it("resumes a prefix watch across a member restart: every event once, in order, none missing", async () => {
    const watching = fresh();
    const w = await watching.watch().prefix("resume/").create();
    const log = new EventLog(w);
    let disconnected = 0;
    w.on("disconnected", () => disconnected++);
    const written: { key: string; rev: bigint }[] = [];
    const writer = fresh();
    for (let i = 0; i < 10; i++) {
      const r = await writer.put(`resume/${i}`).value(`v${i}`).exec();
      written.push({ key: `resume/${i}`, rev: BigInt(r.header.revision) });
    }
    await log.count(10, 10_000);
    await m.kill("SIGTERM");
    await m.start();
    // Written at once after the restart, before the watcher is back: it must catch up on them.
    const writer2 = fresh();
    for (let i = 10; i < 20; i++) {
      const r = await until(() => writer2.put(`resume/${i}`).value(`v${i}`).exec(), 20_000);
      written.push({ key: `resume/${i}`, rev: BigInt(r.header.revision) });
    }
    await log.count(20, 30_000);
    for (let i = 20; i < 25; i++) {
      const r = await writer2.put(`resume/${i}`).value(`v${i}`).exec();
      written.push({ key: `resume/${i}`, rev: BigInt(r.header.revision) });
    }
    await log.count(25, 10_000);
    await sleep(500); // a duplicate would arrive now
    expect(disconnected).toBeGreaterThan(0);
    expect(showEvents(log.events)).toBe(written.map((x) => `put:${x.key}@${x.rev}`).join(" "));
    const revs = log.events.map((e) => e.modRev);
    expect(revs.every((r, i) => i === 0 || r > (revs[i - 1] as bigint))).toBe(true);
    expect(log.events.map((e) => e.value)).toEqual(written.map((_, i) => `v${i}`));
    await w.cancel();
  });

  it("keeps a lease alive past 3 x TTL, and revoking it deletes its key", async () => {
    const lease = client.lease(TTL);
    const lost: unknown[] = [];
    lease.on("lost", (e) => lost.push(e));
    await lease.put("kept/alive").value("yes");
    const id = await lease.grant();
    await sleep(3 * TTL * 1000 + 1000);
    expect(await client.get("kept/alive").string()).toBe("yes");
    const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true });
    expect(Number(ttl.TTL)).toBeGreaterThan(0);
    expect(Number(ttl.grantedTTL)).toBe(TTL);
    expect(ttl.keys.map((k) => k.toString())).toEqual(["kept/alive"]);
    expect(lost).toEqual([]);
    await lease.revoke();
    expect(await client.get("kept/alive").string()).toBeNull();
    expect((await client.leaseClient.leaseTimeToLive({ ID: id })).TTL).toBe("-1");
  });

  it("emits lost when another client revokes a kept-alive lease", async () => {
    const lease = client.lease(TTL);
    await lease.put("lost/key").value("v");
    const id = await lease.grant();
    const gotLost = new Promise<Error>((resolve) => lease.on("lost", resolve));
    await sleep(800); // at least one keep-alive round trip went through
    expect(lease.revoked()).toBe(false);
    const other = fresh();
    await other.leaseClient.leaseRevoke({ ID: id });
    const err = await withTimeout(gotLost, 5000, "the lease's lost event");
    expect(err).toBeInstanceOf(Error);
    expect(lease.revoked()).toBe(true);
    expect(await client.get("lost/key").string()).toBeNull();
  });

  it("lets a released lease expire within TTL + 1.5 s", async () => {
    const lease: Lease = client.lease(TTL);
    await lease.put("released/key").value("v");
    await sleep(1000); // kept alive for a while
    expect(await client.get("released/key").string()).toBe("v");
    lease.release();
    const released = Date.now();
    const gone = await until(async () => ((await client.get("released/key").string()) === null ? Date.now() : undefined), TTL * 1000 + 5000, { intervalMs: 50 });
    expect(gone - released).toBeLessThanOrEqual(TTL * 1000 + 1500);
    expect((await client.leaseClient.leaseTimeToLive({ ID: await lease.grant() })).TTL).toBe("-1");
  });

  it("runs etcd3's lock recipe with mutual exclusion between two contenders", async () => {
    const a = fresh();
    const b = fresh();
    let inside = 0;
    let overlaps = 0;
    const rounds = 8;
    const contender = async (c: Etcd3, name: string): Promise<void> => {
      for (let done = 0; done < rounds; ) {
        const lock = c.lock("x").ttl(5);
        try {
          await lock.acquire();
        } catch (e) {
          if (!(e instanceof EtcdLockFailedError)) throw e;
          await sleep(10);
          continue;
        }
        inside++;
        if (inside > 1) overlaps++;
        // A read-modify-write that loses updates without mutual exclusion.
        const n = Number((await c.get("x-counter").string()) ?? "0");
        await sleep(5);
        await c.put("x-counter").value(String(n + 1));
        await c.put("x-holder").value(name);
        inside--;
        await lock.release();
        done++;
      }
    };
    // The held lock refuses a second acquire.
    const held = await a.lock("x").ttl(5).acquire();
    await expect(b.lock("x").ttl(5).acquire()).rejects.toBeInstanceOf(EtcdLockFailedError);
    expect(await client.get("x").string()).toBe("");
    await held.release();
    expect(await client.get("x").string()).toBeNull();
    await withTimeout(Promise.all([contender(a, "a"), contender(b, "b")]), 60_000, "the lock contenders");
    expect(overlaps).toBe(0);
    expect(await client.get("x-counter").string()).toBe(String(2 * rounds));
  });

  it("runs etcd3's election recipe: leader, resign, the next candidate takes over", async () => {
    const ca = fresh();
    const cb = fresh();
    const election = ca.election("e", 5);
    const first = election.campaign("a");
    await withTimeout(first.wait(), 10_000, "campaign a elected");
    expect(await election.leader()).toBe("a");
    const observer = await cb.election("e", 5).observe();
    const changes: (string | undefined)[] = [observer.leader()];
    observer.on("change", (v) => changes.push(v));
    const second = cb.election("e", 5).campaign("b");
    let bElected = false;
    second.on("elected", () => (bElected = true));
    await sleep(1000);
    expect(bElected).toBe(false); // a still leads
    expect(await cb.election("e").leader()).toBe("a");
    await first.resign();
    await withTimeout(second.wait(), 10_000, "campaign b elected after a resigned");
    expect(await election.leader()).toBe("b");
    await until(async () => (changes.includes("b") ? true : undefined), 10_000);
    expect(changes[0]).toBe("a");
    expect(changes[changes.length - 1]).toBe("b");
    await second.proclaim("b2");
    await until(async () => (changes.includes("b2") ? true : undefined), 10_000);
    expect(await election.leader()).toBe("b2");
    await observer.cancel();
    await second.resign();
    expect(await election.leader()).toBeUndefined();
  });
});
