import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkKv } from "./check_kv.js";
import type { KeyValue, Operation, RangeResult, Result } from "./history.js";
import { apply, initialState } from "./model.js";
import {
  ALL_KINDS,
  buildHistory,
  isolatedReads,
  mulberry32,
  randomSpecs,
  SINGLE_KEY_KINDS,
  type OpKind,
  type OpSpec,
} from "./testing/generate.js";

const KEYS = ["a", "b", "c", "d"];
/** RUNS: fast-check runs per property (FC_RUNS raises it for a deeper local search). */
const RUNS = Number(process.env.FC_RUNS ?? 150);

function specArb(kinds: readonly OpKind[], clients: number, unknownWeight: number): fc.Arbitrary<OpSpec> {
  return fc.record({
    client: fc.integer({ min: 0, max: clients - 1 }),
    kind: fc.constantFrom(...kinds),
    key: fc.integer({ min: 0, max: KEYS.length - 1 }),
    key2: fc.integer({ min: 0, max: KEYS.length - 1 }),
    gap: fc.integer({ min: 1, max: 10 }),
    before: fc.integer({ min: 0, max: 60 }),
    after: fc.integer({ min: 0, max: 60 }),
    unknown: fc.integer({ min: 0, max: 99 }).map((n) => n < unknownWeight),
    applied: fc.boolean(),
    choice: fc.nat({ max: 1 << 20 }),
  });
}

describe("generated linearizable histories", () => {
  for (const [name, kinds] of [
    ["single-key operations (both layers)", SINGLE_KEY_KINDS],
    ["multi-key ranges, deletes, txns and revokes (full layer)", ALL_KINDS],
  ] as const) {
    it(`are accepted: ${name}`, () => {
      fc.assert(
        fc.property(fc.array(specArb(kinds, 5, 8), { minLength: 1, maxLength: 80 }), (specs) => {
          const { operations } = buildHistory(specs, { keys: KEYS });
          const r = checkKv(operations, { maxSteps: 2_000_000 });
          expect(r.verdict).toBe("ok");
          if (kinds === SINGLE_KEY_KINDS) expect(r.perKey).toBe("ok");
        }),
        { numRuns: RUNS },
      );
    });
  }
});

/** Mutation is a change to a read's answer that no linearization can explain when the read overlaps no write. */
type Mutation = "older-value" | "revision-down" | "revision-up" | "mod" | "version" | "count" | "drop-kv" | "phantom-kv";

function mutate(out: RangeResult, mutation: Mutation, older: KeyValue | undefined): RangeResult {
  const kvs = out.kvs.map((k) => ({ ...k }));
  const first = kvs[0];
  switch (mutation) {
    case "older-value":
      if (first !== undefined && older !== undefined) return { ...out, kvs: [older, ...kvs.slice(1)] };
      return { ...out, revision: out.revision - 1 };
    case "revision-down":
      return { ...out, revision: out.revision - 1 };
    case "revision-up":
      return { ...out, revision: out.revision + 1 };
    case "mod":
      if (first !== undefined) first.modRevision -= 1;
      else return { ...out, count: out.count + 1 };
      return { ...out, kvs };
    case "version":
      if (first !== undefined) first.version += 1;
      else return { ...out, count: out.count + 1 };
      return { ...out, kvs };
    case "count":
      return { ...out, count: out.count + 1 };
    case "drop-kv":
      if (first !== undefined) return { ...out, kvs: kvs.slice(1), count: out.count - 1 };
      return { ...out, revision: out.revision + 1 };
    case "phantom-kv":
      return { ...out, kvs: [...kvs, { key: "zzz", value: "ghost", createRevision: 2, modRevision: 2, version: 1, lease: 0 }], count: out.count + 1 };
  }
}

describe("a mutated read", () => {
  it("is rejected when the read overlaps no write", () => {
    const arb = fc.record({
      before: fc.array(specArb(SINGLE_KEY_KINDS, 4, 0), { minLength: 1, maxLength: 40 }),
      after: fc.array(specArb(ALL_KINDS, 4, 10), { maxLength: 20 }),
      read: specArb(["get", "range"], 4, 0),
      mutation: fc.constantFrom<Mutation>("older-value", "revision-down", "revision-up", "mod", "version", "count", "drop-kv", "phantom-kv"),
    });
    fc.assert(
      fc.property(arb, ({ before, after, read, mutation }) => {
        // Unknown-outcome writes before the read would make its answer ambiguous: none there.
        const specs = [...before, { ...read, isolate: true }, ...after];
        const { operations } = buildHistory(specs, { keys: KEYS });
        const target = before.length;
        expect(isolatedReads(operations)).toContain(target);
        const original = operations[target] as Operation;
        const out = original.output as RangeResult;
        const older = olderValue(operations.slice(0, target), out.kvs[0]);
        const mutated = operations.map((o, i) => (i === target ? { ...o, output: mutate(out, mutation, older) } : o));
        const r = checkKv(mutated, { maxSteps: 2_000_000 });
        expect(r.verdict).toBe("illegal");
      }),
      { numRuns: 2 * RUNS },
    );
  });
});

/** olderValue finds a state the key had before its current one (an older put of it), if any. */
function olderValue(ops: readonly Operation[], current: KeyValue | undefined): KeyValue | undefined {
  if (current === undefined) return undefined;
  let state = initialState();
  let older: KeyValue | undefined;
  for (const o of ops) {
    state = apply(state, o.input).next;
    const kv = state.kvs.get(current.key);
    if (kv !== undefined && kv.modRevision !== current.modRevision) older = kv;
  }
  return older;
}

describe("the per-key layer", () => {
  it("is a relaxation of the full model: whatever it rejects, the full model rejects", () => {
    const arb = fc.record({
      specs: fc.array(specArb(SINGLE_KEY_KINDS, 4, 15), { minLength: 1, maxLength: 30 }),
      pick: fc.nat(),
      mutation: fc.constantFrom("revision+1", "revision-1", "value", "version", "succeeded", "none"),
    });
    let rejected = 0;
    fc.assert(
      fc.property(arb, ({ specs, pick, mutation }) => {
        const { operations } = buildHistory(specs, { keys: KEYS });
        const known = operations.map((o, i) => [o, i] as const).filter(([o]) => o.output !== undefined && o.output.type !== "error");
        const ops = [...operations];
        const hit = known[pick % Math.max(1, known.length)];
        if (hit !== undefined && mutation !== "none") {
          const [o, i] = hit;
          ops[i] = { ...o, output: mutateAny(o.output as Exclude<Result, { type: "error" }>, mutation) };
        }
        const perKey = checkKv(ops, { full: false, maxSteps: 2_000_000 });
        const full = checkKv(ops, { perKey: false, maxSteps: 2_000_000 });
        expect(perKey.perKey).not.toBe("skipped");
        if (perKey.verdict === "illegal") {
          rejected++;
          expect(full.verdict).toBe("illegal");
        }
        if (mutation === "none") expect(perKey.verdict).toBe("ok");
      }),
      { numRuns: 2 * RUNS },
    );
    expect(rejected).toBeGreaterThan(0);
  });
});

/** mutateAny changes one recorded field of an answer. */
function mutateAny(out: Exclude<Result, { type: "error" }>, mutation: string): Result {
  switch (mutation) {
    case "revision+1":
      return { ...out, revision: out.revision + 1 };
    case "revision-1":
      return { ...out, revision: out.revision - 1 };
    case "value":
      if (out.type === "range" && out.kvs[0] !== undefined) return { ...out, kvs: [{ ...out.kvs[0], value: "other" }] };
      if (out.type === "put" && out.prevKv !== undefined) return { ...out, prevKv: { ...out.prevKv, value: "other" } };
      return { ...out, revision: out.revision + 1 };
    case "version":
      if (out.type === "range" && out.kvs[0] !== undefined) return { ...out, kvs: [{ ...out.kvs[0], version: out.kvs[0].version + 1 }] };
      return { ...out, revision: out.revision - 1 };
    case "succeeded":
      if (out.type === "txn") return { ...out, succeeded: !out.succeeded };
      return { ...out, revision: out.revision + 2 };
    default:
      return out;
  }
}

describe("a large history", () => {
  it("of 2,000 operations from 8 clients with a handful of unknown-outcome puts is accepted", () => {
    const rand = mulberry32(20240611);
    const specs = randomSpecs(rand, 2000, { clients: 8, keys: 8, kinds: ALL_KINDS, unknownRate: 0, maxWidth: 120 });
    for (const i of [100, 480, 900, 1333, 1700, 1950]) specs[i] = { ...(specs[i] as OpSpec), kind: "put", unknown: true, applied: i % 3 !== 0 };
    const { operations } = buildHistory(specs, { keys: ["a", "b", "c", "d", "e", "f", "g", "h"] });
    expect(operations.filter((o) => o.output === undefined)).toHaveLength(6);
    const started = performance.now();
    const r = checkKv(operations);
    const ms = performance.now() - started;
    console.log(`2,000-operation history: ${r.verdict} in ${ms.toFixed(0)} ms, ${r.steps} steps (per-key ${r.perKey}, full ${r.full})`);
    expect(r.verdict).toBe("ok");
    expect(r.full).toBe("ok");
  });

  it("of 2,000 single-key operations is checked by both layers", () => {
    const rand = mulberry32(7);
    const specs = randomSpecs(rand, 2000, { clients: 8, keys: 8, kinds: SINGLE_KEY_KINDS, unknownRate: 0.004, maxWidth: 120 });
    const { operations } = buildHistory(specs, { keys: ["a", "b", "c", "d", "e", "f", "g", "h"] });
    const started = performance.now();
    const r = checkKv(operations);
    console.log(`2,000 single-key operations: ${r.verdict} in ${(performance.now() - started).toFixed(0)} ms, ${r.steps} steps`);
    expect(r.perKey).toBe("ok");
    expect(r.full).toBe("ok");
  });
});
