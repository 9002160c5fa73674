import { describe, expect, it } from "vitest";
import { checkKv } from "./check_kv.js";
import { formatHistory } from "./format.js";
import type { Operation, RangeResult } from "./history.js";
import { formatWitness, minimize } from "./minimize.js";
import { ALL_KINDS, buildHistory, mulberry32, randomSpecs, SINGLE_KEY_KINDS, type OpSpec } from "./testing/generate.js";
import { get, grant, kv, op, put, putOk, rangeOk, unknown } from "./testing/dsl.js";

const KEYS = ["a", "b", "c", "d", "e", "f", "g", "h"];

/** planted builds a large linearizable history and plants a stale read at `at` (an isolated get whose value is made older). */
function planted(kinds: typeof ALL_KINDS, seed: number, at: number): { ops: Operation[]; target: number } {
  const specs = randomSpecs(mulberry32(seed), 1500, { clients: 8, keys: KEYS.length, kinds, unknownRate: 0, maxWidth: 80 });
  // Make sure the key has history: a few puts of it right before the read.
  const key = 3;
  for (let i = at - 30; i < at; i++) {
    const s = specs[i] as OpSpec;
    if (!["get", "range", "put"].includes(s.kind)) specs[i] = { ...s, kind: "get" };
  }
  for (const i of [at - 30, at - 20, at - 10]) specs[i] = { ...(specs[i] as OpSpec), kind: "put", key };
  specs[at] = { ...(specs[at] as OpSpec), kind: "get", key, isolate: true, unknown: false, choice: 1 }; // choice 1: not countOnly
  const { operations } = buildHistory(specs, { keys: KEYS });
  const target = operations[at] as Operation;
  const out = target.output as RangeResult;
  const current = out.kvs[0];
  if (current === undefined || current.version < 2) throw new Error("the planted read should see an overwritten key");
  // The value before the current one: find the put that wrote it.
  const prevPut = operations
    .slice(0, at)
    .filter((o) => o.input.type === "put" && o.input.key === current.key && o.output?.type === "put" && o.output.revision < current.modRevision)
    .pop() as Operation;
  const prevRev = (prevPut.output as { revision: number }).revision;
  const stale = { ...current, value: (prevPut.input as { value: string }).value, modRevision: prevRev, version: current.version - 1 };
  const ops = operations.map((o, i) => (i === at ? { ...o, output: { ...out, kvs: [stale] } } : o));
  return { ops, target: at };
}

describe("minimize", () => {
  for (const [name, kinds] of [
    ["single-key history (the per-key layer fails first)", SINGLE_KEY_KINDS],
    ["multi-key history (the full layer fails)", ALL_KINDS],
  ] as const) {
    it(`shrinks a planted stale read in a large ${name} to a smaller witness that is still illegal`, () => {
      const { ops, target } = planted(kinds, 99, 900);
      expect(checkKv(ops).verdict).toBe("illegal");
      const m = minimize(ops);
      expect(m.verdict).toBe("illegal");
      expect(m.complete).toBe(true);
      expect(m.operations.length).toBeLessThan(ops.length / 10);
      expect(checkKv(m.operations, m.options).verdict).toBe("illegal");
      expect(m.indices).toContain(target);
      // The witness is a sub-history: each operation is the input's, or the input's made unknown at the cut.
      m.operations.forEach((o, i) => {
        const src = ops[m.indices[i] as number] as Operation;
        expect(o.input).toEqual(src.input);
        if (o.output !== undefined) expect(o).toEqual(src);
        else expect(o.call).toBe(src.call);
      });
      // No read but the stale one is left: reads are removed while the witness stays illegal.
      const reads = m.operations.filter((o) => o.input.type === "range" && o.output !== undefined);
      expect(reads.map((o) => m.indices[m.operations.indexOf(o)])).toEqual([target]);
      console.log(`minimize (${name}): ${ops.length} -> ${m.operations.length} operations in ${m.checks} checks`);
    });
  }

  it("starts the witness from the state every linearization reaches before the stale read", () => {
    const h = [
      op(1, 0, 10, put("a", "1"), putOk(2)),
      op(2, 12, 20, put("b", "x"), putOk(3)),
      op(1, 22, 30, put("a", "2"), putOk(4)),
      op(3, 31, 35, get("b"), rangeOk(4, [kv("b", "x", 3, 3, 1)])),
      op(2, 40, 50, get("a"), rangeOk(4, [kv("a", "1", 2, 2, 1)])),
      op(3, 60, 70, put("a", "3"), putOk(5)),
      op(1, 80, 90, get("a"), rangeOk(5, [kv("a", "3", 2, 5, 3)])),
    ];
    const m = minimize(h);
    expect(m.verdict).toBe("illegal");
    expect(m.indices).toEqual([4]);
    expect(m.cut).toBe(50);
    expect(m.initial?.revision).toBe(4);
    expect(checkKv(m.operations, m.options).verdict).toBe("illegal");
    const text = formatWitness(m);
    expect(text).toContain('revision 4: rev=4 kvs=[a="2"(c2 m4 v2) b="x"(c3 m3 v1)]');
    expect(text).toContain('[client 2] 40..50  range "a"  ->  rev=4 count=1 kvs=[a="1"(c2 m2 v1)]');
  });

  it("keeps the writes of the key when no prefix can be replayed (per-key witness)", () => {
    // An unknown-outcome lease grant at the start leaves the lease set open at every revision.
    const h = [
      unknown(4, 0, grant(9)),
      op(1, 0, 10, put("a", "1"), putOk(2)),
      op(2, 12, 20, put("b", "x"), putOk(3)),
      op(1, 22, 30, put("a", "2"), putOk(4)),
      op(3, 31, 35, get("b"), rangeOk(4, [kv("b", "x", 3, 3, 1)])),
      op(2, 40, 50, get("a"), rangeOk(4, [kv("a", "1", 2, 2, 1)])),
    ];
    const m = minimize(h);
    expect(m.verdict).toBe("illegal");
    expect(m.options.full).toBe(false);
    expect(m.indices).toEqual([1, 3, 5]);
    expect(m.initial).toBeUndefined();
    expect(checkKv(m.operations, m.options).verdict).toBe("illegal");
  });

  it("returns a linearizable history unchanged", () => {
    const h = [op(1, 0, 10, put("a", "1"), putOk(2)), unknown(2, 5, put("a", "2"))];
    const m = minimize(h);
    expect(m.verdict).toBe("ok");
    expect(m.operations).toEqual(h);
  });
});

describe("formatHistory", () => {
  it("prints one line per operation, by call time, unknown answers as ?", () => {
    const h = [
      op(2, 40, 50, get("a"), rangeOk(3, [kv("a", "1", 2, 2, 1)])),
      op(1, 0, 10, put("a", "1", { prevKv: true }), putOk(2)),
      unknown(3, 20, put("b", "2", { lease: 5 })),
    ];
    expect(formatHistory(h)).toBe(
      [
        '[client 1] 0..10  put "a"="1" prevKv  ->  rev=2 ok',
        '[client 3] 20..?  put "b"="2" lease=5  ->  ?',
        '[client 2] 40..50  range "a"  ->  rev=3 count=1 kvs=[a="1"(c2 m2 v1)]',
      ].join("\n"),
    );
  });
});
