import { describe, expect, it } from "vitest";
import { compareBytes, own } from "./bytes.js";

describe("compareBytes", () => {
  it("orders like Buffer.compare: random keys, shared prefixes, high bytes, empty and long keys", () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const make = (): Buffer => {
      const len = [0, 1, 2, 8, 47, 48, 49, 100][rnd(8)] as number;
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = [0, 1, 0x7f, 0x80, 0xff][rnd(5)] as number;
      return b;
    };
    for (let i = 0; i < 20_000; i++) {
      const a = make();
      // Half of the pairs share a prefix: b is a copy of a, cut or extended or with one byte changed.
      let b = make();
      if (rnd(2) === 0) {
        b = Buffer.from(a);
        if (b.length > 0 && rnd(2) === 0) b[rnd(b.length)] = rnd(256);
        else b = rnd(2) === 0 ? b.subarray(0, rnd(b.length + 1)) : Buffer.concat([b, Buffer.from([rnd(256)])]);
      }
      expect(compareBytes(a, b), `${a.toString("hex")} vs ${b.toString("hex")}`).toBe(Buffer.compare(a, b));
    }
  });
});

describe("own", () => {
  it("returns a buffer that is the whole of its memory as is", () => {
    const b = Buffer.allocUnsafeSlow(300).fill(1);
    expect(own(b)).toBe(b);
  });
  it("copies a view into a larger buffer into memory of its own", () => {
    const big = Buffer.alloc(64 * 1024, 3);
    const view = big.subarray(100, 356);
    const o = own(view);
    expect(o).not.toBe(view);
    expect(o.equals(view)).toBe(true);
    expect(o.byteOffset).toBe(0);
    expect(o.buffer.byteLength).toBe(256);
    big.fill(0);
    expect(o.equals(Buffer.alloc(256, 3))).toBe(true);
  });
  it("copies a pooled small buffer (a view into an 8 KiB slab) too", () => {
    const pooled = Buffer.from("key-1");
    expect(own(pooled).buffer.byteLength).toBe(5);
  });
  it("maps an empty buffer to a shared empty one", () => {
    expect(own(Buffer.alloc(0)).length).toBe(0);
    expect(own(Buffer.alloc(10).subarray(3, 3)).buffer.byteLength).toBe(0);
  });
});
