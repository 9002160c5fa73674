import type { mvccpb } from "@etcd-ts/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Errors } from "../errors.js";
import { READ_CONTEXT } from "./applier.js";
import { b, KvHarness, meta } from "./testing/kv_harness.js";

let h: KvHarness;

beforeEach(async () => {
  h = await KvHarness.create();
});

afterEach(async () => {
  await h.destroy();
});

function liveA(): mvccpb.KeyValue | undefined {
  const r = h.store.range(b("a"), undefined);
  if (r instanceof Promise) throw new Error("expected a synchronous read");
  return r.kvs[0];
}

describe("Put and DeleteRange as etcd applies them", () => {
  it("returns prev_kv only when asked", () => {
    h.put("a", "1");
    expect(h.put("a", "2").response.prevKv).toBeUndefined();
    expect(meta(h.put("a", "3", { prevKv: true }).response.prevKv)).toBe("a=2 c2 m3 v2 l0");
    expect(h.put("new", "x", { prevKv: true }).response.prevKv).toBeUndefined();
  });


  it("stores leases and honours ignore_value / ignore_lease", () => {
    for (const id of [7n, 9n, 11n, 99n]) h.grantLease(id);
    h.put("a", "1", { lease: 7n });
    expect(meta(liveA())).toBe("a=1 c2 m2 v1 l7");
    h.put("a", "2");
    expect(meta(liveA())).toBe("a=2 c2 m3 v2 l0");
    h.put("a", "3", { lease: 9n });
    h.put("a", "ignored", { ignoreValue: true, lease: 11n });
    expect(meta(liveA())).toBe("a=3 c2 m5 v4 l11");
    h.put("a", "6", { ignoreLease: true, lease: 99n });
    expect(meta(liveA())).toBe("a=6 c2 m6 v5 l11");
    h.put("a", "", { ignoreValue: true, ignoreLease: true });
    expect(meta(liveA())).toBe("a=6 c2 m7 v6 l11");
  });


  it("fails ignore_value / ignore_lease on a missing key without changing anything", () => {
    h.put("b", "1");
    for (const opts of [{ ignoreValue: true }, { ignoreLease: true }]) {
      let err: unknown;
      try {
        h.put("a", "x", opts);
      } catch (e) {
        err = e;
      }
      expect(err).toBe(Errors.keyNotFound);
    }
    h.del("b");
    expect(() => h.put("b", "x", { ignoreValue: true })).toThrow("etcdserver: key not found");
    expect(h.store.currentRevision).toBe(3n);
  });


  it("deletes ranges with deleted count and prev_kvs", async () => {
    for (const k of ["a", "b", "c", "d"]) h.put(k, k.toUpperCase());
    const w = h.del("b", "d", { prevKv: true });
    expect(w.revision).toBe(6n);
    expect(w.response.deleted).toBe(2n);
    expect(w.response.prevKvs.map(meta)).toEqual(["b=B c3 m3 v1 l0", "c=C c4 m4 v1 l0"]);
    expect(await h.kv("a", "\0")).toEqual(["a=A", "d=D"]);
    const w2 = h.del("a");
    expect(w2.response).toEqual({ header: undefined, deleted: 1n, prevKvs: [] });
    expect(w2.revision).toBe(7n);
  });


  it("fails a put whose lease does not exist, at apply, changing nothing", () => {
    expect(() => h.put("a", "1", { lease: 5n })).toThrow("etcdserver: requested lease not found");
    expect(h.store.currentRevision).toBe(1n);
    h.grantLease(5n);
    expect(meta(h.put("a", "1", { lease: 5n, prevKv: true }).response.prevKv)).toBe("none");
  });
});

describe("Compaction as etcd applies it", () => {
  it("is not fatal when the store closes before a logical compaction's batch is committed or its deletions finish (they resume at the next open)", async () => {
    for (let i = 0; i < 200; i++) h.put("a", String(i));
    await h.commit();
    const rev = h.store.currentRevision;
    // The harness's onFatal throws: an interrupted compaction reported as fatal is an unhandled rejection.
    h.base.compaction(READ_CONTEXT, { revision: rev, physical: false });
    await h.reopen();
    await new Promise((r) => setTimeout(r, 50));
    expect(h.store.compactRevision).toBe(0n);
    h.base.compaction(READ_CONTEXT, { revision: rev, physical: false });
    await h.commit();
    await h.reopen();
    await new Promise((r) => setTimeout(r, 50));
    expect(h.store.compactRevision).toBe(rev);
  });
});
