import { describe, expect, it } from "vitest";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable } from "./errors.js";
import { MemoryStorage } from "./storage.js";
import { entrySize, newEntry } from "./util.js";

function ent(index: bigint, term: bigint, data = "") {
  return newEntry({ index, term, data: Buffer.from(data) });
}

/** storageWith returns a storage whose snapshot is at (3, 3) holding entries 4..5. */
function storageWith(): MemoryStorage {
  const s = new MemoryStorage();
  s.append([ent(1n, 1n), ent(2n, 2n), ent(3n, 3n), ent(4n, 4n), ent(5n, 5n)]);
  s.createSnapshot(3n, undefined, Buffer.from("snap"));
  s.compact(3n);
  return s;
}

describe("MemoryStorage", () => {
  it("answers term for [snapshot index, last index] and throws outside", () => {
    const s = storageWith();
    expect(() => s.term(2n)).toThrow(ErrCompacted);
    expect(s.term(3n)).toBe(3n);
    expect(s.term(5n)).toBe(5n);
    expect(() => s.term(6n)).toThrow(ErrUnavailable);
    expect(s.firstIndex()).toBe(4n);
    expect(s.lastIndex()).toBe(5n);
  });

  it("returns entries [lo, hi), limited by size but at least one", () => {
    const s = storageWith();
    expect(() => s.entries(3n, 5n, Infinity)).toThrow(ErrCompacted);
    expect(s.entries(4n, 6n, Infinity).map((e) => e.index)).toEqual([4n, 5n]);
    expect(s.entries(4n, 6n, 0).map((e) => e.index)).toEqual([4n]);
    const one = entrySize(ent(4n, 4n));
    expect(s.entries(4n, 6n, one * 2).map((e) => e.index)).toEqual([4n, 5n]);
    expect(s.entries(4n, 6n, one * 2 - 1).map((e) => e.index)).toEqual([4n]);
  });

  it("append truncates conflicting tails and ignores compacted prefixes", () => {
    const s = storageWith();
    s.append([ent(3n, 3n), ent(4n, 6n), ent(5n, 6n)]);
    expect(s.entries(4n, 6n, Infinity).map((e) => e.term)).toEqual([6n, 6n]);
    s.append([ent(5n, 7n), ent(6n, 7n)]);
    expect(s.entries(4n, 7n, Infinity).map((e) => e.term)).toEqual([6n, 7n, 7n]);
    s.append([ent(7n, 7n)]);
    expect(s.lastIndex()).toBe(7n);
    expect(() => s.append([ent(9n, 7n)])).toThrow(/missing log entry/);
  });

  it("compact keeps the compaction point as the dummy entry", () => {
    const s = storageWith();
    expect(() => s.compact(3n)).toThrow(ErrCompacted);
    s.compact(4n);
    expect(s.firstIndex()).toBe(5n);
    expect(s.term(4n)).toBe(4n);
    expect(() => s.compact(6n)).toThrow(/out of bound/);
  });

  it("createSnapshot and applySnapshot reject snapshots that are not newer", () => {
    const s = storageWith();
    expect(() => s.createSnapshot(3n, undefined, Buffer.alloc(0))).toThrow(ErrSnapOutOfDate);
    const snap = s.createSnapshot(5n, { voters: [1n, 2n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, Buffer.from("x"));
    expect(snap.metadata).toMatchObject({ index: 5n, term: 5n });
    expect(s.initialState().confState.voters).toEqual([1n, 2n]);

    const t = new MemoryStorage();
    t.applySnapshot(snap);
    expect(t.firstIndex()).toBe(6n);
    expect(t.lastIndex()).toBe(5n);
    expect(t.term(5n)).toBe(5n);
    expect(() => t.applySnapshot(snap)).toThrow(ErrSnapOutOfDate);
    expect(() => t.entries(6n, 6n, Infinity)).toThrow(ErrUnavailable);
  });

  it("keeps the hard state", () => {
    const s = new MemoryStorage();
    s.setHardState({ term: 3n, vote: 2n, commit: 1n });
    expect(s.initialState().hardState).toEqual({ term: 3n, vote: 2n, commit: 1n });
  });
});
