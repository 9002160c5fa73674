import { describe, expect, it } from "vitest";
import { parseHexID } from "./hexid.js";

describe("parseHexID", () => {
  it("parses hex member IDs up to 2^64-1", () => {
    expect(parseHexID("8e9e05c52164694d")).toBe(0x8e9e05c52164694dn);
    expect(parseHexID("FFFFFFFFFFFFFFFF")).toBe((1n << 64n) - 1n);
    expect(parseHexID("0")).toBe(0n);
  });

  it("fails like Go's strconv.ParseUint(s, 16, 64)", () => {
    expect(() => parseHexID("zz")).toThrow('strconv.ParseUint: parsing "zz": invalid syntax');
    expect(() => parseHexID("0x10")).toThrow('strconv.ParseUint: parsing "0x10": invalid syntax');
    expect(() => parseHexID("")).toThrow('strconv.ParseUint: parsing "": invalid syntax');
    expect(() => parseHexID("-1")).toThrow("invalid syntax");
    expect(() => parseHexID("1ffffffffffffffff")).toThrow('strconv.ParseUint: parsing "1ffffffffffffffff": value out of range');
  });
});
