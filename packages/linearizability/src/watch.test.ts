import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { History, Operation, WatchHistory, WatchResponse } from "./history.js";
import { checkWatch, type WatchViolationKind } from "./watch.js";
import {
  del,
  delEvent,
  delOk,
  grant,
  grantOk,
  kv,
  op,
  progress,
  put,
  putEvent,
  putOk,
  resp,
  revoke,
  revokeOk,
  txn,
  txnOk,
  watch,
} from "./testing/dsl.js";
import { buildWatch, eventsOf } from "./testing/events.js";
import { ALL_KINDS, buildHistory, type OpSpec } from "./testing/generate.js";

/** RUNS: fast-check runs per property (FC_RUNS raises it for a deeper local search). */
const RUNS = Number(process.env.FC_RUNS ?? 200);
const a1 = kv("a", "1", 2, 2, 1);
const b1 = kv("b", "1", 3, 3, 1);
const a2 = kv("a", "2", 2, 4, 2);
const a3 = kv("a", "3", 6, 6, 1);
const b2 = kv("b", "2", 3, 6, 2);

/** The base run: five writes, two watches that see all of them. */
const ops: Operation[] = [
  op(1, 0, 10, put("a", "1"), putOk(2)),
  op(1, 20, 30, put("b", "1"), putOk(3)),
  op(2, 40, 50, put("a", "2"), putOk(4)),
  op(2, 60, 70, del("a"), delOk(5, 1)),
  op(3, 80, 90, txn([], [put("a", "3"), put("b", "2")]), txnOk(6, true, [putOk(0), putOk(0)])),
];
const r2 = resp(11, 2, [putEvent(a1)]);
const r3 = resp(31, 3, [putEvent(b1)]);
const r4 = resp(51, 4, [putEvent(a2, a1)]);
const r5 = resp(71, 5, [delEvent("a", 5, a2)]);
const r6 = resp(91, 6, [putEvent(a3), putEvent(b2, b1)]);
/** w1 watches every key from revision 1 with prevKv. */
const w1 = watch(1, -5, { key: "a", end: "\0", startRevision: 1, prevKv: true }, [r2, r3, r4, r5, r6, progress(100, 6)]);
/** w2 watches key "a" from now, without prevKv. */
const noPrev = (r: WatchResponse): WatchResponse => ({ ...r, events: r.events.filter((e) => e.kv.key === "a").map(({ prevKv: _p, ...e }) => e) });
const w2 = watch(2, -5, { key: "a" }, [noPrev(r2), noPrev(r4), noPrev(r5), noPrev(r6), progress(100, 6)]);

function kinds(h: History): WatchViolationKind[] {
  return [...new Set(checkWatch(h).violations.map((v) => v.kind))].sort();
}

function with2(responses: WatchResponse[], extra: Partial<WatchHistory> = {}): History {
  return { operations: ops, watches: [w1, { ...w2, responses, ...extra }] };
}

describe("checkWatch on hand-written runs", () => {
  it("accepts watches that deliver every event once, in order, matching the writes", () => {
    const r = checkWatch({ operations: ops, watches: [w1, w2] });
    expect(r.violations).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.events.map((e) => `${e.revision}:${e.key}`)).toEqual(["2:a", "3:b", "4:a", "5:a", "6:a", "6:b"]);
  });

  it("reports a duplicated event", () => {
    const r = checkWatch(with2([noPrev(r2), noPrev(r4), noPrev(r4), noPrev(r5), noPrev(r6)]));
    expect(r.violations.some((v) => v.kind === "unique" && v.watcher === 2 && v.revision === 4 && v.key === "a")).toBe(true);
  });

  it("reports a missing event (a gap)", () => {
    const r = checkWatch(with2([noPrev(r2), noPrev(r5), noPrev(r6), progress(100, 6)]));
    expect(r.violations).toEqual([expect.objectContaining({ kind: "reliable", watcher: 2, revision: 4, key: "a" })]);
  });

  it("reports a known write a covering watch never delivered, though no watcher saw it", () => {
    const h: History = { operations: ops, watches: [{ ...w1, responses: [r2, r4, r5, r6, progress(100, 6)] }] };
    const v = checkWatch(h).violations;
    expect(v).toContainEqual(expect.objectContaining({ kind: "reliable", watcher: 1, revision: 3, key: "b" }));
    // and so the first event of "b" it did see is not a create
    expect(v).toContainEqual(expect.objectContaining({ kind: "mismatch", revision: 6, key: "b" }));
    expect(v).toHaveLength(2);
  });

  it("reports an event out of order", () => {
    expect(kinds(with2([noPrev(r4), noPrev(r2), noPrev(r5), noPrev(r6), progress(100, 6)]))).toContain("ordered");
  });

  it("reports an event older than a progress notify it follows, and a progress notify behind an event", () => {
    expect(kinds(with2([noPrev(r2), noPrev(r4), progress(60, 5), noPrev(r5), noPrev(r6)]))).toContain("bookmarkable");
    expect(kinds(with2([noPrev(r2), noPrev(r4), progress(60, 3), noPrev(r5), noPrev(r6)]))).toEqual(["bookmarkable"]);
  });

  it("reports an event whose value no put wrote", () => {
    const bogus = resp(51, 4, [putEvent(kv("a", "zzz", 2, 4, 2))]);
    const r = checkWatch({ operations: ops, watches: [{ ...w2, responses: [noPrev(r2), bogus, noPrev(r5), noPrev(r6), progress(100, 6)] }] });
    expect(r.violations.map((v) => v.kind)).toContain("unwritten");
  });

  it("reports two watchers that disagree on one revision", () => {
    const other = resp(51, 4, [putEvent(kv("a", "2", 2, 4, 3))]);
    expect(kinds(with2([noPrev(r2), other, noPrev(r5), noPrev(r6), progress(100, 6)]))).toContain("conflict");
  });

  it("reports a revision split over two responses", () => {
    const split = [r2, r3, r4, r5, resp(91, 6, [putEvent(a3)]), resp(92, 6, [putEvent(b2, b1)]), progress(100, 6)];
    expect(kinds({ operations: ops, watches: [{ ...w1, responses: split }, w2] })).toEqual(["atomic"]);
  });

  it("reports a response missing one event of a revision it delivers", () => {
    const partial = [r2, r3, r4, r5, resp(91, 6, [putEvent(a3)]), progress(100, 6)];
    expect(checkWatch({ operations: ops, watches: [{ ...w1, responses: partial }, w2] }).violations).toEqual([
      expect.objectContaining({ kind: "atomic", watcher: 1, revision: 6, key: "b" }),
    ]);
  });

  it("reports an event at a revision its write did not get", () => {
    const h: History = { operations: [op(1, 0, 10, put("a", "1"), putOk(2))], watches: [watch(1, -5, { key: "a" }, [resp(11, 3, [putEvent(kv("a", "1", 3, 3, 1))])])] };
    expect(checkWatch(h).violations.map((v) => v.kind)).toContain("mismatch");
  });

  it("reports a prevKv that is not the key's previous state", () => {
    const wrong = resp(51, 4, [putEvent(a2, kv("a", "0", 2, 2, 1))]);
    expect(kinds({ operations: ops, watches: [{ ...w1, responses: [r2, r3, wrong, r5, r6, progress(100, 6)] }] })).toContain("mismatch");
    const missing = resp(71, 5, [delEvent("a", 5)]);
    expect(kinds({ operations: ops, watches: [{ ...w1, responses: [r2, r3, r4, missing, r6, progress(100, 6)] }] })).toEqual(["mismatch"]);
  });

  it("reports a version that does not continue the key's previous event", () => {
    const skipped = resp(51, 4, [putEvent(kv("a", "2", 2, 4, 3))]);
    expect(kinds({ operations: ops, watches: [{ ...w2, responses: [noPrev(r2), skipped, noPrev(r5), noPrev(r6), progress(100, 6)] }] })).toEqual(["mismatch"]);
  });

  it("reports an event outside the watched range or below the start revision", () => {
    expect(kinds(with2([noPrev(r2), r3, noPrev(r4), noPrev(r5), noPrev(r6), progress(100, 6)]))).toEqual(["filter"]);
    expect(kinds(with2([noPrev(r2), noPrev(r4), noPrev(r5), noPrev(r6), progress(100, 6)], { request: { key: "a", startRevision: 3 } }))).toEqual(["filter"]);
  });

  it("accepts a delete event of a lease revoke", () => {
    const lops: Operation[] = [
      op(1, 0, 10, grant(7), grantOk(1)),
      op(1, 20, 30, put("a", "1", { lease: 7 }), putOk(2)),
      op(1, 40, 50, revoke(7), revokeOk(3)),
    ];
    const w = watch(1, -5, { key: "a", prevKv: true }, [
      resp(31, 2, [putEvent(kv("a", "1", 2, 2, 1, 7))]),
      resp(51, 3, [delEvent("a", 3, kv("a", "1", 2, 2, 1, 7))]),
      progress(60, 3),
    ]);
    expect(checkWatch({ operations: lops, watches: [w] }).violations).toEqual([]);
    const wrongLease = watch(1, -5, { key: "a", prevKv: true }, [
      resp(31, 2, [putEvent(kv("a", "1", 2, 2, 1, 7))]),
      resp(51, 3, [delEvent("a", 3, kv("a", "1", 2, 2, 1, 8))]),
    ]);
    expect(kinds({ operations: lops, watches: [wrongLease] })).toContain("mismatch");
  });
});

describe("resumed watches", () => {
  const first = { ...w2, responses: [noPrev(r2), noPrev(r4)] };
  const resumed = (start: number, responses: WatchResponse[]): WatchHistory =>
    watch(3, 55, { key: "a", startRevision: start }, responses, { client: 2, resumeOf: 2 });

  it("accept a resume right after the last revision received", () => {
    const h: History = { operations: ops, watches: [w1, first, resumed(5, [noPrev(r5), noPrev(r6), progress(100, 6)])] };
    expect(checkWatch(h).violations).toEqual([]);
  });

  it("report a resume that skips revisions", () => {
    const h: History = { operations: ops, watches: [w1, first, resumed(6, [noPrev(r6), progress(100, 6)])] };
    const v = checkWatch(h).violations;
    expect(v).toEqual([expect.objectContaining({ kind: "resumable", watcher: 3, revision: 5 })]);
    expect(v[0]?.message).toContain("lost events 5:a");
  });

  it("report a resume that repeats events", () => {
    const h: History = { operations: ops, watches: [w1, first, resumed(4, [noPrev(r4), noPrev(r5), noPrev(r6), progress(100, 6)])] };
    expect(checkWatch(h).violations).toEqual([expect.objectContaining({ kind: "resumable", watcher: 3, revision: 4, key: "a" })]);
  });

  it("report a resume from now", () => {
    const h: History = { operations: ops, watches: [w1, first, watch(3, 55, { key: "a" }, [noPrev(r6)], { resumeOf: 2 })] };
    expect(kinds(h)).toContain("resumable");
  });
});

describe("checkWatch on generated runs", () => {
  const KEYS = ["a", "b", "c", "d"];
  const specArb = fc.record({
    client: fc.integer({ min: 0, max: 3 }),
    kind: fc.constantFrom(...ALL_KINDS),
    key: fc.integer({ min: 0, max: 3 }),
    key2: fc.integer({ min: 0, max: 3 }),
    gap: fc.integer({ min: 1, max: 10 }),
    before: fc.integer({ min: 0, max: 30 }),
    after: fc.integer({ min: 0, max: 30 }),
    unknown: fc.integer({ min: 0, max: 99 }).map((n) => n < 10),
    applied: fc.boolean(),
    choice: fc.nat({ max: 1 << 20 }),
  }) as fc.Arbitrary<OpSpec>;

  /** run builds a generated history and watches a correct etcd would feed. */
  const run = (specs: OpSpec[], createdAt: number, delays: number[]): History => {
    const { operations, pointOf } = buildHistory(specs, { keys: KEYS });
    const revs = eventsOf(operations, pointOf);
    const end = Math.max(0, ...pointOf.filter((p) => p !== Infinity)) + 1000;
    const watches = [
      buildWatch(revs, { watcher: 1, client: 10, key: "a", end: "\0", startRevision: 1, prevKv: true, created: -1, delay: delays[0] ?? 1, progressAt: end }),
      buildWatch(revs, { watcher: 2, client: 11, key: "a", end: "\0", startRevision: 1, created: -1, delay: delays[1] ?? 2, progressAt: end }),
      buildWatch(revs, { watcher: 3, client: 12, key: "b", created: createdAt, delay: delays[2] ?? 3, progressAt: end }),
      buildWatch(revs, { watcher: 4, client: 13, key: "b", end: "d", prevKv: true, created: createdAt, delay: delays[3] ?? 1, progressAt: end }),
    ];
    return { operations, watches };
  };
  const arb = fc.record({
    specs: fc.array(specArb, { minLength: 1, maxLength: 60 }),
    createdAt: fc.integer({ min: 0, max: 300 }),
    delays: fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 4, maxLength: 4 }),
  });

  it("accepts what a correct etcd delivers", () => {
    fc.assert(
      fc.property(arb, ({ specs, createdAt, delays }) => {
        const h = run(specs, createdAt, delays);
        expect(checkWatch(h).violations).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it("reports a dropped, a duplicated or a reordered event", () => {
    fc.assert(
      fc.property(arb, fc.nat(), fc.constantFrom("drop", "duplicate", "swap"), ({ specs, createdAt, delays }, pick, mutation) => {
        const h = run(specs, createdAt, delays);
        const w = h.watches[0] as WatchHistory;
        const withEvents = w.responses.map((r, i) => [r, i] as const).filter(([r]) => r.events.length > 0);
        fc.pre(withEvents.length >= 2);
        const [target, at] = withEvents[pick % withEvents.length] as readonly [WatchResponse, number];
        let responses = [...w.responses];
        if (mutation === "drop") responses.splice(at, 1);
        if (mutation === "duplicate") responses.splice(at + 1, 0, target);
        if (mutation === "swap") {
          const [other, j] = withEvents[(pick + 1) % withEvents.length] as readonly [WatchResponse, number];
          responses = responses.map((r, i) => (i === at ? other : i === j ? target : r));
        }
        const expected = { drop: "reliable", duplicate: "unique", swap: "ordered" }[mutation];
        const found = checkWatch({ ...h, watches: [{ ...w, responses }, ...h.watches.slice(1)] }).violations.map((v) => v.kind);
        expect(found).toContain(expected);
      }),
      { numRuns: RUNS },
    );
  });
});
