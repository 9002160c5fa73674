import { join } from "node:path";
import { Backend } from "@etcd-ts/backend";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MvccError } from "./errors.js";
import { KVStore } from "./kvstore.js";
import { keyPrefix, keyPrefixEnd, scheduledCompactKey, encodeUint64 } from "./revision.js";
import { Harness, meta, show } from "./testing/helpers.js";

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.destroy();
});

/** revisionRows counts the revision entries physically present in the backend. */
async function revisionRows(): Promise<number> {
  let n = 0;
  for await (const chunk of h.backend.scanChunks({ gte: keyPrefix, lt: keyPrefixEnd })) n += chunk.keys.length;
  return n;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof MvccError) return err.code;
    throw err;
  }
  return undefined;
}

describe("KVStore compaction", () => {
  it("fails reads below the compacted revision and serves it and later ones", async () => {
    h.put("a", "1"); // 2
    h.put("a", "2"); // 3
    h.put("b", "1"); // 4
    h.put("a", "3"); // 5
    await h.commit();
    const { done } = h.store.compact(4n);
    expect(h.store.compactRevision).toBe(4n);
    await h.commit();
    await done;
    expect(code(() => h.rangeAt("a", "", { rev: 3n }))).toBe("compacted");
    expect(() => h.rangeAt("a", "", { rev: 2n })).toThrow("mvcc: required revision has been compacted");
    expect(await h.kv("a", "c", { revision: 4n })).toEqual(["a=2", "b=1"]);
    expect(await h.kv("a", "c", { revision: 5n })).toEqual(["a=3", "b=1"]);
    expect(await h.kv("a", "c")).toEqual(["a=3", "b=1"]);
    expect((await h.range("a", "", { revision: 4n })).kvs.map(meta)).toEqual(["a=2 c2 m3 v2 l0"]);
  });

  it("validates the revision synchronously", async () => {
    h.put("a", "1");
    h.put("a", "2");
    expect(code(() => h.store.compact(4n))).toBe("future_rev");
    expect(code(() => h.store.compact(0n))).toBeUndefined();
    expect(code(() => h.store.compact(0n))).toBe("compacted");
    expect(code(() => h.store.compact(2n))).toBeUndefined();
    expect(code(() => h.store.compact(2n))).toBe("compacted");
    expect(code(() => h.store.compact(1n))).toBe("compacted");
    expect(code(() => h.store.compact(3n))).toBeUndefined();
    expect(h.store.compactRevision).toBe(3n);
    await h.commit();
  });

  it("physically deletes old revisions and tombstones, keeping the newest revision per key", async () => {
    h.put("a", "1"); // 2
    h.put("a", "2"); // 3
    h.put("b", "1"); // 4
    h.del("b"); // 5
    h.put("c", "1"); // 6
    h.del("c"); // 7
    h.put("c", "2"); // 8
    await h.commit();
    expect(await revisionRows()).toBe(7);
    const { done } = h.store.compact(7n);
    await h.commit();
    await done;
    // Kept: a@3 (newest of a), c@8 (after the compaction); b and c's first life are gone.
    expect(await revisionRows()).toBe(2);
    expect(await h.kv("a", "\0", { revision: 7n })).toEqual(["a=2"]);
    expect(await h.kv("a", "\0")).toEqual(["a=2", "c=2"]);
  });

  it("keeps a deletion made after the compacted revision and the value it deleted", async () => {
    h.put("a", "1"); // 2
    h.put("x", "1"); // 3
    h.del("a"); // 4
    await h.commit();
    const { done } = h.store.compact(3n);
    await h.commit();
    await done;
    expect(await revisionRows()).toBe(3);
    expect(await h.kv("a", "", { revision: 3n })).toEqual(["a=1"]);
    expect(await h.kv("a", "")).toEqual([]);
  });

  it("survives a reopen", async () => {
    h.put("a", "1"); // 2
    h.put("a", "2"); // 3
    h.del("a"); // 4
    h.put("b", "1"); // 5
    const { done } = h.store.compact(4n);
    await h.commit();
    await done;
    await h.reopen();
    expect(h.store.compactRevision).toBe(4n);
    expect(h.store.currentRevision).toBe(5n);
    expect(code(() => h.rangeAt("a", "", { rev: 3n }))).toBe("compacted");
    expect(code(() => h.store.compact(4n))).toBe("compacted");
    expect(await h.kv("a", "\0", { revision: 4n })).toEqual([]);
    expect(await h.kv("a", "\0")).toEqual(["b=1"]);
    expect((await h.store.hashKV(0n)).compactRevision).toBe(4n);
  });

  it("keeps the current revision when compaction removed every revision", async () => {
    h.put("a", "1"); // 2
    h.del("a"); // 3
    const { done } = h.store.compact(3n);
    await h.commit();
    await done;
    expect(await revisionRows()).toBe(0);
    await h.reopen();
    expect(h.store.currentRevision).toBe(3n);
    expect(h.put("a", "2").revision).toBe(4n);
  });

  it("settles done only after the compaction is committed", async () => {
    h.put("a", "1");
    h.put("a", "2");
    await h.commit();
    let settled = false;
    const { done } = h.store.compact(3n);
    void done.then(() => (settled = true));
    await h.backend.get(keyPrefix);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    expect(await revisionRows()).toBe(2);
    await h.commit();
    await done;
    expect(settled).toBe(true);
    expect(await revisionRows()).toBe(1);
  });

  it("rejects done when the store closes before the compaction is committed", async () => {
    h.put("a", "1");
    const { done } = h.store.compact(2n);
    await h.store.close();
    await expect(done).rejects.toThrow(/mvcc: store closed/);
  });

  it("resumes a compaction that was scheduled but not finished", async () => {
    h.put("a", "1"); // 2
    h.put("a", "2"); // 3
    h.put("b", "1"); // 4
    h.del("b"); // 5
    await h.commit();
    await h.store.close();
    await h.tx.close();
    // Simulate a crash after the compaction was recorded but before old revisions were deleted.
    await h.backend.write([{ type: "put", key: scheduledCompactKey, value: encodeUint64(5n) }]);
    await h.backend.close();
    await h.open();
    expect(h.store.compactRevision).toBe(5n);
    expect(code(() => h.rangeAt("a", "", { rev: 4n }))).toBe("compacted");
    await h.store.hash(); // runs after the resumed compaction
    expect(await revisionRows()).toBe(1);
    expect(await h.kv("a", "\0", { revision: 5n })).toEqual(["a=2"]);
    await h.reopen();
    expect(h.store.compactRevision).toBe(5n);
    expect(await revisionRows()).toBe(1);
  });

  it("compacts repeatedly while writes continue", async () => {
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) h.put(`k${i % 7}`, `r${round}i${i}`);
      if (round % 2 === 0) h.del("k3");
      const { done } = h.store.compact(h.store.currentRevision - 5n);
      await h.commit();
      await done;
    }
    const now = (await h.range("k", "l")).kvs.map(show);
    const rev = h.store.currentRevision;
    await h.reopen();
    expect((await h.range("k", "l")).kvs.map(show)).toEqual(now);
    expect(h.store.currentRevision).toBe(rev);
    expect(await revisionRows()).toBeLessThan(20);
  });
});
