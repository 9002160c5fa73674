import { describe, expect, it } from "vitest";
import { KeyIndex } from "./key_index.js";
import type { Revision } from "./revision.js";

const r = (main: number, sub = 0): Revision => ({ main: BigInt(main), sub });
const keyOf = (rev: Revision): string => `${rev.main}.${rev.sub}`;
const shape = (ki: KeyIndex): string[][] => ki.generations.map((g) => g.revs.map(keyOf));

/** fooIndex builds etcd's documented example: put 1, put 2, delete 3, put 4, delete 5. */
function fooIndex(): KeyIndex {
  const ki = new KeyIndex(Buffer.from("foo"));
  ki.put(r(1));
  ki.put(r(2));
  ki.tombstone(r(3));
  ki.put(r(4));
  ki.tombstone(r(5));
  return ki;
}

describe("KeyIndex", () => {
  it("groups revisions into generations closed by tombstones", () => {
    expect(shape(fooIndex())).toEqual([["1.0", "2.0", "3.0"], ["4.0", "5.0"], []]);
    expect(() => new KeyIndex(Buffer.from("x")).tombstone(r(1))).toThrow("mvcc: tombstone on a deleted key");
  });

  it("finds the revision visible at a main revision", () => {
    const ki = fooIndex();
    ki.put(r(7, 2));
    const at = (rev: number): string | undefined => {
      const got = ki.get(BigInt(rev));
      return got && keyOf(got);
    };
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map(at)).toEqual([undefined, "1.0", "2.0", undefined, "4.0", undefined, undefined, "7.2", "7.2"]);
  });

  it("compacts like etcd's keyIndex", () => {
    const cases: Array<[number, string[][], string[]]> = [
      [1, [["1.0", "2.0", "3.0"], ["4.0", "5.0"], []], ["1.0"]],
      [2, [["2.0", "3.0"], ["4.0", "5.0"], []], ["2.0"]],
      [3, [["4.0", "5.0"], []], []],
      [4, [["4.0", "5.0"], []], ["4.0"]],
      [5, [[]], []],
      [6, [[]], []],
    ];
    for (const [atRev, generations, available] of cases) {
      const ki = fooIndex();
      const kept = new Set<string>();
      ki.compact(BigInt(atRev), kept, keyOf);
      expect(shape(ki)).toEqual(generations);
      expect([...kept]).toEqual(available);
      expect(ki.isEmpty()).toBe(atRev >= 5);
      const keep = new Set<string>();
      fooIndex().keep(BigInt(atRev), keep, keyOf);
      expect([...keep]).toEqual(available);
    }
  });

  it("compacts an open generation down to its newest revision at the compaction point", () => {
    const ki = new KeyIndex(Buffer.from("k"));
    for (const main of [2, 4, 6, 8]) ki.put(r(main));
    const kept = new Set<string>();
    ki.compact(7n, kept, keyOf);
    expect(shape(ki)).toEqual([["6.0", "8.0"]]);
    expect([...kept]).toEqual(["6.0"]);
    expect(ki.get(7n)).toEqual(r(6));
    expect(ki.get(5n)).toBeUndefined();
  });
});
