import { describe, expect, it } from "vitest";
import { parseGoDuration } from "./go_duration.js";

const S = 1_000_000_000n;

describe("parseGoDuration", () => {
  it.each([
    ["0", 0n],
    ["+0", 0n],
    ["-0", 0n],
    ["0s", 0n],
    ["5m", 300n * S],
    ["1h30m", 5400n * S],
    ["1.5s", 1_500_000_000n],
    [".5s", 500_000_000n],
    ["1.s", S],
    ["300ms", 300_000_000n],
    ["1us", 1000n],
    ["1\u00b5s", 1000n],
    ["1\u03bcs", 1000n],
    ["7ns", 7n],
    ["-1m", -60n * S],
    ["+2h", 7200n * S],
    ["1h1m1s1ms1us1ns", 3661n * S + 1_001_001n],
    ["0.1h", 360n * S],
    ["1.0000000001s", 1_000_000_000n],
    // int64's bounds, as Go's own tests have them.
    ["2562047h47m16.854775807s", (1n << 63n) - 1n],
    ["-2562047h47m16.854775808s", -(1n << 63n)],
    ["9223372036854775807ns", (1n << 63n) - 1n],
    ["-9223372036854775808ns", -(1n << 63n)],
  ])("reads %j as Go does", (text, ns) => {
    expect(parseGoDuration(text)).toBe(ns);
  });

  it.each([
    ["", 'time: invalid duration ""'],
    ["forever", 'time: invalid duration "forever"'],
    ["-", 'time: invalid duration "-"'],
    [".", 'time: invalid duration "."'],
    ["-.s", 'time: invalid duration "-.s"'],
    ["1h-1m", 'time: unknown unit "h-" in duration "1h-1m"'],
    ["1", 'time: missing unit in duration "1"'],
    ["1h1", 'time: missing unit in duration "1h1"'],
    ["1x", 'time: unknown unit "x" in duration "1x"'],
    ["1S", 'time: unknown unit "S" in duration "1S"'],
    ["1 s", 'time: unknown unit " s" in duration "1 s"'],
    ["9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'],
    ["2562047h47m16.854775808s", 'time: invalid duration "2562047h47m16.854775808s"'],
    ["99999999999999999999s", 'time: invalid duration "99999999999999999999s"'],
    ["3000000h", 'time: invalid duration "3000000h"'],
  ])("refuses %j with Go's message", (text, message) => {
    expect(() => parseGoDuration(text)).toThrow(message);
  });
});
