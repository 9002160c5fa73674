import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MvccError } from "./errors.js";
import { b, Harness } from "./testing/helpers.js";

let h: Harness;
let other: Harness | undefined;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.destroy();
  await other?.destroy();
  other = undefined;
});

const lease = 4111120160920001029n;

/**
 * etcdHistory replays a history that was run against etcd 3.4.23 with etcdctl:
 * put a 1; put b 2; put a 11; del a; put c 3 --lease; a txn that changes nothing;
 * del b c; put a 111 (revisions 2..8).
 */
function etcdHistory(s: Harness): void {
  s.put("a", "1");
  s.put("b", "2");
  s.put("a", "11");
  s.del("a");
  s.put("c", "3", { lease });
  // The txn took its (empty) success branch; its failure branch's put never ran.
  s.txn(() => undefined);
  s.del("b", "c");
  s.put("a", "111");
}

describe("KVStore hashKV", () => {
  it("hashes an empty store like etcd", async () => {
    expect(await h.store.hashKV(0n)).toEqual({ hash: 1084519789, compactRevision: -1n, hashRevision: 1n });
  });

  it("matches etcd 3.4's HashKV for the same history, before and after compactions", async () => {
    etcdHistory(h);
    expect(h.store.currentRevision).toBe(8n);
    // Values printed by `etcdctl endpoint hashkv --rev=N` against etcd 3.4.23.
    expect(await h.store.hashKV(0n)).toEqual({ hash: 355008722, compactRevision: -1n, hashRevision: 8n });
    expect((await h.store.hashKV(3n)).hash).toBe(1827592406);
    expect((await h.store.hashKV(5n)).hash).toBe(2770065986);
    expect((await h.store.hashKV(7n)).hash).toBe(1142954157);
    await h.commit();
    const c5 = h.store.compact(5n);
    await h.commit();
    await c5.done;
    expect(await h.store.hashKV(0n)).toEqual({ hash: 2506391199, compactRevision: 5n, hashRevision: 8n });
    expect((await h.store.hashKV(7n)).hash).toBe(2958168194);
    const c8 = h.store.compact(8n);
    await h.commit();
    await c8.done;
    expect(await h.store.hashKV(0n)).toEqual({ hash: 1798034853, compactRevision: 8n, hashRevision: 8n });
    await expect(h.store.hashKV(5n)).rejects.toThrow("mvcc: required revision has been compacted");
    await expect(h.store.hashKV(8n)).rejects.toBeInstanceOf(MvccError);
    await expect(h.store.hashKV(9n)).rejects.toThrow("mvcc: required revision is a future revision");
  });

  it("includes changes that are not committed yet", async () => {
    etcdHistory(h);
    expect((await h.store.hashKV(0n)).hash).toBe(355008722);
    const pending = h.commit();
    expect((await h.store.hashKV(0n)).hash).toBe(355008722);
    await pending;
    expect((await h.store.hashKV(0n)).hash).toBe(355008722);
  });

  it("is equal for two stores with the same history and differs otherwise", async () => {
    other = await Harness.create();
    for (const s of [h, other]) {
      for (let i = 0; i < 50; i++) s.put(`k${i % 9}`, `v${i}`);
      s.del("k2", "k5");
      await s.commit();
    }
    expect(await h.store.hashKV(0n)).toEqual(await other.store.hashKV(0n));
    expect(await h.store.hash()).toBe(await other.store.hash());
    other.put("k1", "different");
    h.put("k1", "other");
    expect((await h.store.hashKV(0n)).hash).not.toBe((await other.store.hashKV(0n)).hash);
    expect(await h.store.hash()).not.toBe(await other.store.hash());
    expect((await h.store.hashKV(40n)).hash).toBe((await other.store.hashKV(40n)).hash);
  });
});

describe("KVStore hash", () => {
  it("is deterministic, ignores the consistent index and sees uncommitted changes", async () => {
    other = await Harness.create();
    etcdHistory(h);
    etcdHistory(other);
    const before = await h.store.hash();
    await h.commitAt(10n);
    await other.commitAt(99n);
    expect(await h.store.hash()).toBe(before);
    expect(await other.store.hash()).toBe(before);
    h.put("z", "1");
    const changed = await h.store.hash();
    expect(changed).not.toBe(before);
    await h.commit();
    expect(await h.store.hash()).toBe(changed);
  });
});
