import { describe, expect, it } from "vitest";
import { formatGoDuration, goQuote, parseGoDuration } from "./go_duration.js";

const S = 1_000_000_000n;

describe("parseGoDuration (Go's time.ParseDuration)", () => {
  it.each([
    ["0", 0n],
    ["-0", 0n],
    ["0s", 0n],
    ["1ns", 1n],
    ["1us", 1000n],
    ["1\u00b5s", 1000n],
    ["1\u03bcs", 1000n],
    ["1.5ms", 1_500_000n],
    ["30m", 1800n * S],
    ["1h", 3600n * S],
    ["72h", 72n * 3600n * S],
    ["1h30m", 5400n * S],
    ["1.5h", 5400n * S],
    [".5s", S / 2n],
    ["5.s", 5n * S],
    ["-1h", -3600n * S],
    ["+2m", 120n * S],
    ["1h2m3.5s", 3723n * S + S / 2n],
    ["9223372036854775807ns", (1n << 63n) - 1n],
    ["-9223372036854775808ns", -(1n << 63n)],
  ])("%s is %d ns", (text, ns) => {
    expect(parseGoDuration(text)).toBe(ns);
  });

  it.each([
    ["", 'time: invalid duration ""'],
    ["abc", 'time: invalid duration "abc"'],
    ["h", 'time: invalid duration "h"'],
    [".", 'time: invalid duration "."'],
    ["+", 'time: invalid duration "+"'],
    ["5", 'time: missing unit in duration "5"'],
    ["-5", 'time: missing unit in duration "-5"'],
    ["1.5", 'time: missing unit in duration "1.5"'],
    ["1h5", 'time: missing unit in duration "1h5"'],
    ["1d", 'time: unknown unit "d" in duration "1d"'],
    ["5 m", 'time: unknown unit " m" in duration "5 m"'],
    ["1\u00b5x", 'time: unknown unit "\\xc2\\xb5x" in duration "1\\xc2\\xb5x"'],
    ['1"x', 'time: unknown unit "\\"x" in duration "1\\"x"'],
    ["99999999999999999999", 'time: invalid duration "99999999999999999999"'],
    ["9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'],
    ["3000000h", 'time: invalid duration "3000000h"'],
  ])("%j fails with Go's message", (text, message) => {
    expect(() => parseGoDuration(text)).toThrow(message);
  });
});

describe("formatGoDuration (Go's time.Duration.String)", () => {
  it.each([
    [0n, "0s"],
    [1n, "1ns"],
    [10n, "10ns"],
    [999n, "999ns"],
    [1500n, "1.5\u00b5s"],
    [1_234_567n, "1.234567ms"],
    [S, "1s"],
    [90n * S, "1m30s"],
    [300n * S, "5m0s"],
    [360n * S, "6m0s"],
    [3600n * S, "1h0m0s"],
    [3723n * S + S / 2n, "1h2m3.5s"],
    [72n * 3600n * S, "72h0m0s"],
    [-300n * S, "-5m0s"],
  ])("%d ns prints as %s", (ns, text) => {
    expect(formatGoDuration(ns)).toBe(text);
  });
});

describe("goQuote (the time package's quote)", () => {
  it("escapes quotes and backslashes and writes non-ASCII bytes as \\xNN", () => {
    expect(goQuote("ab")).toBe('"ab"');
    expect(goQuote('a"b\\')).toBe('"a\\"b\\\\"');
    expect(goQuote("\u00b5\n")).toBe('"\\xc2\\xb5\\x0a"');
  });
});
