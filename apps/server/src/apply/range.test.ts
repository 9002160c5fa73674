import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KvHarness, meta, show } from "./testing/kv_harness.js";

const { ASCEND, DESCEND, NONE } = etcdserverpb.RangeRequest_SortOrder;
const { KEY, VERSION, CREATE, MOD, VALUE } = etcdserverpb.RangeRequest_SortTarget;

let h: KvHarness;

beforeEach(async () => {
  h = await KvHarness.create();
});

afterEach(async () => {
  await h.destroy();
});

/**
 * seed writes the same history that was run against etcd 3.4.23 with etcdctl to cross-check
 * sorting: k1=b (rev 2), k2=a (3), k3=b (4), k2=c (5), k4=a (6).
 */
function seed(): void {
  h.put("k1", "b");
  h.put("k2", "a");
  h.put("k3", "b");
  h.put("k2", "c");
  h.put("k4", "a");
}

async function keys(key: string, end: string, opts: Partial<etcdserverpb.RangeRequest> = {}): Promise<string[]> {
  return (await h.range(key, end, opts)).kvs.map((kv) => kv.key.toString());
}

describe("KVStore range", () => {
  it("reads one key, [key, end), a prefix and everything from a key", async () => {
    for (const k of ["a", "ab", "abc", "b", "c"]) h.put(k, k);
    expect(await keys("ab", "")).toEqual(["ab"]);
    expect(await keys("a", "b")).toEqual(["a", "ab", "abc"]);
    expect(await keys("ab", "ac")).toEqual(["ab", "abc"]);
    expect(await keys("b", "\0")).toEqual(["b", "c"]);
    expect(await keys("\0", "\0")).toEqual(["a", "ab", "abc", "b", "c"]);
    expect(await keys("c", "a")).toEqual([]);
    expect(await keys("zz", "")).toEqual([]);
  });

  it("counts every key in range and sets more when the limit cuts", async () => {
    for (const k of ["a", "b", "c", "d"]) h.put(k, k);
    let r = await h.range("a", "\0", { limit: 2n });
    expect(r.kvs.map(show)).toEqual(["a=a", "b=b"]);
    expect(r.more).toBe(true);
    expect(r.count).toBe(4n);
    r = await h.range("a", "\0", { limit: 4n });
    expect(r.kvs).toHaveLength(4);
    expect(r.more).toBe(false);
    r = await h.range("a", "\0", { limit: 10n });
    expect(r.more).toBe(false);
    r = await h.range("c", "\0", { limit: 1n });
    expect([r.kvs.map(show), r.more, r.count]).toEqual([["c=c"], true, 2n]);
  });

  it("sorts by every target, defaulting other targets to ascending (as etcd)", async () => {
    seed();
    expect(await keys("k", "l", { sortTarget: VALUE })).toEqual(["k4", "k1", "k3", "k2"]);
    expect(await keys("k", "l", { sortTarget: VALUE, sortOrder: DESCEND })).toEqual(["k2", "k1", "k3", "k4"]);
    expect(await keys("k", "l", { sortTarget: VERSION, sortOrder: DESCEND })).toEqual(["k2", "k1", "k3", "k4"]);
    expect(await keys("k", "l", { sortTarget: VERSION, sortOrder: ASCEND })).toEqual(["k1", "k3", "k4", "k2"]);
    expect(await keys("k", "l", { sortTarget: CREATE, sortOrder: DESCEND })).toEqual(["k4", "k3", "k2", "k1"]);
    expect(await keys("k", "l", { sortTarget: CREATE })).toEqual(["k1", "k2", "k3", "k4"]);
    expect(await keys("k", "l", { sortTarget: MOD })).toEqual(["k1", "k3", "k2", "k4"]);
    expect(await keys("k", "l", { sortTarget: MOD, sortOrder: DESCEND })).toEqual(["k4", "k2", "k3", "k1"]);
    expect(await keys("k", "l", { sortTarget: KEY, sortOrder: DESCEND })).toEqual(["k4", "k3", "k2", "k1"]);
    expect(await keys("k", "l", { sortTarget: KEY, sortOrder: ASCEND })).toEqual(["k1", "k2", "k3", "k4"]);
    expect(await keys("k", "l", { sortTarget: KEY, sortOrder: NONE })).toEqual(["k1", "k2", "k3", "k4"]);
  });

  it("sorts before applying the limit, counting all keys (etcdctl cross-check)", async () => {
    seed();
    const r = await h.range("k", "l", { sortTarget: VERSION, sortOrder: DESCEND, limit: 2n });
    expect(r.kvs.map((kv) => `${kv.key.toString()} v${kv.version}`)).toEqual(["k2 v2", "k1 v1"]);
    expect(r.count).toBe(4n);
    expect(r.more).toBe(true);
    const r2 = await h.range("k", "l", { sortTarget: MOD, sortOrder: DESCEND, limit: 4n });
    expect(r2.more).toBe(false);
  });

  it("reads past revisions with limit, count and the current revision in the header (etcdctl cross-check)", async () => {
    seed();
    h.put("k5", "x");
    await h.commit();
    const r = await h.range("k", "l", { revision: 6n, limit: 2n });
    expect(r.kvs.map(meta)).toEqual(["k1=b c2 m2 v1 l0", "k2=c c3 m5 v2 l0"]);
    expect(r.count).toBe(4n);
    expect(r.more).toBe(true);
    expect(r.revision).toBe(7n);
    const r2 = await h.range("k", "l", { revision: 4n, sortTarget: VALUE, sortOrder: DESCEND });
    expect(r2.kvs.map(show)).toEqual(["k1=b", "k3=b", "k2=a"]);
    expect(r2.count).toBe(3n);
  });

  it("filters on mod and create revisions before the limit; count ignores filters", async () => {
    seed();
    let r = await h.range("k", "l", { minModRevision: 4n });
    expect(r.kvs.map(show)).toEqual(["k2=c", "k3=b", "k4=a"]);
    expect(r.count).toBe(4n);
    r = await h.range("k", "l", { maxModRevision: 4n });
    expect(r.kvs.map(show)).toEqual(["k1=b", "k3=b"]);
    r = await h.range("k", "l", { minCreateRevision: 3n, maxCreateRevision: 4n });
    expect(r.kvs.map(show)).toEqual(["k2=c", "k3=b"]);
    r = await h.range("k", "l", { minModRevision: 4n, limit: 2n });
    expect([r.kvs.map(show), r.more, r.count]).toEqual([["k2=c", "k3=b"], true, 4n]);
    r = await h.range("k", "l", { minModRevision: 4n, limit: 3n });
    expect([r.kvs.map(show), r.more, r.count]).toEqual([["k2=c", "k3=b", "k4=a"], false, 4n]);
    r = await h.range("k", "l", { minModRevision: 6n, maxModRevision: 5n });
    expect([r.kvs, r.more, r.count]).toEqual([[], false, 4n]);
  });

  it("strips values with keys_only and returns only the count with count_only", async () => {
    seed();
    const r = await h.range("k", "l", { keysOnly: true, limit: 1n });
    expect(r.kvs.map(meta)).toEqual(["k1= c2 m2 v1 l0"]);
    expect(await h.kv("k1")).toEqual(["k1=b"]);
    const c = await h.range("k", "l", { countOnly: true, limit: 1n });
    expect(c).toEqual({ kvs: [], more: false, count: 4n, revision: 6n });
    const c2 = await h.range("k", "l", { countOnly: true, revision: 3n });
    expect(c2).toEqual({ kvs: [], more: false, count: 2n, revision: 6n });
  });

  it("serves reads at the current revision synchronously and past ones asynchronously", async () => {
    h.put("a", "1");
    h.put("a", "2");
    await h.commit();
    expect(h.rangeApplied(h.req("a", "", { revision: 3n })).done).toBeUndefined();
    expect(h.rangeApplied(h.req("a", "", { revision: 0n })).done).toBeUndefined();
    const past = h.rangeApplied(h.req("a", "", { revision: 2n }));
    expect(past.done).toBeInstanceOf(Promise);
    await past.done;
    expect(past.response.kvs.map(show)).toEqual(["a=1"]);
  });

  it("treats a negative revision as the current one", async () => {
    h.put("a", "1");
    expect(await h.kv("a", "", { revision: -5n })).toEqual(["a=1"]);
  });

  it("reads a large history across chunks in key order", async () => {
    for (let i = 0; i < 300; i++) h.put(`key${String(i).padStart(4, "0")}`, `v${i}`);
    for (let i = 0; i < 300; i += 2) h.put(`key${String(i).padStart(4, "0")}`, `w${i}`);
    await h.commit();
    const r = await h.range("key", "kez", { revision: 301n });
    expect(r.count).toBe(300n);
    expect(r.kvs[0] && show(r.kvs[0])).toBe("key0000=v0");
    expect(r.kvs[299] && show(r.kvs[299])).toBe("key0299=v299");
    const now = await h.range("key", "kez", { limit: 3n });
    expect(now.kvs.map(show)).toEqual(["key0000=w0", "key0001=v1", "key0002=w2"]);
  });
});
