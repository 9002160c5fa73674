import { describe, expect, it } from "vitest";
import { ErrCompacted } from "./errors.js";
import { RaftLog } from "./log.js";
import { Unstable } from "./log_unstable.js";
import { MemoryStorage } from "./storage.js";
import { newEntry, noLimit } from "./util.js";

function ent(index: bigint, term: bigint) {
  return newEntry({ index, term });
}

function ents(...terms: number[]): ReturnType<typeof ent>[] {
  return terms.map((t, i) => ent(BigInt(i + 1), BigInt(t)));
}

/** logWith returns a log holding `stored` in storage and `unstable` appended after. */
function logWith(stored: ReturnType<typeof ent>[], unstable: ReturnType<typeof ent>[] = []): RaftLog {
  const s = new MemoryStorage();
  s.append(stored);
  const l = new RaftLog(s);
  l.append(unstable);
  return l;
}

describe("RaftLog", () => {
  it("findConflict returns the first mismatching or new index, 0 if all present", () => {
    const l = logWith([], ents(1, 2, 3));
    expect(l.findConflict([])).toBe(0n);
    expect(l.findConflict([ent(1n, 1n), ent(2n, 2n), ent(3n, 3n)])).toBe(0n);
    expect(l.findConflict([ent(2n, 2n), ent(3n, 3n)])).toBe(0n);
    expect(l.findConflict([ent(2n, 2n), ent(3n, 3n), ent(4n, 4n)])).toBe(4n);
    expect(l.findConflict([ent(4n, 4n), ent(5n, 4n)])).toBe(4n);
    expect(l.findConflict([ent(1n, 4n), ent(2n, 4n)])).toBe(1n);
    expect(l.findConflict([ent(3n, 4n), ent(4n, 4n)])).toBe(3n);
  });

  it("maybeAppend: mismatch, duplicates, truncation, commit bounded by last new index", () => {
    const cases: {
      index: bigint; logTerm: bigint; committed: bigint; ents: ReturnType<typeof ent>[];
      want: bigint | undefined; commit: bigint; last: bigint;
    }[] = [
      // previous entry does not match
      { index: 3n, logTerm: 2n, committed: 3n, ents: [ent(4n, 4n)], want: undefined, commit: 1n, last: 3n },
      { index: 4n, logTerm: 3n, committed: 3n, ents: [ent(5n, 4n)], want: undefined, commit: 1n, last: 3n },
      // match, nothing new
      { index: 3n, logTerm: 3n, committed: 3n, ents: [], want: 3n, commit: 3n, last: 3n },
      // commit is capped at the last new entry
      { index: 1n, logTerm: 1n, committed: 3n, ents: [], want: 1n, commit: 1n, last: 3n },
      // append new entries
      { index: 3n, logTerm: 3n, committed: 4n, ents: [ent(4n, 4n)], want: 4n, commit: 4n, last: 4n },
      { index: 3n, logTerm: 3n, committed: 5n, ents: [ent(4n, 4n), ent(5n, 4n)], want: 5n, commit: 5n, last: 5n },
      // conflict after committed: truncate and replace
      { index: 1n, logTerm: 1n, committed: 3n, ents: [ent(2n, 4n)], want: 2n, commit: 2n, last: 2n },
      { index: 2n, logTerm: 2n, committed: 3n, ents: [ent(3n, 4n), ent(4n, 4n)], want: 4n, commit: 3n, last: 4n },
    ];
    for (const c of cases) {
      const l = logWith([], ents(1, 2, 3));
      l.committed = 1n;
      expect(l.maybeAppend(c.index, c.logTerm, c.committed, c.ents)).toBe(c.want);
      expect(l.committed).toBe(c.commit);
      expect(l.lastIndex()).toBe(c.last);
    }
  });

  it("maybeAppend refuses to overwrite committed entries", () => {
    const l = logWith([], ents(1, 2, 3));
    l.committed = 2n;
    expect(() => l.maybeAppend(1n, 1n, 3n, [ent(2n, 4n)])).toThrow(/conflicts with committed/);
  });

  it("commitTo never decreases and never passes the last index", () => {
    const l = logWith([], ents(1, 2, 3));
    l.commitTo(2n);
    l.commitTo(1n);
    expect(l.committed).toBe(2n);
    expect(() => l.commitTo(4n)).toThrow(/out of range/);
  });

  it("appliedTo stays within [applied, committed]", () => {
    const l = logWith(ents(1, 2, 3));
    l.commitTo(2n);
    l.appliedTo(2n);
    expect(l.applied).toBe(2n);
    expect(() => l.appliedTo(3n)).toThrow(/out of range/);
    expect(() => l.appliedTo(1n)).toThrow(/out of range/);
  });

  it("nextEnts spans storage and unstable entries up to committed", () => {
    const l = logWith(ents(1, 1), [ent(3n, 2n), ent(4n, 2n)]);
    expect(l.hasNextEnts()).toBe(false);
    l.commitTo(3n);
    expect(l.nextEnts().map((e) => e.index)).toEqual([1n, 2n, 3n]);
    l.appliedTo(2n);
    expect(l.nextEnts().map((e) => e.index)).toEqual([3n]);
    l.appliedTo(3n);
    expect(l.hasNextEnts()).toBe(false);
  });

  it("maybeCommit commits only entries of the given term", () => {
    const l = logWith([], ents(1, 1, 2));
    expect(l.maybeCommit(2n, 2n)).toBe(false);
    expect(l.committed).toBe(0n);
    expect(l.maybeCommit(3n, 2n)).toBe(true);
    expect(l.committed).toBe(3n);
  });

  it("isUpToDate compares last term, then length", () => {
    const l = logWith([], ents(1, 2, 3));
    expect(l.isUpToDate(2n, 4n)).toBe(true);
    expect(l.isUpToDate(5n, 2n)).toBe(false);
    expect(l.isUpToDate(3n, 3n)).toBe(true);
    expect(l.isUpToDate(2n, 3n)).toBe(false);
    expect(l.isUpToDate(4n, 3n)).toBe(true);
  });

  it("findConflictByTerm skips whole terms", () => {
    const l = logWith([], ents(1, 1, 2, 2, 5, 5, 5));
    expect(l.findConflictByTerm(7n, 4n)).toEqual({ index: 4n, term: 2n });
    expect(l.findConflictByTerm(7n, 5n)).toEqual({ index: 7n, term: 5n });
    expect(l.findConflictByTerm(4n, 1n)).toEqual({ index: 2n, term: 1n });
    expect(l.findConflictByTerm(7n, 0n)).toEqual({ index: 0n, term: 0n });
    expect(l.findConflictByTerm(9n, 3n)).toEqual({ index: 9n, term: 0n });
  });

  it("term is 0 outside the log, throws ErrCompacted for compacted entries via slice", () => {
    const s = new MemoryStorage();
    s.append(ents(1, 2, 3, 4, 5));
    s.createSnapshot(3n, undefined, Buffer.alloc(0));
    s.compact(3n);
    const l = new RaftLog(s);
    expect(l.committed).toBe(3n);
    expect(l.term(3n)).toBe(3n);
    expect(l.term(2n)).toBe(0n);
    expect(l.term(6n)).toBe(0n);
    expect(() => l.entries(2n, noLimit)).toThrow(ErrCompacted);
    expect(l.entries(4n, noLimit).map((e) => e.index)).toEqual([4n, 5n]);
  });

  it("stableTo moves entries out of unstable only if the term still matches", () => {
    const l = logWith([], ents(1, 1, 1));
    l.stableTo(2n, 2n); // stale: term mismatch
    expect(l.unstableEntries()).toHaveLength(3);
    l.stableTo(2n, 1n);
    expect(l.unstableEntries().map((e) => e.index)).toEqual([3n]);
  });

  it("restore resets to a snapshot", () => {
    const l = logWith([], ents(1, 1, 1));
    l.restore({ data: Buffer.alloc(0), metadata: { index: 10n, term: 4n, confState: undefined } });
    expect(l.committed).toBe(10n);
    expect(l.firstIndex()).toBe(11n);
    expect(l.lastIndex()).toBe(10n);
    expect(l.term(10n)).toBe(4n);
    expect(l.unstableEntries()).toHaveLength(0);
  });
});

describe("Unstable", () => {
  it("truncateAndAppend appends, replaces, or truncates in the middle", () => {
    const u = new Unstable(5n);
    u.entries = [ent(5n, 1n), ent(6n, 1n)];
    u.truncateAndAppend([ent(7n, 1n)]);
    expect(u.entries.map((e) => e.index)).toEqual([5n, 6n, 7n]);
    u.truncateAndAppend([ent(6n, 2n)]);
    expect(u.entries.map((e) => [e.index, e.term])).toEqual([[5n, 1n], [6n, 2n]]);
    u.truncateAndAppend([ent(4n, 3n)]);
    expect(u.offset).toBe(4n);
    expect(u.entries.map((e) => [e.index, e.term])).toEqual([[4n, 3n]]);
  });

  it("maybeTerm knows the snapshot position and unstable entries", () => {
    const u = new Unstable(6n);
    u.snapshot = { data: Buffer.alloc(0), metadata: { index: 5n, term: 2n, confState: undefined } };
    u.entries = [ent(6n, 3n)];
    expect(u.maybeTerm(5n)).toBe(2n);
    expect(u.maybeTerm(6n)).toBe(3n);
    expect(u.maybeTerm(4n)).toBeUndefined();
    expect(u.maybeTerm(7n)).toBeUndefined();
    expect(u.maybeFirstIndex()).toBe(6n);
    expect(u.maybeLastIndex()).toBe(6n);
    u.stableSnapTo(5n);
    expect(u.snapshot).toBeUndefined();
  });
});
