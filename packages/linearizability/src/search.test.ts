import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fullModel } from "./check_kv.js";
import type { Operation, Result } from "./history.js";
import { Budget, checkPartitions, search, type SearchModel } from "./search.js";
import { ALL_KINDS, buildHistory, type OpSpec } from "./testing/generate.js";

/** A register: write(v) sets it, read() returns it; 0 at first. */
interface RegOp {
  client: number;
  call: number;
  return: number;
  kind: "w" | "r";
  key?: string;
  value: number;
}

const register: SearchModel<number, RegOp> = {
  init: () => 0,
  step: (s, op) => (op.kind === "w" ? op.value : op.value === s ? s : undefined),
  hash: (s) => s,
  equal: (a, b) => a === b,
};

const w = (client: number, call: number, ret: number, value: number, key = "x"): RegOp => ({ client, call, return: ret, kind: "w", value, key });
const r = (client: number, call: number, ret: number, value: number, key = "x"): RegOp => ({ client, call, return: ret, kind: "r", value, key });

describe("search on a register", () => {
  it("accepts a history that needs the concurrent reads on both sides of the write", () => {
    const h = [w(0, 0, 100, 100), r(1, 25, 75, 100), r(2, 30, 60, 0)];
    const res = search(register, h);
    expect(res.verdict).toBe("ok");
    expect(res.linearization).toEqual([2, 0, 1]);
  });

  it("rejects a read of the old value after a read of the new one completed", () => {
    const h = [w(0, 0, 100, 200), r(1, 10, 30, 200), r(2, 40, 90, 0)];
    const res = search(register, h);
    expect(res.verdict).toBe("illegal");
    expect(res.longest).toEqual([0, 1]);
    expect(res.stuck).toBe(2);
  });

  it("backtracks: the first order it tries fails later", () => {
    // Both writes overlap; the reads force 2 then 1.
    const h = [w(0, 0, 50, 1), w(1, 0, 50, 2), r(2, 60, 70, 1), r(3, 80, 90, 1)];
    expect(search(register, h).verdict).toBe("ok");
    const bad = [w(0, 0, 50, 1), w(1, 0, 50, 2), r(2, 60, 70, 1), r(3, 80, 90, 2)];
    expect(search(register, bad).verdict).toBe("illegal");
  });

  it("treats a return and a call at the same time as concurrent", () => {
    expect(search(register, [w(0, 0, 10, 1), r(1, 10, 20, 0)]).verdict).toBe("ok");
    expect(search(register, [w(0, 0, 10, 1), r(1, 11, 20, 0)]).verdict).toBe("illegal");
  });

  it("lets an operation with return Infinity take effect at any later time, or never", () => {
    expect(search(register, [w(0, 0, Infinity, 1), r(1, 10, 20, 0), r(1, 30, 40, 1)]).verdict).toBe("ok");
    expect(search(register, [w(0, 0, Infinity, 1), r(1, 10, 20, 0), r(1, 30, 40, 0)]).verdict).toBe("ok");
    expect(search(register, [w(0, 0, Infinity, 1), r(1, 10, 20, 1), r(1, 30, 40, 0)]).verdict).toBe("illegal");
  });

  it("stops with unknown when the budget runs out", () => {
    const h = Array.from({ length: 30 }, (_, i) => w(i, 0, 100, i));
    h.push(r(99, 200, 300, 1000));
    const budget = new Budget({ maxSteps: 100 });
    const res = search(register, h, budget);
    expect(res.verdict).toBe("unknown");
    expect(budget.exhausted).toBe(true);
  });

  it("checks partitions separately and names the failing one", () => {
    const h = [w(0, 0, 10, 1, "x"), w(1, 0, 10, 5, "y"), r(2, 20, 30, 1, "x"), r(3, 20, 30, 4, "y")];
    const byKey = (ops: readonly RegOp[]): number[][] => {
      const m = new Map<string, number[]>();
      ops.forEach((o, i) => m.set(o.key ?? "", [...(m.get(o.key ?? "") ?? []), i]));
      return [...m.values()];
    };
    const res = checkPartitions(register, h, byKey);
    expect(res.verdict).toBe("illegal");
    expect(res.partitions).toBe(2);
    expect(res.failed?.indices).toEqual([1, 3]);
    expect(checkPartitions(register, h.slice(0, 3), byKey).verdict).toBe("ok");
  });
});

describe("the progress limit", () => {
  const specArb = fc.record({
    client: fc.integer({ min: 0, max: 3 }),
    kind: fc.constantFrom(...ALL_KINDS),
    key: fc.integer({ min: 0, max: 2 }),
    key2: fc.integer({ min: 0, max: 2 }),
    gap: fc.integer({ min: 1, max: 5 }),
    before: fc.integer({ min: 0, max: 30 }),
    after: fc.integer({ min: 0, max: 30 }),
    unknown: fc.integer({ min: 0, max: 99 }).map((n) => n < 25),
    applied: fc.boolean(),
    choice: fc.nat({ max: 1 << 20 }),
  }) as fc.Arbitrary<OpSpec>;
  const { progress: _progress, limit: _limit, ...noPruning } = fullModel;

  it("prunes nothing that matters: the verdict is the same with and without it, on right and wrong histories", () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 14 }), fc.nat(), fc.integer({ min: -2, max: 2 }), (specs, pick, delta) => {
        const { operations } = buildHistory(specs, { keys: ["a", "b", "c"] });
        const known = operations.map((o, i) => [o, i] as const).filter(([o]) => o.output !== undefined && o.output.type !== "error");
        const ops = [...operations];
        if (known.length > 0 && delta !== 0) {
          const [o, i] = known[pick % known.length] as readonly [Operation, number];
          ops[i] = { ...o, output: { ...(o.output as Exclude<Result, { type: "error" }>), revision: (o.output as { revision: number }).revision + delta } };
        }
        const a = search(fullModel, ops);
        const b = search(noPruning, ops);
        expect(a.verdict).toBe(b.verdict);
        if (delta === 0) expect(a.verdict).toBe("ok");
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });
});
