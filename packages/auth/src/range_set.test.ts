import { describe, expect, it } from "vitest";
import { RangeSet } from "./range_set.js";

const b = (s: string): Buffer => Buffer.from(s);
const point = (k: string): [Buffer, Buffer] => [b(k), Buffer.concat([b(k), Buffer.from([0])])];

describe("RangeSet", () => {
  it("holds a point permission's key and nothing around it", () => {
    const s = new RangeSet();
    s.add(...point("foo"));
    expect(s.containsKey(b("foo"))).toBe(true);
    expect(s.containsKey(b("fo"))).toBe(false);
    expect(s.containsKey(b("foo\x00"))).toBe(false);
    expect(s.covers(b("foo"), b("foo\x00"))).toBe(true);
    expect(s.covers(b("foo"), b("fop"))).toBe(false);
  });

  it("covers a range only when the union of its intervals holds every key of it, adjacent ones joined", () => {
    const s = new RangeSet();
    s.add(b("a"), b("c"));
    s.add(b("c"), b("e"));
    s.add(b("x"), b("z"));
    expect(s.size).toBe(2);
    expect(s.covers(b("a"), b("e"))).toBe(true);
    expect(s.covers(b("b"), b("d"))).toBe(true);
    expect(s.covers(b("b"), b("f"))).toBe(false);
    expect(s.covers(b("d"), b("y"))).toBe(false);
    expect(s.covers(b("0"), b("b"))).toBe(false);
    expect(s.containsKey(b("e"))).toBe(false);
    expect(s.containsKey(b("dzzz"))).toBe(true);
  });

  it("merges overlapping intervals in any insertion order", () => {
    const s = new RangeSet();
    s.add(b("m"), b("p"));
    s.add(b("a"), b("b"));
    s.add(b("k"), b("n"));
    s.add(b("o"), b("r"));
    expect(s.size).toBe(2);
    expect(s.covers(b("k"), b("r"))).toBe(true);
    expect(s.covers(b("a"), b("r"))).toBe(false);
  });

  it("treats an open end as every key from the start on", () => {
    const s = new RangeSet();
    s.add(b("k"), undefined);
    s.add(b("a"), b("c"));
    expect(s.covers(b("k"), undefined)).toBe(true);
    expect(s.covers(b("l"), undefined)).toBe(true);
    expect(s.covers(b("j"), undefined)).toBe(false);
    expect(s.covers(b("l"), b("\xff\xff"))).toBe(true);
    expect(s.containsKey(b("zzz"))).toBe(true);
    s.add(b("c"), b("k"));
    expect(s.size).toBe(1);
    expect(s.covers(b("a"), undefined)).toBe(true);
  });

  it("matches nothing for an empty start or an empty interval, as etcd's byte intervals do", () => {
    const s = new RangeSet();
    s.add(b(""), undefined);
    s.add(b("q"), b("q"));
    s.add(b("z"), b("y"));
    expect(s.size).toBe(0);
    s.add(b("a"), undefined);
    expect(s.containsKey(b(""))).toBe(false);
    expect(s.covers(b(""), undefined)).toBe(false);
  });

  it("agrees with a brute-force check over random intervals on a small alphabet", () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
    for (let round = 0; round < 200; round++) {
      const s = new RangeSet();
      const ivs: [string, string | undefined][] = [];
      for (let i = 0; i < 1 + rnd(4); i++) {
        const x = rnd(8);
        const y = rnd(9);
        const iv: [string, string | undefined] = [keys[x] as string, y === 8 ? undefined : (keys[y] as string)];
        ivs.push(iv);
        s.add(b(iv[0]), iv[1] === undefined ? undefined : b(iv[1]));
      }
      const inSome = (k: string): boolean => ivs.some(([x, y]) => k >= x && (y === undefined || k < y));
      for (const k of keys) expect(s.containsKey(b(k))).toBe(inSome(k));
      for (let x = 0; x < 8; x++) {
        for (let y = x + 1; y < 8; y++) {
          // Endpoints are single letters, so an interval holding letter k holds every string from k up to the next letter.
          expect(s.covers(b(keys[x] as string), b(keys[y] as string))).toBe(keys.slice(x, y).every(inSome));
        }
      }
    }
  });
});
