import { Etcd3, type Lease, type Watcher, type IWatchResponse } from "etcd3";
import { until } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, type ClusterMember } from "./harness/cluster.js";
import { constantBackoff, EventLog, showEvents, prefixEnd, sleep, withTimeout } from "./harness/watch_lease.js";

/**
 * Watch and Lease on a 3-member etcd-ts cluster (real processes) when the leader is killed
 * with SIGKILL: kept-alive leases survive, watchers that fail over to another member see every
 * written event exactly once and in order, and a lease whose keep-alives stopped expires on
 * time on every member, its keys deleted at one revision.
 */

/** ELECTION_MS is the --election-timeout the test cluster runs with (harness/cluster.ts). */
const ELECTION_MS = 500;
/** EXPIRY_PASS_MS is how often the leader looks for expired leases (etcd: 500 ms). */
const EXPIRY_PASS_MS = 500;
/** SLACK_MS absorbs a shared, loaded machine: polling, applying, scheduling. */
const SLACK_MS = 1500;

describe("watch and lease across a leader kill -9 (3 etcd-ts members)", () => {
  let c: TestCluster;
  const clients: Etcd3[] = [];
  const ids = new Map<ClusterMember, string>();
  const single = new Map<ClusterMember, Etcd3>();

  const newClient = (members: ClusterMember[]): Etcd3 => {
    const cl = new Etcd3({ hosts: members.map((m) => c.clientUrl(m)), faultHandling: { watchBackoff: constantBackoff(100) } });
    clients.push(cl);
    return cl;
  };
  /** on is a client that talks to one member only. */
  const on = (m: ClusterMember): Etcd3 => {
    let cl = single.get(m);
    if (cl === undefined) {
      cl = newClient([m]);
      single.set(m, cl);
    }
    return cl;
  };
  const memberById = (id: string): ClusterMember | undefined => [...ids].find(([, v]) => v === id)?.[0];

  /** leaderOf waits until the live members agree on a leader among them. */
  const leaderOf = (live: ClusterMember[], ms = 15_000): Promise<ClusterMember> =>
    until(async () => {
      const sts = await Promise.all(live.map((m) => on(m).maintenance.status({ deadline: Date.now() + 1000 })));
      const leads = new Set(sts.map((s) => s.leader));
      if (leads.size !== 1) return undefined;
      const lead = memberById([...leads][0] as string);
      return lead !== undefined && live.includes(lead) ? lead : undefined;
    }, ms, { intervalMs: 50 });

  /** countOn counts a prefix's keys in one member's local state (serializable). */
  const countOn = async (m: ClusterMember, prefix: string, revision?: bigint): Promise<number> => {
    const r = await on(m).kv.range(
      { key: Buffer.from(prefix), range_end: prefixEnd(prefix), serializable: true, count_only: true, ...(revision !== undefined ? { revision: String(revision) } : {}) },
      { deadline: Date.now() + 1000 },
    );
    return Number(r.count);
  };

  beforeAll(async () => {
    c = await TestCluster.start("etcd-ts", 3);
    for (const m of c.members) {
      const st = await until(() => on(m).maintenance.status(), 10_000);
      ids.set(m, st.header.member_id);
    }
  });
  afterAll(async () => {
    for (const cl of clients) cl.close();
    await c.destroy();
  });

  it("keeps 100 kept-alive leases alive and gives 10 watchers every written event exactly once, in order, across the leader's kill -9", async () => {
    const all = c.members;
    const leader = await leaderOf(all);
    const survivors = all.filter((m) => m !== leader);

    // 100 leases (TTL 5) kept alive by etcd3 clients that know every member: each keep-alive
    // stream goes to a member picked at random, so followers forward to the leader too.
    const leaseClients = Array.from({ length: 4 }, () => newClient(all));
    const lost: string[] = [];
    const leases: Lease[] = [];
    for (let i = 0; i < 100; i++) {
      const l = (leaseClients[i % leaseClients.length] as Etcd3).lease(5);
      l.on("lost", (e) => lost.push(`lease ${i}: ${e.message}`));
      leases.push(l);
    }
    await Promise.all(leases.map((l, i) => l.put(`leased/${i}`).value(`v${i}`)));
    const leaseIds = await Promise.all(leases.map((l) => l.grant()));

    // 10 watchers on prefix events/, each on its own client that knows every member, spread
    // 4/3/3 over the members (the "created" answer's header names the member serving it).
    const start = await on(leader).put("events-start").value("x").exec();
    const startRev = BigInt(start.header.revision) + 1n;
    const watchers: { log: EventLog; member: ClusterMember; disconnects: number }[] = [];
    const perMember = new Map<ClusterMember, number>();
    for (let attempt = 0; watchers.length < 10; attempt++) {
      if (attempt > 200) throw new Error(`could not spread the watchers: ${[...perMember.values()].join("/")}`);
      const cl = newClient(all);
      const w: Watcher = cl.watch().prefix("events/").startRevision(String(startRev)).watcher();
      const created = await withTimeout(new Promise<IWatchResponse>((resolve) => w.once("connected", resolve)), 10_000, "a watcher's created answer");
      const m = memberById(created.header.member_id);
      if (m === undefined) throw new Error(`created answer from unknown member ${created.header.member_id}`);
      const n = perMember.get(m) ?? 0;
      if (n >= 4 || (n === 3 && [...perMember.values()].includes(4))) {
        await w.cancel();
        continue;
      }
      perMember.set(m, (perMember.get(m) ?? 0) + 1);
      const entry = { log: new EventLog(w), member: m, disconnects: 0 };
      w.on("disconnected", () => entry.disconnects++);
      watchers.push(entry);
    }
    expect([...perMember.values()].sort()).toEqual([3, 3, 4]);

    // The writer: put-if-absent events/<n>, retried until its outcome is known (a retry that
    // finds the key there learns that an earlier, unanswered attempt landed), so every key is
    // written exactly once and its revision is known.
    const writer = newClient(all);
    const written: { key: string; rev: bigint }[] = [];
    let stop = false;
    let failedAttempts = 0;
    let landedUnanswered = 0;
    const writeLoop = async (): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const key = `events/${String(n).padStart(6, "0")}`;
        const giveUp = Date.now() + 30_000;
        for (;;) {
          try {
            const r = await writer.kv.txn(
              {
                compare: [{ key: Buffer.from(key), target: "Create", result: "Equal", create_revision: 0 }],
                success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(String(n)) } }],
              },
              { deadline: Date.now() + 2000 },
            );
            if (r.succeeded) {
              written.push({ key, rev: BigInt(r.header.revision) });
            } else {
              const g = await writer.kv.range({ key: Buffer.from(key) }, { deadline: Date.now() + 2000 });
              written.push({ key, rev: BigInt((g.kvs[0] as { mod_revision: string }).mod_revision) });
              landedUnanswered++;
            }
            break;
          } catch (e) {
            failedAttempts++;
            if (Date.now() > giveUp) throw new Error(`put ${key} failed for 30 s: ${String(e)}`);
            await sleep(50);
          }
        }
      }
    };
    const writing = writeLoop();
    await sleep(3000);
    const beforeKill = written.length;
    await c.kill(leader, "SIGKILL");
    const newLeader = await leaderOf(survivors);
    const atElection = written.length;
    await sleep(10_000);
    stop = true;
    await withTimeout(writing, 40_000, "the writer");
    const afterElection = written.length - atElection;

    expect(beforeKill).toBeGreaterThan(10);
    expect(afterElection, "writes after the new leader was elected").toBeGreaterThan(10);
    expect(newLeader).not.toBe(leader);

    // Every watcher sees exactly the written keys, once each, at their revisions, in order.
    const expected = written.map((w) => `put:${w.key}@${w.rev}`).join(" ");
    const revs = written.map((w) => w.rev);
    expect(revs.every((r, i) => i === 0 || r > (revs[i - 1] as bigint))).toBe(true);
    for (const [i, w] of watchers.entries()) {
      await w.log.waitFor((evs) => evs.length >= written.length, 30_000, `watcher ${i} (on ${w.member.name}) to catch up`);
      await sleep(i === 0 ? 500 : 0); // duplicates would be delivered by now
      expect(w.log.events.length, `watcher ${i} on ${w.member.name}: event count (duplicates?)`).toBe(written.length);
      expect(showEvents(w.log.events), `watcher ${i} on ${w.member.name}`).toBe(expected);
      expect(w.log.errors, `watcher ${i} errors`).toEqual([]);
      if (w.member === leader) expect(w.disconnects, `watcher ${i} was on the killed leader and failed over`).toBeGreaterThan(0);
    }

    // No kept-alive lease expired: every key is there on each survivor, every lease has time left.
    expect(lost).toEqual([]);
    for (const m of survivors) {
      const kvs = await on(m).getAll().prefix("leased/").strings();
      expect(Object.keys(kvs).length, `leased/ keys on ${m.name}`).toBe(100);
      for (let i = 0; i < 100; i++) expect(kvs[`leased/${i}`]).toBe(`v${i}`);
    }
    for (const [i, id] of leaseIds.entries()) {
      const via = survivors[i % survivors.length] as ClusterMember;
      const t = await on(via).leaseClient.leaseTimeToLive({ ID: id });
      expect(Number(t.TTL), `lease ${i} (${id}) TTL via ${via.name}`).toBeGreaterThan(0);
      expect(t.grantedTTL).toBe("5");
    }
    process.stderr.write(
      `failover: ${written.length} puts (${beforeKill} before the kill, ${afterElection} after the election), ${failedAttempts} failed attempts, ${landedUnanswered} landed unanswered\n`,
    );

    for (const l of leases) await l.revoke();
    for (const w of watchers) await w.log.watcher.cancel();

    // The killed leader restarts and catches up on everything written without it.
    await c.spawn(leader);
    await c.waitHealthy(leader, 30_000);
    const last = written[written.length - 1] as { rev: bigint };
    await until(async () => ((await countOn(leader, "events/")) === written.length ? true : undefined), 20_000);
    const r = await on(leader).kv.range({ key: Buffer.from("events/"), range_end: prefixEnd("events/"), serializable: true });
    expect(r.kvs.map((kv) => `put:${kv.key.toString()}@${kv.mod_revision}`).join(" ")).toBe(expected);
    expect(BigInt(r.header.revision)).toBeGreaterThanOrEqual(last.rev);
    await until(async () => ((await countOn(leader, "leased/")) === 0 ? true : undefined), 20_000);
  });

  /** watchOn watches a prefix on one member only. */
  const watchOn = async (m: ClusterMember, prefix: string): Promise<EventLog> => new EventLog(await on(m).watch().prefix(prefix).create());

  /** goneAt polls a member until no key under prefix is left and returns when that was seen. */
  const goneAt = (m: ClusterMember, prefix: string, ms: number): Promise<number> =>
    until(async () => ((await countOn(m, prefix)) === 0 ? Date.now() : undefined), ms, { intervalMs: 25 });

  /** deletedAtOneRevision checks that every watcher saw the n keys deleted, all at one revision, the same on every member; it returns that revision. */
  const deletedAtOneRevision = async (logs: Map<ClusterMember, EventLog>, prefix: string, n: number): Promise<bigint> => {
    const revs = new Set<bigint>();
    for (const [m, log] of logs) {
      await log.waitFor((evs) => evs.filter((e) => e.type === "delete").length >= n, 10_000, `${n} deletes on ${m.name}`);
      const dels = log.events.filter((e) => e.type === "delete");
      expect(dels.map((e) => e.key).sort(), `deleted keys on ${m.name}`).toEqual(Array.from({ length: n }, (_, i) => `${prefix}${i}`));
      for (const e of dels) revs.add(e.modRev);
    }
    expect([...revs], "the revision of the deletes, on every member").toHaveLength(1);
    const rev = [...revs][0] as bigint;
    // Every member's history agrees: all n keys at the revision before, none at that revision.
    for (const m of logs.keys()) {
      expect(await countOn(m, prefix, rev - 1n), `${prefix} keys on ${m.name} at ${rev - 1n}`).toBe(n);
      expect(await countOn(m, prefix, rev), `${prefix} keys on ${m.name} at ${rev}`).toBe(0);
    }
    return rev;
  };

  it("expires a lease whose keep-alives stopped within TTL + election timeout + 500 ms on every member, its keys deleted at one revision", async () => {
    const all = c.members;
    const leader = await leaderOf(all);
    const follower = all.find((m) => m !== leader) as ClusterMember;
    const TTL = 3;
    const logs = new Map<ClusterMember, EventLog>();
    for (const m of all) logs.set(m, await watchOn(m, "doomed/a/"));
    // Granted, written and kept alive through a follower (which forwards keep-alives to the leader).
    const lease = on(follower).lease(TTL, { autoKeepAlive: false });
    for (let i = 0; i < 5; i++) await lease.put(`doomed/a/${i}`).value("x");
    await lease.keepaliveOnce();
    await sleep(1000);
    const sent = Date.now();
    const ka = await lease.keepaliveOnce();
    const acked = Date.now();
    expect(ka.TTL).toBe(String(TTL));
    const gone = await Promise.all(all.map((m) => goneAt(m, "doomed/a/", 20_000)));
    const timing = `sent ${sent}, acked +${acked - sent} ms, gone at +${gone.map((g) => g - sent).join("/")} ms`;
    expect(Math.min(...gone), `not before the last keep-alive + TTL (${timing})`).toBeGreaterThanOrEqual(sent + TTL * 1000);
    expect(Math.max(...gone), `within TTL + election timeout + expiry pass (${timing})`).toBeLessThanOrEqual(acked + TTL * 1000 + ELECTION_MS + EXPIRY_PASS_MS + SLACK_MS);
    await deletedAtOneRevision(logs, "doomed/a/", 5);
    expect((await on(follower).leaseClient.leaseTimeToLive({ ID: await lease.grant() })).TTL).toBe("-1");
    for (const log of logs.values()) await log.watcher.cancel();
  });

  it("after the leader's kill -9, a lease acknowledged just before expires not before that keep-alive + TTL, and within TTL + election timeout + 500 ms of the new leader, on every survivor", async () => {
    const all = c.members;
    const leader = await leaderOf(all);
    const survivors = all.filter((m) => m !== leader);
    const follower = survivors[0] as ClusterMember;
    // TTL 8 is above the 5 s checkpoint interval: its remaining TTL (about 3 s) is checkpointed
    // through raft 5 s after the grant, before the keep-alive below renews it to 8 s again.
    const TTL = 8;
    const logs = new Map<ClusterMember, EventLog>();
    for (const m of survivors) logs.set(m, await watchOn(m, "doomed/b/"));
    const lease = on(follower).lease(TTL, { autoKeepAlive: false });
    await lease.grant();
    const granted = Date.now();
    for (let i = 0; i < 5; i++) await lease.put(`doomed/b/${i}`).value("x");
    await sleep(granted + 6500 - Date.now());
    const sent = Date.now();
    const ka = await lease.keepaliveOnce();
    const acked = Date.now();
    expect(ka.TTL).toBe(String(TTL));
    await c.kill(leader, "SIGKILL");
    await leaderOf(survivors);
    const elected = Date.now();
    const gone = await Promise.all(survivors.map((m) => goneAt(m, "doomed/b/", 30_000)));
    const timing = `sent ${sent}, acked +${acked - sent} ms, new leader seen +${elected - sent} ms, gone at +${gone.map((g) => g - sent).join("/")} ms`;
    expect(Math.min(...gone), `not before the acknowledged keep-alive + TTL (${timing})`).toBeGreaterThanOrEqual(sent + TTL * 1000);
    expect(Math.max(...gone), `within TTL + election timeout + expiry pass of the new leader (${timing})`).toBeLessThanOrEqual(
      elected + TTL * 1000 + ELECTION_MS + EXPIRY_PASS_MS + SLACK_MS,
    );
    await deletedAtOneRevision(logs, "doomed/b/", 5);
    for (const log of logs.values()) await log.watcher.cancel();
  });
});
