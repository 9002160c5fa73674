import { mvccpb } from "@etcd-ts/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WatchableStore } from "./watchable_store.js";
import { WatchError, type WatchCreate, type WatchResponse, type WatchStream } from "./watch_stream.js";
import { b, Harness } from "./testing/helpers.js";
import { drain, ev, eventsByWatcher, mulberry32, resp, settle } from "./testing/watch.js";

let h: Harness;
let ws: WatchableStore;
const extra: Harness[] = [];

beforeEach(async () => {
  h = await Harness.create();
  ws = new WatchableStore(h.store);
});

afterEach(async () => {
  ws.close();
  await h.destroy();
  for (const x of extra.splice(0)) await x.destroy();
});

/** w builds a WatchCreate: end "" = the key alone, "\0" = every key >= key. */
function w(key: string, end = "", opts: Partial<Omit<WatchCreate, "key" | "end">> = {}): WatchCreate {
  const req: WatchCreate = {
    key: b(key),
    end: end === "" ? undefined : end === "\0" ? Buffer.alloc(0) : b(end),
    startRev: opts.startRev ?? 0n,
    prevKv: opts.prevKv ?? false,
  };
  if (opts.filters !== undefined) req.filters = opts.filters;
  if (opts.id !== undefined) req.id = opts.id;
  return req;
}

/** expected renders the events of revisions from..current that a watch on [key, end) sees. */
async function expected(key: string, end: string, from: bigint, opts: { prevKv?: boolean; noPut?: boolean; noDelete?: boolean } = {}): Promise<string[]> {
  const all = await h.store.readEvents(from, h.store.currentRevision, { prevKv: opts.prevKv === true });
  const k = b(key);
  const e = end === "" ? undefined : end === "\0" ? Buffer.alloc(0) : b(end);
  return all
    .filter((x) => {
      const kk = (x.kv as mvccpb.KeyValue).key;
      if (e === undefined) return kk.equals(k);
      return Buffer.compare(kk, k) >= 0 && (e.length === 0 || Buffer.compare(kk, e) < 0);
    })
    .filter((x) => !(x.type === mvccpb.Event_EventType.PUT ? opts.noPut : opts.noDelete))
    .map(ev);
}

/** checkWholeRevisions asserts that each revision's events for a watcher arrive in one response, in ascending order. */
function checkWholeRevisions(responses: WatchResponse[]): void {
  const seen = new Map<bigint, Map<bigint, number>>();
  const last = new Map<bigint, bigint>();
  responses.forEach((r, i) => {
    let m = seen.get(r.watchId);
    if (m === undefined) {
      m = new Map();
      seen.set(r.watchId, m);
    }
    for (const e of r.events) {
      const rev = (e.kv as mvccpb.KeyValue).modRevision;
      const at = m.get(rev);
      expect(at === undefined || at === i, `revision ${rev} of watcher ${r.watchId} split across responses`).toBe(true);
      m.set(rev, i);
      const prev = last.get(r.watchId) ?? 0n;
      expect(rev >= prev, `watcher ${r.watchId}: revision ${rev} after ${prev}`).toBe(true);
      last.set(r.watchId, rev);
    }
    if (r.events.length > 0) expect(r.revision >= (r.events[r.events.length - 1]!.kv as mvccpb.KeyValue).modRevision).toBe(true);
  });
}

describe("WatchableStore synced delivery", () => {
  it("delivers to key, range, prefix and all-keys watchers, one response per revision", () => {
    const s = ws.newStream();
    const key = s.watch(w("a"));
    const range = s.watch(w("a", "c"));
    const prefix = s.watch(w("b/", "b0"));
    const all = s.watch(w("\0", "\0"));
    const fromB = s.watch(w("b", "\0"));
    expect(ws.syncedCount).toBe(5);
    h.put("a", "1"); // 2
    h.put("b/x", "2"); // 3
    h.put("c", "3"); // 4
    h.del("a"); // 5
    h.put("ab", "4"); // 6
    const got = drain(s);
    checkWholeRevisions(got);
    const by = eventsByWatcher(got);
    expect(by.get(key)).toEqual(["PUT a=1@2", "DEL a@5"]);
    expect(by.get(range)).toEqual(["PUT a=1@2", "PUT b/x=2@3", "DEL a@5", "PUT ab=4@6"]);
    expect(by.get(prefix)).toEqual(["PUT b/x=2@3"]);
    expect(by.get(all)).toEqual(["PUT a=1@2", "PUT b/x=2@3", "PUT c=3@4", "DEL a@5", "PUT ab=4@6"]);
    expect(by.get(fromB)).toEqual(["PUT b/x=2@3", "PUT c=3@4"]);
    for (const r of got) expect(r.revision).toBe((r.events[0]!.kv as mvccpb.KeyValue).modRevision);
    expect(got.length).toBe(2 + 4 + 1 + 5 + 2);
  });

  it("puts all events of a multi-key revision in one response (atomic)", () => {
    const s = ws.newStream();
    const id = s.watch(w("k", "l"));
    const one = s.watch(w("k2"));
    h.put("k9", "old");
    drain(s);
    h.txn((t) => {
      t.put(b("k1"), b("a"), 0n);
      t.put(b("k2"), b("b"), 0n);
      t.deleteRange(b("k9"), undefined);
      t.put(b("z"), b("c"), 0n);
    });
    const got = drain(s);
    expect(got.map(resp).sort()).toEqual([`w${one} r3 [PUT k2=b@3]`, `w${id} r3 [PUT k1=a@3, PUT k2=b@3, DEL k9@3]`].sort());
  });

  it("applies noPut / noDelete filters and sends nothing when all events are filtered", () => {
    const s = ws.newStream();
    const noPut = s.watch(w("a", "z", { filters: { noPut: true } }));
    const noDel = s.watch(w("a", "z", { filters: { noDelete: true } }));
    h.put("a", "1"); // 2
    h.put("b", "1"); // 3
    h.txn((t) => {
      t.put(b("c"), b("1"), 0n);
      t.deleteRange(b("a"), undefined);
    }); // 4
    h.del("b"); // 5
    const got = drain(s);
    const by = eventsByWatcher(got);
    expect(by.get(noPut)).toEqual(["DEL a@4", "DEL b@5"]);
    expect(by.get(noDel)).toEqual(["PUT a=1@2", "PUT b=1@3", "PUT c=1@4"]);
    // Revisions 2 and 3 hold only puts: no (empty) response for the noPut watcher.
    expect(got.filter((r) => r.watchId === noPut).map((r) => r.revision)).toEqual([4n, 5n]);
    expect(got.filter((r) => r.watchId === noDel).map((r) => r.revision)).toEqual([2n, 3n, 4n]);
  });

  it("carries prevKv only for watchers that asked, without mutating the store's events", () => {
    const s = ws.newStream();
    const withPrev = s.watch(w("a", "", { prevKv: true }));
    const without = s.watch(w("a"));
    h.put("a", "1"); // 2: created, no previous value
    const put = h.put("a", "2"); // 3
    const del = h.del("a"); // 4
    const by = eventsByWatcher(drain(s));
    expect(by.get(withPrev)).toEqual(["PUT a=1@2", "PUT a=2@3 prev=a=1", "DEL a@4 prev=a=2"]);
    expect(by.get(without)).toEqual(["PUT a=1@2", "PUT a=2@3", "DEL a@4"]);
    expect(put.events[0]!.prevKv?.value.toString()).toBe("1");
    expect(del.events[0]!.prevKv?.value.toString()).toBe("2");
  });

  it("a future startRev receives only revisions >= startRev, as a synced watcher", () => {
    const s = ws.newStream();
    const id = s.watch(w("a", "", { startRev: 4n }));
    expect(ws.syncedCount).toBe(1);
    expect(ws.unsyncedCount).toBe(0);
    h.put("a", "1"); // 2
    h.put("a", "2"); // 3
    h.put("a", "3"); // 4
    h.put("a", "4"); // 5
    expect(drain(s).map(resp)).toEqual([`w${id} r4 [PUT a=3@4]`, `w${id} r5 [PUT a=4@5]`]);
  });

  it("requestProgress answers for synced watchers only", async () => {
    const s = ws.newStream();
    h.put("x", "1");
    h.put("x", "2"); // 3
    const synced = s.watch(w("a"));
    const behind = s.watch(w("x", "", { startRev: 2n }));
    s.requestProgress(synced);
    s.requestProgress(behind);
    s.requestProgress(99n);
    expect(drain(s).map(resp)).toEqual([`w${synced} r3 []`]);
    await ws.syncWatchers();
    s.requestProgress(behind);
    expect(drain(s).map(resp)).toEqual([`w${behind} r3 [PUT x=1@2, PUT x=2@3]`, `w${behind} r3 []`]);
    expect(s.rev).toBe(3n);
  });
});

describe("WatchableStore catch-up", () => {
  it("catches a past startRev up from the backend, then delivers live", async () => {
    h.put("a", "1"); // 2
    h.put("b", "1"); // 3
    await h.commit();
    h.put("a", "2"); // 4
    h.del("a"); // 5
    h.put("a", "3"); // 6
    const s = ws.newStream();
    const plain = s.watch(w("a", "", { startRev: 3n }));
    const prev = s.watch(w("a", "b", { startRev: 2n, prevKv: true }));
    const atCurrent = s.watch(w("a", "", { startRev: 6n }));
    expect(ws.unsyncedCount).toBe(3);
    expect(s.queued).toBe(0);
    await ws.syncWatchers();
    expect(ws.unsyncedCount).toBe(0);
    expect(ws.syncedCount).toBe(3);
    const got = drain(s);
    const by = eventsByWatcher(got);
    expect(by.get(plain)).toEqual(["PUT a=2@4", "DEL a@5", "PUT a=3@6"]);
    expect(by.get(prev)).toEqual(["PUT a=1@2", "PUT a=2@4 prev=a=1", "DEL a@5 prev=a=2", "PUT a=3@6"]);
    expect(by.get(atCurrent)).toEqual(["PUT a=3@6"]);
    for (const r of got) expect(r.revision).toBe(6n);
    expect(got.length).toBe(3);
    h.put("a", "4"); // 7
    expect(drain(s).map(resp).sort()).toEqual([`w${atCurrent} r7 [PUT a=4@7]`, `w${plain} r7 [PUT a=4@7]`, `w${prev} r7 [PUT a=4@7 prev=a=3]`].sort());
  });

  it("reads at most maxRevisionsPerSync revisions per call and never splits a revision", async () => {
    ws.close();
    ws = new WatchableStore(h.store, { maxRevisionsPerSync: 3, maxEventsPerSync: 2 });
    for (let i = 0; i < 4; i++) h.put(`k${i}`, "x"); // 2..5
    h.txn((t) => {
      for (let i = 0; i < 5; i++) t.put(b(`k${i}`), b("y"), 0n);
    }); // 6: five events, more than maxEventsPerSync
    h.put("k0", "z"); // 7
    const s = ws.newStream();
    const id = s.watch(w("k", "l", { startRev: 2n }));
    const got: WatchResponse[] = [];
    await ws.syncWatchers();
    got.push(...drain(s));
    expect(got.map(resp)).toEqual([`w${id} r3 [PUT k0=x@2, PUT k1=x@3]`]);
    expect(ws.unsyncedCount).toBe(1);
    await settle(ws, [s], got);
    checkWholeRevisions(got);
    expect(got.map(resp)).toEqual([
      `w${id} r3 [PUT k0=x@2, PUT k1=x@3]`,
      `w${id} r5 [PUT k2=x@4, PUT k3=x@5]`,
      `w${id} r6 [PUT k0=y@6, PUT k1=y@6, PUT k2=y@6, PUT k3=y@6, PUT k4=y@6]`,
      `w${id} r7 [PUT k0=z@7]`,
    ]);
    expect(ws.syncedCount).toBe(1);
  });

  it("moves a watcher back to synced without missing or repeating revisions published during the read", async () => {
    for (let i = 0; i < 20; i++) h.put(`k${i % 4}`, `v${i}`); // 2..21
    await h.commit();
    const s = ws.newStream();
    const id = s.watch(w("k", "l", { startRev: 2n, prevKv: true }));
    const sync = ws.syncWatchers();
    // The backend read is in flight: these revisions are published meanwhile.
    h.put("k1", "during1"); // 22
    h.put("other", "x"); // 23
    h.txn((t) => {
      t.put(b("k2"), b("during2"), 0n);
      t.deleteRange(b("k3"), undefined);
    }); // 24
    await sync;
    expect(ws.syncedCount).toBe(1);
    expect(ws.unsyncedCount).toBe(0);
    h.put("k0", "after"); // 25
    const got = drain(s);
    checkWholeRevisions(got);
    expect(got.map((r) => r.revision)).toEqual([24n, 25n]);
    expect(eventsByWatcher(got).get(id)).toEqual(await expected("k", "l", 2n, { prevKv: true }));
  });

  it("keeps a watcher unsynced when too much happens during the read, and catches up on the next call", async () => {
    ws.close();
    ws = new WatchableStore(h.store, { maxGapEvents: 2 });
    for (let i = 0; i < 5; i++) h.put(`k${i}`, "x"); // 2..6
    const s = ws.newStream();
    const id = s.watch(w("k", "l", { startRev: 2n }));
    const sync = ws.syncWatchers();
    for (let i = 0; i < 5; i++) h.put(`k${i}`, "during"); // 7..11
    await sync;
    expect(ws.unsyncedCount).toBe(1);
    const got = drain(s);
    expect(got.map((r) => r.revision)).toEqual([6n]);
    await settle(ws, [s], got);
    h.put("k0", "live"); // 12
    got.push(...drain(s));
    checkWholeRevisions(got);
    expect(eventsByWatcher(got).get(id)).toEqual(await expected("k", "l", 2n));
    expect(got.map((r) => r.revision)).toEqual([6n, 11n, 12n]);
  });

  it("does not hold watchers near the head back behind one far behind", async () => {
    ws.close();
    ws = new WatchableStore(h.store, { maxRevisionsPerSync: 10 });
    for (let i = 0; i < 60; i++) h.put(i % 2 === 0 ? "a" : "b", `${i}`); // 2..61
    const s = ws.newStream();
    const old = s.watch(w("a", "", { startRev: 2n }));
    const recent = s.watch(w("b", "", { startRev: 58n }));
    await ws.syncWatchers(); // the old watcher's turn: revisions 2..11
    await ws.syncWatchers(); // the recent one's turn: 58..61, then synced
    const by = eventsByWatcher(drain(s));
    expect(by.get(recent)).toEqual(["PUT b=57@59", "PUT b=59@61"]);
    expect(ws.syncedCount).toBe(1);
    expect(by.get(old)).toEqual(["PUT a=0@2", "PUT a=2@4", "PUT a=4@6", "PUT a=6@8", "PUT a=8@10"]);
    await settle(ws, [s], []);
    expect(ws.syncedCount).toBe(2);
  });

  it("serializes overlapping syncWatchers calls", async () => {
    for (let i = 0; i < 10; i++) h.put("a", `${i}`); // 2..11
    const s = ws.newStream();
    const id = s.watch(w("a", "", { startRev: 2n }));
    const calls = [ws.syncWatchers(), ws.syncWatchers(), ws.syncWatchers()];
    h.put("a", "during"); // 12
    await Promise.all(calls);
    h.put("a", "after"); // 13
    const got = drain(s);
    expect(eventsByWatcher(got).get(id)).toEqual(await expected("a", "", 2n));
  });

  it("a watcher canceled while its catch-up read runs gets nothing more", async () => {
    h.put("a", "1");
    h.put("a", "2");
    const s = ws.newStream();
    const id = s.watch(w("a", "", { startRev: 2n }));
    const keep = s.watch(w("a", "", { startRev: 3n }));
    const sync = ws.syncWatchers();
    expect(s.cancel(id)).toBe(true);
    h.put("a", "3");
    await sync;
    expect(drain(s).map(resp)).toEqual([`w${keep} r4 [PUT a=2@3, PUT a=3@4]`]);
    expect(ws.unsyncedCount + ws.syncedCount).toBe(1);
  });
});

describe("WatchableStore compaction", () => {
  it("cancels a watcher whose start revision was compacted, with compactRevision, and removes it", async () => {
    for (let i = 0; i < 9; i++) h.put("a", `${i}`); // 2..10
    const { done } = h.store.compact(6n);
    await h.commit();
    await done;
    const s = ws.newStream();
    const old = s.watch(w("a", "", { startRev: 5n }));
    const atCompact = s.watch(w("a", "", { startRev: 6n }));
    await ws.syncWatchers();
    const got = drain(s);
    expect(got.map(resp)).toContain(`w${old} r0 [] compacted 6`);
    expect(eventsByWatcher(got).get(atCompact)).toEqual(["PUT a=4@6", "PUT a=5@7", "PUT a=6@8", "PUT a=7@9", "PUT a=8@10"]);
    expect(s.watcherCount).toBe(1);
    expect(s.cancel(old)).toBe(false);
    expect(ws.syncedCount).toBe(1);
    expect(ws.unsyncedCount).toBe(0);
  });

  it("cancels a watcher that fell behind a compaction while watching", async () => {
    const s = ws.newStream({ maxQueued: 1 });
    const id = s.watch(w("a"));
    for (let i = 0; i < 6; i++) h.put("a", `${i}`); // 2..7: the queue holds revision 2 only
    expect(ws.unsyncedCount).toBe(1);
    expect(s.queued).toBe(1);
    const { done } = h.store.compact(5n);
    await h.commit();
    await done;
    // The queue is full: the compaction response waits for room.
    await ws.syncWatchers();
    expect(s.queued).toBe(1);
    expect(ws.unsyncedCount).toBe(1);
    const got = drain(s);
    await ws.syncWatchers();
    got.push(...drain(s));
    expect(got.map(resp)).toEqual([`w${id} r2 [PUT a=0@2]`, `w${id} r0 [] compacted 5`]);
    expect(s.watcherCount).toBe(0);
    expect(ws.unsyncedCount).toBe(0);
  });

  it("abandons a catch-up read that a compaction raced, then cancels the watcher", async () => {
    for (let i = 0; i < 9; i++) h.put("a", `${i}`); // 2..10
    await h.commit();
    const s = ws.newStream();
    const id = s.watch(w("a", "", { startRev: 3n }));
    const sync = ws.syncWatchers();
    const { done } = h.store.compact(8n);
    await sync;
    expect(drain(s)).toEqual([]);
    expect(ws.unsyncedCount).toBe(1);
    await h.commit();
    await done;
    await ws.syncWatchers();
    expect(drain(s).map(resp)).toEqual([`w${id} r0 [] compacted 8`]);
    expect(ws.unsyncedCount).toBe(0);
  });
});

describe("WatchableStore slow consumers", () => {
  it("a watcher whose stream stops reading falls behind and later gets every event exactly once, in order", async () => {
    const s = ws.newStream({ maxQueued: 4 });
    const id = s.watch(w("k", "l"));
    const other = ws.newStream();
    const fast = other.watch(w("k", "l"));
    for (let i = 0; i < 50; i++) h.put(`k${i % 5}`, `v${i}`); // 2..51
    expect(s.queued).toBe(4);
    expect(ws.unsyncedCount).toBe(1);
    expect(ws.syncedCount).toBe(1);
    // The stream is still full: a catch-up round leaves the watcher alone.
    await ws.syncWatchers();
    expect(s.queued).toBe(4);
    expect(ws.unsyncedCount).toBe(1);
    const got: WatchResponse[] = [];
    // The consumer resumes; writes continue, some of them during the catch-up reads.
    for (let round = 0; round < 6; round++) {
      got.push(...drain(s));
      const sync = ws.syncWatchers();
      h.put(`k${round}`, `during${round}`);
      h.put("x", "unrelated");
      await sync;
      h.put(`k${round}`, `after${round}`);
      if (round % 2 === 0) await h.commit();
    }
    await settle(ws, [s], got);
    h.put("k0", "last");
    got.push(...drain(s));
    checkWholeRevisions(got);
    const want = await expected("k", "l", 2n);
    expect(eventsByWatcher(got).get(id)).toEqual(want);
    expect(eventsByWatcher(drain(other)).get(fast)).toEqual(want);
    expect(ws.syncedCount).toBe(2);
  });

  it("bounds a stream's queue by bytes and delivers oversized revisions alone", async () => {
    const s = ws.newStream({ maxPendingBytes: 1000, maxQueued: 1000 });
    const id = s.watch(w("a"));
    const big = "x".repeat(3000);
    h.put("a", big); // 2: larger than the budget, fits the empty queue
    h.put("a", "small"); // 3: does not fit behind it
    expect(s.queued).toBe(1);
    expect(ws.unsyncedCount).toBe(1);
    const got: WatchResponse[] = [];
    for (let i = 0; i < 5; i++) h.put("a", big); // 4..8
    got.push(...drain(s));
    await ws.syncWatchers();
    // Catch-up: the first revision fits the empty queue, the next ones would exceed the budget.
    expect(s.queued).toBe(1);
    expect(s.pendingBytes).toBeLessThan(1000 + 3200);
    await settle(ws, [s], got);
    checkWholeRevisions(got);
    expect(eventsByWatcher(got).get(id)).toEqual(await expected("a", "", 2n));
  });

  it("serves 10,000 watchers on one stream within its byte bound, each event exactly once", async () => {
    const maxPendingBytes = 64 * 1024;
    const s = ws.newStream({ maxPendingBytes, maxQueued: 1_000_000 });
    const ids: bigint[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(s.watch(w(`k/${i % 100}/`, `k/${i % 100}0`)));
    // Every watcher (range k/<n>/..k/<n>0) plus 100 whole-prefix watchers.
    const prefix = s.watch(w("k/", "k0", { id: 50_000n }));
    expect(s.watcherCount).toBe(10_001);
    expect(ws.syncedCount).toBe(10_001);
    let maxSeen = 0;
    const got: WatchResponse[] = [];
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 100; n += 7) {
        h.put(`k/${n}/x`, `${round}-${n}`);
        maxSeen = Math.max(maxSeen, s.pendingBytes);
      }
      maxSeen = Math.max(maxSeen, s.pendingBytes);
      expect(s.pendingBytes).toBeLessThanOrEqual(maxPendingBytes);
      for (let r = s.poll(); r !== undefined; r = s.poll()) got.push(r);
      await ws.syncWatchers();
      maxSeen = Math.max(maxSeen, s.pendingBytes);
    }
    await settle(ws, [s], got);
    expect(maxSeen).toBeLessThanOrEqual(maxPendingBytes);
    expect(maxSeen).toBeGreaterThan(maxPendingBytes / 2);
    const by = eventsByWatcher(got);
    for (let i = 0; i < 10_000; i += 97) {
      const n = i % 100;
      expect(by.get(ids[i]!) ?? []).toEqual(await expected(`k/${n}/`, `k/${n}0`, 2n));
    }
    let total = 0;
    for (const id of ids) total += by.get(id)?.length ?? 0;
    // 15 keys (n = 0, 7, ..., 98) x 3 rounds, each seen by the 100 watchers of its n.
    expect(total).toBe(15 * 3 * 100);
    expect(by.get(prefix)).toEqual(await expected("k/", "k0", 2n));
    s.close();
    expect(ws.syncedCount + ws.unsyncedCount).toBe(0);
  });
});

describe("WatchStream IDs, errors and lifecycle", () => {
  it("rejects duplicate IDs and reports unknown ones", () => {
    const s = ws.newStream();
    expect(s.watch(w("a", "", { id: 5n }))).toBe(5n);
    expect(() => s.watch(w("b", "", { id: 5n }))).toThrowError(new WatchError("duplicate_id"));
    try {
      s.watch(w("b", "", { id: 5n }));
    } catch (err) {
      expect(err).toBeInstanceOf(WatchError);
      expect((err as WatchError).code).toBe("duplicate_id");
      expect((err as WatchError).message).toBe("mvcc: duplicate watch ID provided on the WatchStream");
    }
    expect(s.cancel(99n)).toBe(false);
    expect(s.cancel(5n)).toBe(true);
    expect(s.cancel(5n)).toBe(false);
    expect(s.watch(w("b", "", { id: 5n }))).toBe(5n);
    // IDs are per stream.
    expect(ws.newStream().watch(w("a", "", { id: 5n }))).toBe(5n);
    expect(new WatchError("not_exist").message).toBe("mvcc: watcher does not exist");
  });

  it("rejects an empty range", () => {
    const s = ws.newStream();
    expect(() => s.watch(w("b", "a"))).toThrow("mvcc: watcher range is empty");
    expect(() => s.watch(w("b", "b"))).toThrow("mvcc: watcher range is empty");
    expect(s.watcherCount).toBe(0);
    expect(s.watch(w("b", "\0"))).toBe(0n);
    expect(s.watch(w("b", "c"))).toBe(1n);
  });

  it("allocates automatic IDs from 0, skipping IDs the client chose", () => {
    const s = ws.newStream();
    expect(s.watch(w("a", "", { id: 1n }))).toBe(1n);
    expect(s.watch(w("a", "", { id: 2n }))).toBe(2n);
    expect(s.watch(w("a"))).toBe(0n);
    expect(s.watch(w("a", "", { id: 0n }))).toBe(3n); // 0 is etcd's AutoWatchID
    expect(s.watch(w("a", "", { id: -1n }))).toBe(4n);
    expect(s.watch(w("a", "", { id: 6n }))).toBe(6n);
    expect(s.watch(w("a"))).toBe(5n);
    expect(s.watch(w("a"))).toBe(7n);
    expect(s.cancel(0n)).toBe(true);
    expect(s.watch(w("a"))).toBe(8n); // automatic IDs are not reused
  });

  it("bounds the watchers of a stream", () => {
    const s = ws.newStream({ maxWatchers: 2 });
    s.watch(w("a"));
    s.watch(w("a", "", { id: 9n }));
    expect(() => s.watch(w("a"))).toThrow(new WatchError("too_many"));
    expect(() => s.watch(w("a", "", { id: 10n }))).toThrow("mvcc: too many watchers on the watch stream");
    s.cancel(9n);
    expect(s.watch(w("a", "", { id: 10n }))).toBe(10n);
  });

  it("cancel drops the watcher's queued responses", () => {
    const s = ws.newStream();
    const a = s.watch(w("a"));
    const bb = s.watch(w("b"));
    h.put("a", "1");
    h.put("b", "1");
    h.put("a", "2");
    expect(s.queued).toBe(3);
    const before = s.pendingBytes;
    s.cancel(a);
    expect(s.queued).toBe(1);
    expect(s.pendingBytes).toBeLessThan(before);
    h.put("a", "3");
    expect(drain(s).map(resp)).toEqual([`w${bb} r3 [PUT b=1@3]`]);
    expect(s.pendingBytes).toBe(0);
  });

  it("next() waits for a response; close frees every watcher and ends pending next()", async () => {
    const s = ws.newStream();
    s.watch(w("a"));
    s.watch(w("a", "b", { startRev: 1n }));
    const s2 = ws.newStream();
    s2.watch(w("a"));
    expect(ws.syncedCount + ws.unsyncedCount).toBe(3);
    const first = s.next();
    h.put("a", "1");
    expect(resp((await first)!)).toBe("w0 r2 [PUT a=1@2]");
    h.put("a", "2");
    expect(s.queued).toBe(1);
    expect(s.pendingBytes).toBeGreaterThan(0);
    s.close();
    expect(s.watcherCount).toBe(0);
    expect(s.pendingBytes).toBe(0);
    expect(ws.syncedCount + ws.unsyncedCount).toBe(1);
    expect(await s.next()).toBeUndefined();
    expect(() => s.watch(w("a"))).toThrow(WatchError);
    expect(s.cancel(0n)).toBe(false);

    const pending = s2.next(); // revision 2, queued
    expect(s2.poll()?.revision).toBe(3n);
    expect(s2.poll()).toBeUndefined();
    const waiting = s2.next();
    s2.close();
    expect(resp((await pending)!)).toBe("w0 r2 [PUT a=1@2]");
    expect(await waiting).toBeUndefined();
    expect(ws.syncedCount + ws.unsyncedCount).toBe(0);
    h.put("a", "3");
    await ws.syncWatchers();
  });

  it("iterates responses with for await", async () => {
    const s = ws.newStream();
    s.watch(w("a"));
    h.put("a", "1");
    h.put("a", "2");
    const seen: string[] = [];
    for await (const r of s) {
      seen.push(resp(r));
      if (seen.length === 2) s.close();
    }
    expect(seen).toEqual(["w0 r2 [PUT a=1@2]", "w0 r3 [PUT a=2@3]"]);
  });
});

describe("WatchableStore setStore", () => {
  /** follower builds a second store with the leader's history so far plus more. */
  async function follower(more: (f: Harness) => void): Promise<Harness> {
    const f = await Harness.create();
    extra.push(f);
    const all = await h.store.readEvents(1n, h.store.currentRevision);
    let rev = 0n;
    let t: ReturnType<typeof f.store.write> | undefined;
    for (const e of all) {
      const kv = e.kv as mvccpb.KeyValue;
      if (kv.modRevision !== rev) {
        t?.end();
        t = f.store.write();
        rev = kv.modRevision;
      }
      if (e.type === mvccpb.Event_EventType.PUT) t!.put(kv.key, kv.value, kv.lease);
      else t!.deleteRange(kv.key, undefined);
    }
    t?.end();
    more(f);
    await f.commit();
    return f;
  }

  it("moves synced watchers to unsynced and catches them up from the new store", async () => {
    const s = ws.newStream();
    const a = s.watch(w("a", "", { prevKv: true }));
    const future = s.watch(w("b", "", { startRev: 100n }));
    h.put("a", "1"); // 2
    h.put("b", "1"); // 3
    const got = drain(s);
    const f = await follower((x) => {
      x.put("a", "2"); // 4
      x.put("b", "2"); // 5
    });
    ws.setStore(f.store);
    expect(ws.syncedCount).toBe(0);
    expect(ws.unsyncedCount).toBe(2);
    // The old store no longer feeds the watchers.
    h.put("a", "old-store");
    expect(s.queued).toBe(0);
    await ws.syncWatchers();
    expect(ws.syncedCount).toBe(2);
    f.put("a", "3"); // 6
    got.push(...drain(s));
    const by = eventsByWatcher(got);
    expect(by.get(a)).toEqual(["PUT a=1@2", "PUT a=2@4 prev=a=1", "PUT a=3@6 prev=a=2"]);
    expect(by.get(future)).toBeUndefined();
    expect(s.rev).toBe(6n);
  });

  it("counts a synced watcher as having seen the old store through its current revision", async () => {
    const s = ws.newStream();
    const a = s.watch(w("a"));
    h.put("a", "1"); // 2
    for (let i = 0; i < 8; i++) h.put("other", `${i}`); // 3..10: nothing for the watcher
    const got = drain(s);
    const f = await follower((x) => {
      x.put("a", "2"); // 11
    });
    // The snapshot was compacted past the watcher's last event but not past what it has seen.
    const { done } = f.store.compact(9n);
    await f.commit();
    await done;
    ws.setStore(f.store);
    await ws.syncWatchers();
    got.push(...drain(s));
    expect(got.map(resp)).toEqual([`w${a} r2 [PUT a=1@2]`, `w${a} r11 [PUT a=2@11]`]);
    expect(ws.syncedCount).toBe(1);
  });

  it("discards a catch-up read of the replaced store", async () => {
    for (let i = 0; i < 5; i++) h.put("a", `${i}`); // 2..6
    const s = ws.newStream();
    const id = s.watch(w("a", "", { startRev: 2n }));
    const f = await follower((x) => {
      x.put("a", "new"); // 7
    });
    const sync = ws.syncWatchers();
    ws.setStore(f.store);
    h.put("a", "old-store");
    await sync;
    expect(drain(s)).toEqual([]);
    expect(ws.unsyncedCount).toBe(1);
    await ws.syncWatchers();
    expect(eventsByWatcher(drain(s)).get(id)).toEqual(["PUT a=0@2", "PUT a=1@3", "PUT a=2@4", "PUT a=3@5", "PUT a=4@6", "PUT a=new@7"]);
  });
});

describe("WatchableStore against a model", () => {
  it("delivers every watcher exactly its events, in order, under random writes, readers and syncs", async () => {
    const rand = mulberry32(7);
    const keys = ["a", "b", "c", "d", "e", "f"];
    const pick = (): string => keys[Math.floor(rand() * keys.length)]!;
    ws.close();
    ws = new WatchableStore(h.store, { maxRevisionsPerSync: 7, maxEventsPerSync: 9, maxWatchersPerSync: 3, maxGapEvents: 4 });
    const streams: WatchStream[] = [ws.newStream({ maxQueued: 2 }), ws.newStream({ maxQueued: 5, maxPendingBytes: 600 }), ws.newStream()];
    interface Spec {
      stream: WatchStream;
      id: bigint;
      key: string;
      end: string;
      from: bigint;
      prevKv: boolean;
      noPut: boolean;
      noDelete: boolean;
    }
    const specs: Spec[] = [];
    const got: WatchResponse[][] = streams.map(() => []);
    const addWatcher = (): void => {
      const si = Math.floor(rand() * streams.length);
      const k = pick();
      const kind = rand();
      const end = kind < 0.4 ? "" : kind < 0.6 ? "\0" : String.fromCharCode(k.charCodeAt(0) + 1 + Math.floor(rand() * 3));
      const cur = h.store.currentRevision;
      const startRev = rand() < 0.5 ? 0n : rand() < 0.8 ? BigInt(Math.max(1, Number(cur) - Math.floor(rand() * 30))) : cur + BigInt(Math.floor(rand() * 5) + 1);
      const spec = { stream: streams[si]!, key: k, end, prevKv: rand() < 0.5, noPut: rand() < 0.15, noDelete: rand() < 0.15 };
      const id = spec.stream.watch(w(k, end, { startRev, prevKv: spec.prevKv, filters: { noPut: spec.noPut, noDelete: spec.noDelete } }));
      specs.push({ ...spec, id, from: startRev === 0n ? cur + 1n : startRev });
    };
    for (let i = 0; i < 3; i++) h.put(pick(), "init");
    for (let i = 0; i < 12; i++) addWatcher();
    let pendingSync: Promise<void> | undefined;
    for (let step = 0; step < 600; step++) {
      const r = rand();
      if (r < 0.45) {
        h.put(pick(), `v${step}`);
      } else if (r < 0.55) {
        h.del(pick());
      } else if (r < 0.62) {
        const k1 = pick();
        const k2 = pick();
        h.txn((t) => {
          t.put(b(k1), b(`t${step}`), 0n);
          t.put(b(k1 + "x"), b(`t${step}`), 0n);
          // etcd rejects a txn that puts and deletes the same key.
          if (k2 !== k1 && rand() < 0.5) t.deleteRange(b(k2), undefined);
        });
      } else if (r < 0.8) {
        const si = Math.floor(rand() * streams.length);
        const n = Math.floor(rand() * 3);
        for (let i = 0; i < n; i++) {
          const x = streams[si]!.poll();
          if (x !== undefined) got[si]!.push(x);
        }
      } else if (r < 0.92) {
        if (pendingSync === undefined) pendingSync = ws.syncWatchers();
        else {
          await pendingSync;
          pendingSync = undefined;
        }
      } else if (r < 0.96) {
        await h.commit();
      } else if (specs.length < 30) {
        addWatcher();
      }
    }
    if (pendingSync !== undefined) await pendingSync;
    const settleAll = async (): Promise<void> => {
      for (let round = 0; ; round++) {
        for (let i = 0; i < streams.length; i++) got[i]!.push(...drain(streams[i]!));
        if (ws.unsyncedCount === 0) return;
        expect(round).toBeLessThan(5000);
        await ws.syncWatchers();
      }
    };
    await settleAll();
    expect(ws.syncedCount).toBe(specs.length);
    // Live again (a watcher of a stream with room for two responses may fall behind once more).
    h.put("a", "final");
    await settleAll();
    for (let i = 0; i < streams.length; i++) {
      checkWholeRevisions(got[i]!);
      const by = eventsByWatcher(got[i]!);
      for (const sp of specs.filter((x) => x.stream === streams[i])) {
        const want = await expected(sp.key, sp.end, sp.from, { prevKv: sp.prevKv, noPut: sp.noPut, noDelete: sp.noDelete });
        expect(by.get(sp.id) ?? [], `watcher ${sp.id} on stream ${i}: ${sp.key}..${sp.end} from ${sp.from}`).toEqual(want);
      }
    }
  });
});
