import { describe, expect, it } from "vitest";
import { Watcher, WatcherGroup, type WatcherOwner } from "./watcher_group.js";
import { mulberry32 } from "./testing/watch.js";

const owner: WatcherOwner = {
  room: () => Infinity,
  byteBudget: () => 0,
  push: () => undefined,
  dropWatcher: () => undefined,
};

let nextId = 0n;
function watcher(key: string, end: string | undefined): Watcher {
  const e = end === undefined ? undefined : Buffer.from(end, "latin1");
  return new Watcher(nextId++, Buffer.from(key, "latin1"), e, 0n, { prevKv: false, noPut: false, noDelete: false }, owner);
}

function holds(w: Watcher, key: Buffer): boolean {
  if (w.end === undefined) return w.key.equals(key);
  return Buffer.compare(w.key, key) <= 0 && (w.end.length === 0 || Buffer.compare(key, w.end) < 0);
}

describe("WatcherGroup", () => {
  it("matches single keys, ranges and open ranges", () => {
    const g = new WatcherGroup();
    const a = watcher("a", undefined);
    const ab = watcher("a", "b");
    const fromB = watcher("b", "");
    const bc = watcher("b", "c");
    for (const w of [a, ab, fromB, bc]) g.add(w);
    const match = (k: string): bigint[] => {
      const out: Watcher[] = [];
      g.match(Buffer.from(k), out);
      return out.map((w) => w.id).sort();
    };
    expect(match("a")).toEqual([a.id, ab.id].sort());
    expect(match("a\0")).toEqual([ab.id]);
    expect(match("b")).toEqual([fromB.id, bc.id].sort());
    expect(match("zz")).toEqual([fromB.id]);
    expect(match("0")).toEqual([]);
    expect(g.contains(Buffer.from("0"))).toBe(false);
    expect(g.contains(Buffer.from("c"))).toBe(true);
    expect(g.delete(fromB)).toBe(true);
    expect(g.delete(fromB)).toBe(false);
    expect(match("zz")).toEqual([]);
    expect(g.contains(Buffer.from("c"))).toBe(false);
    expect(g.size).toBe(3);
  });

  it("keeps the range index balanced for ascending and descending inserts", () => {
    for (const order of [1, -1]) {
      const g = new WatcherGroup();
      const ws: Watcher[] = [];
      for (let i = 0; i < 1024; i++) {
        const n = order === 1 ? i : 1023 - i;
        const k = `k${String(n).padStart(4, "0")}`;
        const w = watcher(k, `${k}\xff`);
        g.add(w);
        ws.push(w);
      }
      // An AVL tree of 1024 nodes is at most 1.44 * log2(1026) high.
      expect(g.rangeTreeHeight).toBeLessThanOrEqual(14);
      for (let i = 0; i < 1024; i += 2) g.delete(ws[i]!);
      expect(g.rangeTreeHeight).toBeLessThanOrEqual(13);
      const out: Watcher[] = [];
      const kept = ws[513]!.key;
      g.match(kept, out);
      expect(out).toEqual([ws[513]]);
      out.length = 0;
      g.match(ws[512]!.key, out);
      expect(out).toEqual([]);
    }
  });

  it("agrees with a scan of all watchers under random adds and deletes", () => {
    const rand = mulberry32(11);
    const alphabet = "abcdefgh";
    const rkey = (): string => {
      let s = "";
      const n = 1 + Math.floor(rand() * 3);
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      return s;
    };
    const g = new WatcherGroup();
    const live: Watcher[] = [];
    for (let step = 0; step < 4000; step++) {
      if (live.length > 0 && rand() < 0.4) {
        const i = Math.floor(rand() * live.length);
        const [w] = live.splice(i, 1);
        expect(g.delete(w!)).toBe(true);
      } else {
        const k = rkey();
        const r = rand();
        let end: string | undefined;
        if (r < 0.3) end = undefined;
        else if (r < 0.32) end = "";
        else {
          end = rkey();
          if (end <= k) end = k + "\xff";
        }
        const w = watcher(k, end);
        g.add(w);
        live.push(w);
      }
      if (step % 4 === 0) {
        for (let q = 0; q < 8; q++) {
          const key = Buffer.from(rkey(), "latin1");
          const out: Watcher[] = [];
          g.match(key, out);
          const want = live.filter((w) => holds(w, key)).map((w) => w.id).sort();
          expect(out.map((w) => w.id).sort()).toEqual(want);
          expect(g.contains(key)).toBe(want.length > 0);
        }
      }
    }
    expect(g.size).toBe(live.length);
  });
});
