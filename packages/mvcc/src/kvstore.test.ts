import { consistentIndexKey } from "@etcd-ts/backend";
import { mvccpb } from "@etcd-ts/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness, meta, show } from "./testing/helpers.js";

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.destroy();
});

describe("KVStore put / delete", () => {
  it("starts empty at revision 1", async () => {
    expect(h.store.currentRevision).toBe(1n);
    expect(h.store.compactRevision).toBe(0n);
    const r = await h.range("a");
    expect(r).toEqual({ kvs: [], count: 0, rev: 1n });
  });

  it("puts, overwrites and reads at the current revision synchronously", () => {
    const w1 = h.put("a", "1");
    expect(w1.revision).toBe(2n);
    expect(w1.prev).toBeUndefined();
    const w2 = h.put("a", "2");
    expect(w2.revision).toBe(3n);
    expect(meta(w2.prev)).toBe("a=1 c2 m2 v1 l0");
    const r = h.rangeAt("a");
    expect(r).not.toBeInstanceOf(Promise);
    if (r instanceof Promise) return;
    expect(r.kvs.map(meta)).toEqual(["a=2 c2 m3 v2 l0"]);
    expect(r.rev).toBe(3n);
    expect(r.count).toBe(1);
  });

  it("keeps keys and values in memory of their own, not the request buffer they were views into", () => {
    const request = Buffer.alloc(64 * 1024, 0x61);
    const key = request.subarray(10, 13);
    const value = request.subarray(100, 356);
    const txn = h.store.write();
    txn.put(key, value, 0n);
    txn.end();
    const r = h.store.range(Buffer.from("aaa"), undefined);
    if (r instanceof Promise) throw new Error("a read at the current revision went to the backend");
    const kv = r.kvs[0]!;
    expect(kv.value.equals(value)).toBe(true);
    expect(kv.key.buffer.byteLength).toBe(3);
    expect(kv.value.buffer.byteLength).toBe(256);
    request.fill(0); // the caller may reuse its buffer
    expect(kv.value.equals(Buffer.alloc(256, 0x61))).toBe(true);
    expect(kv.key.toString()).toBe("aaa");
  });

  it("keeps history readable at past revisions", async () => {
    h.put("a", "1");
    h.put("b", "x");
    h.put("a", "2");
    h.del("a");
    await h.commit();
    h.put("a", "3");
    expect(await h.kv("a", "", { revision: 2n })).toEqual(["a=1"]);
    expect(await h.kv("a", "", { revision: 3n })).toEqual(["a=1"]);
    expect(await h.kv("a", "", { revision: 4n })).toEqual(["a=2"]);
    expect(await h.kv("a", "", { revision: 5n })).toEqual([]);
    expect(await h.kv("a", "", { revision: 6n })).toEqual(["a=3"]);
    expect(await h.kv("a", "", { revision: 1n })).toEqual([]);
    const r = await h.range("a", "c", { revision: 4n });
    expect(r.kvs.map(show)).toEqual(["a=2", "b=x"]);
    expect(r.rev).toBe(6n);
  });

  it("reads uncommitted history and history being written", async () => {
    h.put("a", "1");
    h.put("a", "2");
    const commit = h.commit();
    h.put("a", "3");
    expect(await h.kv("a", "", { revision: 2n })).toEqual(["a=1"]);
    await commit;
    expect(await h.kv("a", "", { revision: 3n })).toEqual(["a=2"]);
    await h.commit();
    expect(await h.kv("a", "", { revision: 2n })).toEqual(["a=1"]);
  });

  it("counts versions per generation and restarts them after a delete", () => {
    h.put("a", "1");
    h.put("a", "2");
    h.put("a", "3");
    expect(meta(liveA())).toBe("a=3 c2 m4 v3 l0");
    h.del("a");
    h.put("a", "4");
    expect(meta(liveA())).toBe("a=4 c6 m6 v1 l0");
    h.put("a", "5");
    expect(meta(liveA())).toBe("a=5 c6 m7 v2 l0");
  });

  it("does not bump the revision when deleting nothing", () => {
    h.put("a", "1");
    const w = h.del("zz");
    expect(w.revision).toBe(2n);
    expect(w.deleted).toEqual([]);
    expect(w.events).toEqual([]);
    const w2 = h.del("a");
    expect(w2.revision).toBe(3n);
    expect(h.del("a").revision).toBe(3n);
    expect(h.store.currentRevision).toBe(3n);
  });

  it("deletes everything from a key with range_end \\0", async () => {
    for (const k of ["a", "b", "c"]) h.put(k, "v");
    expect(h.del("b", "\0").deleted.map(meta)).toEqual(["b=v c3 m3 v1 l0", "c=v c4 m4 v1 l0"]);
    expect(await h.kv("a", "\0")).toEqual(["a=v"]);
  });

  it("publishes each revision's events once, in order, with prev_kv", () => {
    const seen: Array<{ revision: bigint; events: string[] }> = [];
    h.store.onEvents((events, revision) => {
      seen.push({
        revision,
        events: events.map((e) => `${e.type === mvccpb.Event_EventType.PUT ? "PUT" : "DEL"} ${meta(e.kv)} prev ${meta(e.prevKv)}`),
      });
    });
    h.put("a", "1");
    h.put("a", "2");
    h.del("zz");
    h.put("b", "3");
    h.del("a", "c");
    expect(seen).toEqual([
      { revision: 2n, events: ["PUT a=1 c2 m2 v1 l0 prev none"] },
      { revision: 3n, events: ["PUT a=2 c2 m3 v2 l0 prev a=1 c2 m2 v1 l0"] },
      { revision: 4n, events: ["PUT b=3 c4 m4 v1 l0 prev none"] },
      {
        revision: 5n,
        events: ["DEL a= c0 m5 v0 l0 prev a=2 c2 m3 v2 l0", "DEL b= c0 m5 v0 l0 prev b=3 c4 m4 v1 l0"],
      },
    ]);
    const w = h.put("c", "x");
    expect(w.events).toHaveLength(1);
    expect(seen[seen.length - 1]!.events).toEqual(["PUT c=x c6 m6 v1 l0 prev none"]);
  });

  it("rejects reads at future revisions and calls after close", async () => {
    h.put("a", "1");
    expect(() => h.rangeAt("a", "", { rev: 3n })).toThrow("mvcc: required revision is a future revision");
    await h.store.close();
    expect(() => h.put("a", "2")).toThrow("mvcc: store is closed");
  });

  it("writes its changes in the batch transaction it was given, with the owner's keys", async () => {
    h.put("a", "1");
    void h.commitAt(42n);
    await h.tx.sync();
    await h.reopen();
    expect((await h.backend.get(consistentIndexKey))?.readBigUInt64BE()).toBe(42n);
    expect(await h.kv("a")).toEqual(["a=1"]);
  });

  it("fails every commit after a backend write failed", async () => {
    h.put("a", "1");
    await h.backend.close();
    await expect(h.commit()).rejects.toThrow("backend: batch write failed: backend: database is closed");
    h.put("a", "2");
    await expect(h.commit()).rejects.toThrow("backend: batch write failed");
    await expect(h.tx.sync()).rejects.toThrow("backend: batch write failed");
    expect(await h.kv("a", "", { revision: 2n })).toEqual(["a=1"]);
  });

  it("drops uncommitted changes on close (the WAL replays them)", async () => {
    h.put("a", "1");
    await h.commit();
    h.put("a", "2");
    await h.reopen();
    expect(h.store.currentRevision).toBe(2n);
    expect(await h.kv("a")).toEqual(["a=1"]);
  });

  it("lists live keys with their leases", () => {
    h.put("b", "1", { lease: 5n });
    h.put("a", "2");
    h.put("c", "3");
    h.del("c");
    const seen: string[] = [];
    h.store.forEachLiveKey((kv) => seen.push(meta(kv)));
    expect(seen).toEqual(["a=2 c3 m3 v1 l0", "b=1 c2 m2 v1 l5"]);
  });
});

function liveA(): mvccpb.KeyValue | undefined {
  const r = h.rangeAt("a");
  if (r instanceof Promise) throw new Error("expected a synchronous read");
  return r.kvs[0];
}

describe("KVStore readEvents", () => {
  it("reads back exactly the events that were published, with prev_kv", async () => {
    const published: mvccpb.Event[] = [];
    h.store.onEvents((events) => published.push(...events));
    h.put("a", "1");
    h.put("b", "1", { lease: 4n });
    h.put("a", "2");
    await h.commit();
    h.del("a", "c");
    h.put("a", "3");
    h.txn((t) => {
      t.put(Buffer.from("a"), Buffer.from("4"), 0n);
      t.put(Buffer.from("c"), Buffer.from("5"), 0n);
    });
    const all = await h.store.readEvents(0n, h.store.currentRevision, { prevKv: true });
    expect(all).toEqual(published);
    await h.commit();
    expect(await h.store.readEvents(1n, 7n, { prevKv: true })).toEqual(published);
    const some = await h.store.readEvents(5n, 6n);
    expect(some.map((e) => `${e.type}:${e.kv!.key.toString()}@${e.kv!.modRevision} prev ${e.prevKv === undefined}`)).toEqual([
      "1:a@5 prev true",
      "1:b@5 prev true",
      "0:a@6 prev true",
    ]);
    expect(await h.store.readEvents(7n, 6n)).toEqual([]);
    await expect(h.store.readEvents(1n, 8n)).rejects.toThrow("mvcc: required revision is a future revision");
    const { done } = h.store.compact(5n);
    await h.commit();
    await done;
    await expect(h.store.readEvents(4n, 7n)).rejects.toThrow("mvcc: required revision has been compacted");
    const after = await h.store.readEvents(6n, 7n, { prevKv: true });
    expect(after).toEqual(published.slice(5));
  });
});
