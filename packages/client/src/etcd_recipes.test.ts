import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Etcd } from "./etcd.js";
import type { WatchEvent } from "./etcd_watch.js";
import { compare, op } from "./ops.js";
import { StmConflictError } from "./stm.js";
import { useEtcd } from "./testing/etcd_fixture.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Watch, leases, lock, election and STM of the Etcd API against both servers.
describe.each(["etcd", "etcd-ts"] as const)("Etcd watch, leases and recipes against %s", (kind) => {
  const fx = useEtcd(kind, "r");
  const fresh = (): Etcd => fx.fresh();

  it("watches puts and deletions as events, under the namespace, from a past revision", async () => {
    const e = fresh();
    const first = await e.put("w/a", "1");
    const w = e.watch("w/", { prefix: true, prevKv: true, startRevision: first.revision });
    const got: WatchEvent[] = [];
    const done = (async () => {
      for await (const ev of w) {
        got.push(ev);
        if (got.length === 4) break;
      }
    })();
    await e.put("w/b", "2");
    await e.put("other", "x");
    await e.put("w/a", "3");
    await e.delete("w/b");
    await done;
    expect(got.map((ev) => [ev.type, ev.kv.keyString, ev.kv.string(), ev.prevKv?.string()])).toEqual([
      ["put", "w/a", "1", undefined],
      ["put", "w/b", "2", undefined],
      ["put", "w/a", "3", "1"],
      ["delete", "w/b", "", "2"],
    ]);
    expect(got[3]?.revision).toBe(w.lastRevision);
    expect(() => w.start()).toThrow(/already consumed/);
  });

  it("delivers events to listeners, and a compacted start revision raises instead of going silent", async () => {
    const e = fresh();
    const w = e.watch("k").start();
    const seen: string[] = [];
    w.on("put", (ev: WatchEvent) => seen.push(`put ${ev.kv.string()}`));
    w.on("delete", () => seen.push("delete"));
    await w.created;
    await e.put("k", "1");
    await e.delete("k");
    for (let i = 0; i < 100 && seen.length < 2; i++) await sleep(20);
    expect(seen).toEqual(["put 1", "delete"]);
    const ended = new Promise((r) => w.on("end", r));
    w.close();
    await ended;

    const old = await e.put("c", "1");
    const now = await e.put("c", "2");
    await e.compact(now.revision);
    const compacted = e.watch("c", { startRevision: old.revision });
    const err = await (async () => {
      for await (const _ of compacted) return "no error";
    })().catch((x: unknown) => x);
    expect(err).toMatchObject({ code: grpc.status.OUT_OF_RANGE, message: "etcdserver: mvcc: required revision has been compacted" });
  });

  it("counts lastRevision by the events handed out, and tells listeners why a watch ended", async () => {
    const e = fresh();
    const revs: bigint[] = [];
    for (const v of ["1", "2", "3"]) revs.push((await e.put("h", v)).revision);
    // From a past revision the server sends the history in one response; only the first event is taken.
    const w = e.watch("h", { startRevision: revs[0] as bigint });
    for await (const ev of w) {
      expect(ev.revision).toBe(revs[0]);
      break;
    }
    expect(w.lastRevision).toBe(revs[0]);

    await e.compact(revs[2] as bigint);
    const gone = e.watch("h", { startRevision: revs[0] as bigint }).start(); // no "error" listener
    const why = await new Promise((r) => gone.on("end", r));
    expect(why).toMatchObject({ code: grpc.status.OUT_OF_RANGE });
    expect(gone.error).toBe(why);
  });

  it("keeps a lease alive, attaches keys to it, and signals when it is lost", async () => {
    const e = fresh();
    const lease = await e.lease(2);
    await e.put("l", "v", { lease });
    await sleep(2500); // past the TTL: only the keep-alives hold the key
    expect(await e.get("l")).toBe("v");
    const lost = new Promise((r) => lease.on("lost", r));
    // Revoked elsewhere (not through this lease object): the next keep-alive finds it gone.
    await fx.etcd.client.lease.revoke(lease.id);
    expect(await Promise.race([lost.then(() => "lost"), sleep(5000).then(() => "not lost")])).toBe("lost");
    expect(await e.get("l")).toBeUndefined();
  });

  it("locks: one holder at a time, a growing fencing revision, released when fn throws", async () => {
    const e = fresh();
    let holders = 0;
    let maxHolders = 0;
    const fences: bigint[] = [];
    const worker = (i: number): Promise<void> =>
      e.lock(
        "job",
        async (held) => {
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          fences.push(held.revision);
          // A fenced write: only the holder of this very key may write.
          const t = await e.txn().if(compare.createRevision(held.key, "==", held.revision)).do(op.put("owner", String(i))).commit();
          expect(t.succeeded).toBe(true);
          await sleep(30);
          holders--;
        },
        { ttl: 5 },
      );
    await Promise.all([0, 1, 2, 3].map(worker));
    expect(maxHolders).toBe(1);
    expect(fences).toEqual([...fences].sort((a, b) => (a < b ? -1 : 1)));
    expect(new Set(fences).size).toBe(4);
    await expect(e.lock("job", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await e.lock("job", async (held) => held.revision)).toBeGreaterThan(fences[3] as bigint);
    expect(await e.keys("job/")).toEqual([]);
  });

  it("elects one leader, hands over on resign, and observes the changes", async () => {
    const e = fresh();
    const a = e.election("svc", { ttl: 5 });
    const b = e.election("svc", { ttl: 5 });
    expect(await a.leader()).toBeUndefined();
    await a.campaign("a");
    expect((await b.leader())?.string()).toBe("a");
    const ac = new AbortController();
    const observed: string[] = [];
    const watching = (async () => {
      for await (const kv of b.observe(ac.signal)) {
        observed.push(kv.string());
        if (observed.length === 3) ac.abort();
      }
    })();
    let bLeads = false;
    const bCampaign = b.campaign("b").then(() => (bLeads = true));
    await sleep(200);
    expect(bLeads).toBe(false);
    await a.proclaim("a2");
    const aRev = a.revision;
    await a.resign();
    await bCampaign;
    expect(b.revision).toBeGreaterThan(aRev);
    expect((await a.leader())?.string()).toBe("b");
    await watching;
    expect(observed).toEqual(["a", "a2", "b"]);
    await a.close();
    await b.close();
    expect(await e.keys("svc/")).toEqual([]);
  });

  it("makes one session when an election is used by calls at the same time, and close removes its key", async () => {
    const e = fresh();
    const el = e.election("once", { ttl: 5 });
    const [, leader] = await Promise.all([el.campaign("me"), el.leader()]);
    expect(leader === undefined || leader.string() === "me").toBe(true);
    const leases = (await e.client.lease.leases()).leases.length;
    await el.close();
    expect(await e.keys("once/")).toEqual([]);
    expect((await e.client.lease.leases()).leases.length).toBe(leases - 1);
  });

  it("queues: FIFO, every item to exactly one consumer, and dequeue waits for an item", async () => {
    const e = fresh();
    const q = e.queue("jobs");
    for (let i = 0; i < 6; i++) await q.enqueue(`job${i}`);
    expect(await q.length()).toBe(6n);
    expect((await q.dequeue()).toString()).toBe("job0");
    const taken = await Promise.all([q.dequeue(), q.dequeue(), q.dequeue(), q.dequeue(), q.dequeue()]);
    expect(taken.map(String).sort()).toEqual(["job1", "job2", "job3", "job4", "job5"]);
    const waiting = q.dequeue();
    await sleep(200);
    await q.enqueue("late");
    expect((await waiting).toString()).toBe("late");
    expect(await q.length()).toBe(0n);
    const ac = new AbortController();
    const aborted = q.dequeue(ac.signal);
    setTimeout(() => ac.abort(), 100);
    await expect(aborted).rejects.toBeDefined();
  });

  it("priority queues give the lowest priority number first, then the oldest", async () => {
    const e = fresh();
    const pq = e.priorityQueue("pq");
    await pq.enqueue("b-5", 5);
    await pq.enqueue("a-1", 1);
    await pq.enqueue("c-5", 5);
    await pq.enqueue("d-0", 0);
    const out: string[] = [];
    for (let i = 0; i < 4; i++) out.push((await pq.dequeue()).toString());
    expect(out).toEqual(["d-0", "a-1", "b-5", "c-5"]);
    await expect(pq.enqueue("x", 70000)).rejects.toThrow(RangeError);
  });

  it("barriers hold waiters until released", async () => {
    const e = fresh();
    const b = e.barrier("gate");
    await b.wait(); // not held: at once
    expect(await b.hold()).toBe(true);
    expect(await b.hold()).toBe(false);
    let passed = false;
    const waiter = b.wait().then(() => (passed = true));
    await sleep(200);
    expect(passed).toBe(false);
    await b.release();
    await waiter;
    expect(passed).toBe(true);
  });

  it("runs STM transactions: concurrent increments never lose an update, under both isolation levels", async () => {
    for (const isolation of ["serializable", "repeatable-read"] as const) {
      const e = fresh();
      await e.put("counter", "0");
      let attempts = 0;
      await Promise.all(
        Array.from({ length: 6 }, () =>
          e.stm(
            async (tx) => {
              const v = Number(await tx.get("counter"));
              tx.put("counter", String(v + 1));
              tx.putJSON("last", { v: v + 1 });
              return v;
            },
            { isolation },
          ).then((r) => (attempts += r.attempts)),
        ),
      );
      expect(await e.get("counter")).toBe("6");
      expect((await e.getJSON<{ v: number }>("last"))?.v).toBe(6);
      expect(attempts).toBeGreaterThanOrEqual(6);
    }
  });

  it("retries an STM on a conflicting write, and gives up after maxAttempts", async () => {
    const e = fresh();
    await e.put("x", "1");
    let runs = 0;
    const r = await e.stm(async (tx) => {
      runs++;
      const x = await tx.get("x");
      if (runs === 1) await e.put("x", "changed"); // a write between the read and the commit
      tx.put("y", `saw ${x}`);
      tx.delete("x");
      expect(await tx.get("x")).toBeUndefined(); // reads see the transaction's own writes
    });
    expect([runs, r.attempts]).toEqual([2, 2]);
    expect(await e.get("y")).toBe("saw changed");
    expect(await e.get("x")).toBeUndefined();

    // Serializable: a key only written must not change after the snapshot either.
    await e.put("a", "1");
    const err = await e
      .stm(
        async (tx) => {
          await tx.get("a");
          await e.put("b", "someone else");
          tx.put("b", "mine");
        },
        { maxAttempts: 2 },
      )
      .catch((x: unknown) => x);
    expect(err).toBeInstanceOf(StmConflictError);
    expect(await e.get("b")).toBe("someone else");
  });
});
