import { describe, expect, it } from "vitest";
import type { Request, Result } from "./history.js";
import { apply, canonicalState, compare, initialState, resultEqual, stateEqual, stateHash, step, type KvState } from "./model.js";
import { del, delOk, get, grant, kv, put, putOk, rangeOk, revoke, txn, txnOk } from "./testing/dsl.js";

/** run applies requests in order, returning the answers and the final state. */
function run(reqs: Request[], from: KvState = initialState()): { results: Result[]; state: KvState } {
  let state = from;
  const results: Result[] = [];
  for (const r of reqs) {
    const a = apply(state, r);
    results.push(a.result);
    state = a.next;
  }
  return { results, state };
}

describe("put and range", () => {
  it("starts at revision 1: the first write gets revision 2, version 1, createRevision = modRevision", () => {
    const { results, state } = run([put("a", "1"), get("a")]);
    expect(results[0]).toEqual(putOk(2));
    expect(results[1]).toEqual(rangeOk(2, [kv("a", "1", 2, 2, 1)]));
    expect(state.revision).toBe(2);
  });

  it("bumps version and modRevision on overwrite, keeps createRevision, returns prevKv only when asked", () => {
    const { results } = run([put("a", "1"), put("a", "2", { prevKv: true }), put("a", "3"), get("a")]);
    expect(results[1]).toEqual(putOk(3, kv("a", "1", 2, 2, 1)));
    expect(results[2]).toEqual(putOk(4));
    expect(results[3]).toEqual(rangeOk(4, [kv("a", "3", 2, 4, 3)]));
  });

  it("reads [key, end), every key >= key with end \\0, sorted; limit caps kvs and sets more; count counts all", () => {
    const { state } = run([put("c", "3"), put("a", "1"), put("b", "2"), put("d", "4")]);
    const r = (req: Request): Result => apply(state, req).result;
    expect(r(get("b", { end: "d" }))).toEqual(rangeOk(5, [kv("b", "2", 4, 4, 1), kv("c", "3", 2, 2, 1)]));
    expect(r(get("b", { end: "\0" }))).toEqual(
      rangeOk(5, [kv("b", "2", 4, 4, 1), kv("c", "3", 2, 2, 1), kv("d", "4", 5, 5, 1)]),
    );
    expect(r(get("a", { end: "\0", limit: 2 }))).toEqual(rangeOk(5, [kv("a", "1", 3, 3, 1), kv("b", "2", 4, 4, 1)], 4, true));
    expect(r(get("a", { end: "\0", limit: 4 }))).toEqual(rangeOk(5, [kv("a", "1", 3, 3, 1), kv("b", "2", 4, 4, 1), kv("c", "3", 2, 2, 1), kv("d", "4", 5, 5, 1)], 4, false));
    // countOnly: no kvs and, as in etcd 3.4, more stays false.
    expect(r(get("a", { end: "\0", countOnly: true, limit: 1 }))).toEqual(rangeOk(5, [], 4, false));
    expect(r(get("zz"))).toEqual(rangeOk(5, [], 0));
    expect(apply(state, get("a")).next).toBe(state);
  });
});

describe("delete", () => {
  it("deletes every matching key in one revision, with prevKvs when asked", () => {
    const { results, state } = run([put("a", "1"), put("b", "2"), put("c", "3"), del("a", { end: "c", prevKv: true }), get("a", { end: "\0" })]);
    expect(results[3]).toEqual(delOk(5, 2, [kv("a", "1", 2, 2, 1), kv("b", "2", 3, 3, 1)]));
    expect(results[4]).toEqual(rangeOk(5, [kv("c", "3", 4, 4, 1)]));
    expect(state.revision).toBe(5);
  });

  it("leaves the revision alone when nothing matched", () => {
    const { results, state } = run([put("a", "1"), del("b"), del("x", { end: "\0" })]);
    expect(results[1]).toEqual(delOk(2, 0));
    expect(results[2]).toEqual(delOk(2, 0));
    expect(state.revision).toBe(2);
  });

  it("recreates a deleted key with a new createRevision and version 1", () => {
    const { results } = run([put("a", "1"), put("a", "2"), del("a"), put("a", "3"), get("a")]);
    expect(results[4]).toEqual(rangeOk(5, [kv("a", "3", 5, 5, 1)]));
  });
});

describe("txn", () => {
  it("compares a missing key as zeroes, except that a value compare fails", () => {
    expect(compare(undefined, { key: "a", target: "version", result: "=", value: 0 })).toBe(true);
    expect(compare(undefined, { key: "a", target: "create", result: "<", value: 1 })).toBe(true);
    expect(compare(undefined, { key: "a", target: "mod", result: "=", value: 0 })).toBe(true);
    expect(compare(undefined, { key: "a", target: "lease", result: "=", value: 0 })).toBe(true);
    expect(compare(undefined, { key: "a", target: "value", result: "=", value: "" })).toBe(false);
    expect(compare(undefined, { key: "a", target: "value", result: "!=", value: "x" })).toBe(false);
    expect(compare(undefined, { key: "a", target: "value", result: "<", value: "x" })).toBe(false);
    const a = kv("a", "m", 2, 5, 3, 7);
    expect(compare(a, { key: "a", target: "value", result: ">", value: "l" })).toBe(true);
    expect(compare(a, { key: "a", target: "value", result: "<", value: "l" })).toBe(false);
    expect(compare(a, { key: "a", target: "mod", result: "=", value: 5 })).toBe(true);
    expect(compare(a, { key: "a", target: "create", result: "!=", value: 2 })).toBe(false);
    expect(compare(a, { key: "a", target: "version", result: ">", value: 2 })).toBe(true);
    expect(compare(a, { key: "a", target: "lease", result: "=", value: 7 })).toBe(true);
  });

  it("runs a branch with every write at one new revision; a range in it sees the earlier writes", () => {
    const { results, state } = run([
      put("a", "1"),
      txn(
        [{ key: "a", target: "mod", result: "=", value: 2 }],
        [put("a", "2", { prevKv: true }), put("b", "x"), get("a", { end: "\0" }), del("zz")],
      ),
    ]);
    expect(results[1]).toEqual(
      txnOk(3, true, [
        { type: "put", revision: 0, prevKv: kv("a", "1", 2, 2, 1) },
        { type: "put", revision: 0 },
        { type: "range", revision: 0, kvs: [kv("a", "2", 2, 3, 2), kv("b", "x", 3, 3, 1)], count: 2, more: false },
        { type: "delete", revision: 0, deleted: 0 },
      ]),
    );
    expect(state.revision).toBe(3);
  });

  it("runs the failure branch when a compare fails and keeps the revision when nothing is written", () => {
    const { results, state } = run([
      put("a", "1"),
      txn([{ key: "a", target: "value", result: "=", value: "2" }], [put("a", "3")], [get("a"), del("nope")]),
      txn([], [], []),
    ]);
    expect(results[1]).toEqual(
      txnOk(2, false, [
        { type: "range", revision: 0, kvs: [kv("a", "1", 2, 2, 1)], count: 1, more: false },
        { type: "delete", revision: 0, deleted: 0 },
      ]),
    );
    expect(results[2]).toEqual(txnOk(2, true, []));
    expect(state.revision).toBe(2);
  });

  it("fails as a whole with lease not found when the branch that runs puts with a missing lease", () => {
    const { results, state } = run([
      put("a", "1"),
      txn([{ key: "a", target: "version", result: "=", value: 1 }], [put("b", "2"), put("c", "3", { lease: 9 })]),
      txn([{ key: "a", target: "version", result: "=", value: 5 }], [put("c", "3", { lease: 9 })], [put("b", "2")]),
    ]);
    expect(results[1]).toEqual({ type: "error", error: "lease not found" });
    expect(results[2]).toEqual(txnOk(3, false, [{ type: "put", revision: 0 }]));
    expect(state.revision).toBe(3);
  });
});

describe("leases", () => {
  it("refuses a put naming a missing lease without changing anything", () => {
    const s0 = run([put("a", "1")]).state;
    const a = apply(s0, put("b", "2", { lease: 5 }));
    expect(a.result).toEqual({ type: "error", error: "lease not found" });
    expect(a.next).toBe(s0);
  });

  it("grants without a new revision, refuses a second grant of the same ID", () => {
    const { results, state } = run([put("a", "1"), grant(5), grant(5)]);
    expect(results[1]).toEqual({ type: "leaseGrant", revision: 2 });
    expect(results[2]).toEqual({ type: "error", error: "lease already exists" });
    expect(state.revision).toBe(2);
  });

  it("revokes: deletes the attached keys in one revision; a key re-put without the lease is detached", () => {
    const { results, state } = run([
      grant(5),
      put("a", "1", { lease: 5 }),
      put("b", "2", { lease: 5 }),
      put("c", "3", { lease: 5 }),
      put("c", "4"), // detaches c
      revoke(5),
      get("a", { end: "\0" }),
      revoke(5),
    ]);
    expect(results[1]).toEqual(putOk(2));
    expect(results[5]).toEqual({ type: "leaseRevoke", revision: 6 });
    expect(results[6]).toEqual(rangeOk(6, [kv("c", "4", 4, 5, 2)]));
    expect(results[7]).toEqual({ type: "error", error: "lease not found" });
    expect(state.leases.size).toBe(0);
  });

  it("revokes a lease without keys without a new revision", () => {
    const { results } = run([put("a", "1"), grant(5), revoke(5)]);
    expect(results[2]).toEqual({ type: "leaseRevoke", revision: 2 });
  });
});

describe("step", () => {
  it("accepts exactly the model's answer", () => {
    const s = run([put("a", "1")]).state;
    expect(step(s, get("a"), rangeOk(2, [kv("a", "1", 2, 2, 1)])).ok).toBe(true);
    expect(step(s, get("a"), rangeOk(1, [kv("a", "1", 2, 2, 1)])).ok).toBe(false);
    expect(step(s, get("a"), rangeOk(2, [kv("a", "1", 2, 2, 2)])).ok).toBe(false);
    expect(step(s, get("a"), rangeOk(2, [kv("a", "1", 2, 2, 1, 3)])).ok).toBe(false);
    expect(step(s, get("a"), rangeOk(2, [kv("a", "1", 2, 2, 1)], 2)).ok).toBe(false);
    expect(step(s, get("a"), rangeOk(2, [kv("a", "1", 2, 2, 1)], 1, true)).ok).toBe(false);
    expect(step(s, put("a", "2"), putOk(3)).ok).toBe(true);
    expect(step(s, put("a", "2"), putOk(4)).ok).toBe(false);
    expect(step(s, put("a", "2", { prevKv: true }), putOk(3)).ok).toBe(false);
    expect(step(s, put("a", "2", { lease: 1 }), { type: "error", error: "lease not found" }).ok).toBe(true);
    expect(step(s, put("a", "2"), { type: "error", error: "lease not found" }).ok).toBe(false);
    // A delete without prevKvs recorded equals one with an empty list.
    expect(resultEqual(delOk(2, 0), delOk(2, 0, []))).toBe(true);
    expect(resultEqual(delOk(2, 1, [kv("a", "1", 2, 2, 1)]), delOk(2, 1, []))).toBe(false);
  });

  it("applies an unknown outcome as a success, or checks the persisted revision", () => {
    const s = run([put("a", "1")]).state;
    const u = step(s, put("a", "2"), undefined);
    expect(u.ok).toBe(true);
    expect(u.next.revision).toBe(3);
    expect(step(s, put("a", "2"), undefined, 3).ok).toBe(true);
    expect(step(s, put("a", "2"), undefined, 4).ok).toBe(false);
    expect(step(s, get("a"), undefined, 3).ok).toBe(false);
    expect(step(s, put("a", "2", { lease: 9 }), undefined, 3).ok).toBe(false);
  });

  it("ignores the unused revision of a txn's op results", () => {
    const s = run([put("a", "1")]).state;
    const recorded = txnOk(3, true, [{ type: "put", revision: 3 }]);
    expect(step(s, txn([], [put("b", "2")]), recorded).ok).toBe(true);
  });
});

describe("state identity", () => {
  it("gives states reached by different paths the same hash and equality", () => {
    const a = run([put("a", "1"), put("b", "2"), grant(3)]).state;
    const b = run([put("b", "x"), put("a", "y"), grant(3), grant(4), revoke(4)]).state;
    expect(stateEqual(a, b)).toBe(false);
    const c = run([grant(3), put("a", "1"), put("b", "2")]).state;
    expect(stateEqual(a, c)).toBe(true);
    expect(stateHash(a)).toBe(stateHash(c));
    expect(canonicalState(a)).toBe(canonicalState(c));
    const d = run([put("a", "1"), put("b", "2"), grant(3), put("b", "3"), del("b"), put("b", "2")]).state;
    expect(stateEqual(a, d)).toBe(false);
  });
});
