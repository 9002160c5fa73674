import { describe, expect, it } from "vitest";
import { checkKv } from "./check_kv.js";
import type { Operation } from "./history.js";
import {
  del,
  delOk,
  get,
  grant,
  grantOk,
  kv,
  leaseNotFound,
  op,
  put,
  putOk,
  rangeOk,
  revoke,
  revokeOk,
  txn,
  txnOk,
  unknown,
} from "./testing/dsl.js";

const a1 = kv("a", "1", 2, 2, 1);
const a2 = kv("a", "2", 2, 3, 2);

describe("linearizable histories", () => {
  it("accepts a sequential history", () => {
    const h = [
      op(1, 0, 10, put("a", "1"), putOk(2)),
      op(2, 20, 30, get("a"), rangeOk(2, [a1])),
      op(1, 40, 50, put("a", "2"), putOk(3)),
      op(2, 60, 70, get("a"), rangeOk(3, [a2])),
      op(3, 80, 90, del("a"), delOk(4, 1)),
      op(3, 100, 110, get("a"), rangeOk(4, [])),
    ];
    const r = checkKv(h);
    expect(r.verdict).toBe("ok");
    expect(r.perKey).toBe("ok");
    expect(r.full).toBe("ok");
  });

  it("accepts a read concurrent with a write seeing either the old or the new value", () => {
    const w = op(1, 0, 100, put("a", "2"), putOk(3));
    const base = op(1, -20, -10, put("a", "1"), putOk(2));
    expect(checkKv([base, w, op(2, 10, 20, get("a"), rangeOk(2, [a1]))]).verdict).toBe("ok");
    expect(checkKv([base, w, op(2, 10, 20, get("a"), rangeOk(3, [a2]))]).verdict).toBe("ok");
  });

  it("treats operations whose ends touch as concurrent (Porcupine's order at equal times)", () => {
    const h = [op(1, 0, 10, put("a", "1"), putOk(2)), op(2, 10, 20, get("a"), rangeOk(1, []))];
    expect(checkKv(h).verdict).toBe("ok");
    expect(checkKv([h[0] as Operation, { ...(h[1] as Operation), call: 11 }]).verdict).toBe("illegal");
  });

  it("accepts a timed-out put that took effect (a later read sees it)", () => {
    const h = [unknown(1, 0, put("a", "1")), op(2, 50, 60, get("a"), rangeOk(2, [a1]))];
    expect(checkKv(h).verdict).toBe("ok");
  });

  it("accepts a timed-out put that did not take effect (never seen, revision never moved)", () => {
    const h = [unknown(1, 0, put("a", "1")), op(2, 50, 60, get("a"), rangeOk(1, [])), op(3, 70, 80, put("b", "2"), putOk(2))];
    expect(checkKv(h).verdict).toBe("ok");
  });

  it("accepts a correct compare-and-swap history", () => {
    const h = [
      op(1, 0, 10, put("a", "1"), putOk(2)),
      op(1, 20, 30, txn([{ key: "a", target: "mod", result: "=", value: 2 }], [put("a", "2")], [get("a")]), txnOk(3, true, [{ type: "put", revision: 0 }])),
      op(2, 25, 40, txn([{ key: "a", target: "mod", result: "=", value: 2 }], [put("a", "3")], [get("a")]), txnOk(3, false, [rangeOk(0, [a2])])),
    ];
    expect(checkKv(h).verdict).toBe("ok");
  });

  it("accepts a lease history: a put with a missing lease fails, a revoke deletes its keys in one revision", () => {
    const h = [
      op(1, 0, 10, put("a", "1", { lease: 7 }), leaseNotFound),
      op(1, 20, 30, grant(7), grantOk(1)),
      op(1, 40, 50, put("a", "1", { lease: 7 }), putOk(2)),
      op(2, 60, 70, put("b", "2", { lease: 7 }), putOk(3)),
      op(2, 80, 90, revoke(7), revokeOk(4)),
      op(3, 100, 110, get("a", { end: "\0" }), rangeOk(4, [])),
      op(3, 120, 130, revoke(7), leaseNotFound),
    ];
    const r = checkKv(h);
    expect(r.verdict).toBe("ok");
    expect(r.perKey).toBe("skipped"); // a revoke touches several keys
  });
});

describe("non-linearizable histories", () => {
  it("rejects a stale read: a read after an acknowledged overwrite returns the old value", () => {
    const h = [
      op(1, 0, 10, put("a", "1"), putOk(2)),
      op(1, 20, 30, put("a", "2"), putOk(3)),
      op(2, 40, 50, get("a"), rangeOk(3, [a1])),
    ];
    const r = checkKv(h);
    expect(r.verdict).toBe("illegal");
    expect(r.failure?.layer).toBe("per-key");
    expect(r.failure?.key).toBe("a");
    expect(r.failure?.stuck).toBe(2);
    expect(r.failure?.explanation).toContain('"2"');
  });

  it("rejects a stale read even when the read reports the old header revision", () => {
    const h = [op(1, 0, 10, put("a", "1"), putOk(2)), op(1, 20, 30, put("a", "2"), putOk(3)), op(2, 40, 50, get("a"), rangeOk(2, [a1]))];
    expect(checkKv(h).verdict).toBe("illegal");
  });

  it("rejects a lost write: an acknowledged put a later read never sees", () => {
    const h = [op(1, 0, 10, put("a", "1"), putOk(2)), op(2, 20, 30, get("a"), rangeOk(2, []))];
    expect(checkKv(h).verdict).toBe("illegal");
    const later = [op(1, 0, 10, put("a", "1"), putOk(2)), op(1, 15, 18, put("b", "1"), putOk(3)), op(2, 20, 30, get("a"), rangeOk(3, []))];
    expect(checkKv(later).verdict).toBe("illegal");
  });

  it("rejects two sequential puts whose revisions are inverted", () => {
    const sameKey = [op(1, 0, 10, put("a", "1"), putOk(3)), op(1, 20, 30, put("a", "2"), putOk(2))];
    expect(checkKv(sameKey).verdict).toBe("illegal");
    expect(checkKv(sameKey).failure?.layer).toBe("per-key"); // the per-key layer keeps a revision bound
    const twoKeys = [op(1, 0, 10, put("a", "1"), putOk(3)), op(1, 20, 30, put("b", "2"), putOk(2))];
    const r = checkKv(twoKeys);
    expect(r.perKey).toBe("ok"); // each key alone is fine ...
    expect(r.full).toBe("illegal"); // ... the revisions are not
  });

  it("rejects two sequential puts that reads observe in the wrong order", () => {
    const h = [
      op(1, 0, 10, put("a", "1"), putOk(2)),
      op(1, 20, 30, put("a", "2"), putOk(3)),
      op(2, 5, 60, get("a"), rangeOk(3, [a2])),
      op(2, 70, 80, get("a"), rangeOk(2, [a1])),
    ];
    expect(checkKv(h).verdict).toBe("illegal");
  });

  it("rejects a read whose header revision is below an earlier completed write's", () => {
    const h = [op(1, 0, 10, put("a", "1"), putOk(2)), op(2, 20, 30, get("b"), rangeOk(1, []))];
    const r = checkKv(h);
    expect(r.perKey).toBe("ok");
    expect(r.verdict).toBe("illegal");
    expect(r.failure?.layer).toBe("full");
  });

  it("rejects an incorrect compare-and-swap: two swaps of the same revision both succeed", () => {
    const cas = (v: string): Operation["input"] => txn([{ key: "a", target: "mod", result: "=", value: 2 }], [put("a", v)]);
    const h = [
      op(1, 0, 10, put("a", "1"), putOk(2)),
      op(1, 20, 30, cas("2"), txnOk(3, true, [{ type: "put", revision: 0 }])),
      op(2, 40, 50, cas("3"), txnOk(4, true, [{ type: "put", revision: 0 }])),
    ];
    expect(checkKv(h).verdict).toBe("illegal");
    // Concurrent, too: only one can win.
    const concurrent = [h[0] as Operation, { ...(h[1] as Operation), call: 20, return: 60 }, { ...(h[2] as Operation), call: 20, return: 60 }];
    expect(checkKv(concurrent).verdict).toBe("illegal");
  });

  it("rejects a put acknowledged with a lease that was never granted, and a wrong revoke revision", () => {
    expect(checkKv([op(1, 0, 10, put("a", "1", { lease: 7 }), putOk(2))]).verdict).toBe("illegal");
    const h = [
      op(1, 20, 30, grant(7), grantOk(1)),
      op(1, 40, 50, put("a", "1", { lease: 7 }), putOk(2)),
      op(2, 60, 70, put("b", "2", { lease: 7 }), putOk(3)),
      op(2, 80, 90, revoke(7), revokeOk(5)), // one revision for both keys: 4
    ];
    expect(checkKv(h).verdict).toBe("illegal");
  });

  it("rejects a timed-out put whose effect shows up before it was called", () => {
    const h = [op(2, 0, 10, get("a"), rangeOk(2, [a1])), unknown(1, 20, put("a", "1"))];
    expect(checkKv(h).verdict).toBe("illegal");
  });
});

describe("budget", () => {
  it("answers unknown when the step budget runs out", () => {
    const h: Operation[] = [];
    for (let i = 0; i < 50; i++) h.push(op(i % 4, i * 10, i * 10 + 5, put("a", `v${i}`), putOk(i + 2)));
    const r = checkKv(h, { maxSteps: 10, perKey: false });
    expect(r.verdict).toBe("unknown");
    expect(checkKv(h).verdict).toBe("ok");
  });

  it("rejects a return before its call", () => {
    expect(() => checkKv([op(1, 10, 5, get("a"), rangeOk(1, []))])).toThrow(/call <= return/);
  });
});
