import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkKv } from "./check_kv.js";
import type { History, Operation } from "./history.js";
import { patchHistory } from "./patch_history.js";
import { checkWatch } from "./watch.js";
import { del, get, kv, op, progress, put, putEvent, putOk, rangeOk, resp, txn, unknown, watch } from "./testing/dsl.js";
import { buildWatch, eventsOf } from "./testing/events.js";
import { ALL_KINDS, buildHistory, type OpSpec } from "./testing/generate.js";

const RUNS = Number(process.env.FC_RUNS ?? 200);

const a1 = kv("a", "1", 2, 2, 1);
const a2 = kv("a", "2", 2, 3, 2);

describe("patchHistory", () => {
  it("resolves a put a watch saw: revision from the event, return time when the watcher got it", () => {
    const h: History = {
      operations: [op(1, 0, 10, put("a", "1"), putOk(2)), unknown(2, 20, put("a", "2"))],
      watches: [watch(1, -5, { key: "a" }, [resp(11, 2, [putEvent(a1)]), resp(40, 3, [putEvent(a2)]), progress(50, 3)])],
    };
    const p = patchHistory(h);
    expect(p.patch).toEqual({ resolved: [1], dropped: [] });
    expect(p.operations[1]).toEqual({ client: 2, call: 20, return: 40, input: put("a", "2"), output: putOk(3) });
  });

  it("sets the prevKv from a watch that asked for it, or only the revision when it is not known", () => {
    const ops = [op(1, 0, 10, put("a", "1"), putOk(2)), unknown(2, 20, put("a", "2", { prevKv: true }))];
    const withPrev = patchHistory({ operations: ops, watches: [watch(1, -5, { key: "a", prevKv: true }, [resp(40, 3, [putEvent(a2, a1)])])] });
    expect(withPrev.operations[1]?.output).toEqual(putOk(3, a1));
    const without = patchHistory({ operations: ops, watches: [watch(1, -5, { key: "a" }, [resp(40, 3, [putEvent(a2)])])] });
    expect(without.operations[1]?.output).toBeUndefined();
    expect(without.operations[1]?.persistedRevision).toBe(3);
    expect(without.operations[1]?.return).toBe(40);
  });

  it("resolves a put a read saw", () => {
    const h: History = {
      operations: [unknown(2, 0, put("a", "1")), op(1, 30, 35, get("a"), rangeOk(2, [a1]))],
      watches: [],
    };
    const p = patchHistory(h);
    expect(p.operations[0]).toEqual({ client: 2, call: 0, return: 35, input: put("a", "1"), output: putOk(2) });
  });

  it("drops a put never seen by a watch that covered its key to the end, and unknown reads", () => {
    const h: History = {
      operations: [op(1, 0, 10, put("a", "1"), putOk(2)), unknown(2, 20, put("a", "2")), unknown(3, 25, get("a")), op(1, 30, 40, put("b", "1"), putOk(3))],
      watches: [watch(1, -5, { key: "a", end: "\0" }, [resp(11, 2, [putEvent(a1)]), resp(41, 3, [putEvent(kv("b", "1", 3, 3, 1))]), progress(50, 3)])],
    };
    const p = patchHistory(h);
    expect(p.patch).toEqual({ resolved: [], dropped: [1, 2] });
    expect(p.operations).toHaveLength(2);
  });

  it("keeps a put never seen when no watch covered its key through the end of the run", () => {
    const ops: Operation[] = [op(1, 0, 10, put("a", "1"), putOk(2)), unknown(2, 20, put("a", "2")), op(1, 30, 40, put("b", "1"), putOk(3))];
    // The watch stopped at revision 2, below the run's last revision 3.
    const early = patchHistory({ operations: ops, watches: [watch(1, -5, { key: "a", end: "\0" }, [resp(11, 2, [putEvent(a1)])])] });
    expect(early.patch.dropped).toEqual([]);
    // The watch was created after the put was called.
    const late = patchHistory({ operations: ops, watches: [watch(1, 25, { key: "a", end: "\0" }, [resp(41, 3, [putEvent(kv("b", "1", 3, 3, 1))]), progress(50, 3)])] });
    expect(late.patch.dropped).toEqual([]);
    // The watch does not cover the key.
    const other = patchHistory({ operations: ops, watches: [watch(1, -5, { key: "b" }, [resp(41, 3, [putEvent(kv("b", "1", 3, 3, 1))]), progress(50, 3)])] });
    expect(other.patch.dropped).toEqual([]);
  });

  it("resolves a txn whose put was seen, and drops one whose every branch wrote nothing or an unseen put", () => {
    const seen = txn([{ key: "a", target: "version", result: "=", value: 1 }], [put("a", "2")], [get("a")]);
    const unseen = txn([{ key: "a", target: "version", result: "=", value: 1 }], [put("a", "3")], [get("a")]);
    const deleting = txn([{ key: "a", target: "version", result: "=", value: 1 }], [put("a", "4")], [del("a")]);
    const h: History = {
      operations: [op(1, 0, 10, put("a", "1"), putOk(2)), unknown(2, 20, seen), unknown(3, 21, unseen), unknown(4, 22, deleting)],
      watches: [watch(1, -5, { key: "a" }, [resp(11, 2, [putEvent(a1)]), resp(30, 3, [putEvent(a2)]), progress(50, 3)])],
    };
    const p = patchHistory(h);
    expect(p.patch).toEqual({ resolved: [1], dropped: [2] });
    expect(p.operations[1]).toMatchObject({ return: 30, persistedRevision: 3, output: undefined });
    expect(checkKv(p.operations).verdict).toBe("ok");
  });

  it("leaves a put seen before it was called for the checkers to report", () => {
    const h: History = {
      operations: [unknown(2, 20, put("a", "1"))],
      watches: [watch(1, -5, { key: "a" }, [resp(11, 2, [putEvent(a1)])])],
    };
    const p = patchHistory(h);
    expect(p.patch.resolved).toEqual([]);
    expect(checkWatch(p).violations.map((v) => v.kind)).toContain("mismatch");
  });
});

describe("patchHistory on generated runs", () => {
  const KEYS = ["a", "b", "c", "d"];
  const specArb = fc.record({
    client: fc.integer({ min: 0, max: 4 }),
    kind: fc.constantFrom(...ALL_KINDS),
    key: fc.integer({ min: 0, max: 3 }),
    key2: fc.integer({ min: 0, max: 3 }),
    gap: fc.integer({ min: 1, max: 10 }),
    before: fc.integer({ min: 0, max: 40 }),
    after: fc.integer({ min: 0, max: 40 }),
    unknown: fc.integer({ min: 0, max: 99 }).map((n) => n < 20),
    applied: fc.boolean(),
    choice: fc.nat({ max: 1 << 20 }),
  }) as fc.Arbitrary<OpSpec>;

  it("resolves or drops every unknown put, and the result still checks", () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 40 }), (specs, delay) => {
        const { operations, pointOf } = buildHistory(specs, { keys: KEYS });
        const revs = eventsOf(operations, pointOf);
        const end = Math.max(0, ...pointOf.filter((p) => p !== Infinity)) + 1000;
        const w = buildWatch(revs, { watcher: 1, client: 9, key: "a", end: "\0", startRevision: 1, prevKv: true, created: -1, delay, progressAt: end });
        const h: History = { operations, watches: [w] };
        const p = patchHistory(h);
        expect(p.operations.filter((o) => o.output === undefined && o.persistedRevision === undefined && o.input.type === "put")).toEqual([]);
        // Every unknown put that took effect is resolved at its real revision; every other one is dropped.
        const written = new Map<string, number>();
        for (const r of revs) for (const e of r.events) if (e.type === "put") written.set(`${e.kv.key}=${e.kv.value}`, r.revision);
        operations.forEach((o, i) => {
          if (o.output !== undefined || o.input.type !== "put") return;
          const rev = written.get(`${o.input.key}=${o.input.value}`);
          if (rev === undefined) expect(p.patch.dropped).toContain(i);
          else {
            expect(p.patch.resolved).toContain(i);
            const patched = p.operations.find((x) => x.input === o.input) as Operation;
            expect(patched.output?.type === "put" ? patched.output.revision : patched.persistedRevision).toBe(rev);
          }
        });
        expect(checkKv(p.operations, { maxSteps: 2_000_000 }).verdict).toBe("ok");
        expect(checkWatch(p).violations).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});
