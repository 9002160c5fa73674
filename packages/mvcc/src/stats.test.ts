import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Harness } from "./testing/helpers.js";

let h: Harness;

beforeEach(async () => {
  h = await Harness.create();
});

afterEach(async () => {
  await h.destroy();
});

const b = (s: string): Buffer => Buffer.from(s);

describe("KVStore stats and liveKeys", () => {
  it("counts each range, put and deleteRange call, and multi-op write transactions as txns", () => {
    h.put("a", "1");
    h.put("a", "2");
    h.put("b", "1");
    h.del("a");
    h.del("zz"); // deletes nothing, still one deleteRange call (as etcd counts)
    h.rangeAt("a");
    h.txn((t) => {
      t.range(b("b"), undefined);
      t.put(b("c"), b("1"), 0n);
      t.deleteRange(b("b"), undefined);
    });
    expect(h.store.stats).toEqual({ ranges: 2, puts: 4, deletes: 3, txns: 1 });
  });

  it("tracks live keys through puts, deletes and a reopen", async () => {
    h.put("a", "1");
    h.put("a", "2");
    h.put("b", "1");
    h.put("c", "1");
    expect(h.store.liveKeys).toBe(3);
    h.del("a", "c");
    expect(h.store.liveKeys).toBe(1);
    h.put("a", "3");
    expect(h.store.liveKeys).toBe(2);
    await h.commit();
    await h.reopen();
    expect(h.store.liveKeys).toBe(2);
  });
});
