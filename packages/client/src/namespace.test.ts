import { describe, expect, it } from "vitest";
import { Namespace } from "./namespace.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

describe("Namespace", () => {
  it("prefixes keys and range ends, and maps the keyspace's end to the prefix's", () => {
    const ns = new Namespace("app/");
    expect(ns.key(b("k"))).toEqual(b("app/k"));
    expect(ns.rangeEnd(Buffer.alloc(0))).toEqual(Buffer.alloc(0));
    expect(ns.rangeEnd(b("z"))).toEqual(b("app/z"));
    expect(ns.rangeEnd(Buffer.from([0]))).toEqual(b("app0"));
    expect(ns.strip).toBe(4);
  });

  it("carries over 0xff bytes at the end of the prefix, and gives \\0 when all are 0xff", () => {
    expect(new Namespace(Buffer.from([0x61, 0xff, 0xff])).rangeEnd(Buffer.from([0]))).toEqual(Buffer.from([0x62, 0, 0]));
    expect(new Namespace(Buffer.from([0xff, 0xff])).rangeEnd(Buffer.from([0]))).toEqual(Buffer.from([0]));
  });

  it("nests, and an empty prefix changes nothing", () => {
    const inner = new Namespace("a/").nested("b/");
    expect(inner.key(b("k"))).toEqual(b("a/b/k"));
    const none = new Namespace("");
    const k = b("k");
    expect(none.key(k)).toBe(k);
    expect(none.rangeEnd(Buffer.from([0]))).toEqual(Buffer.from([0]));
  });
});
