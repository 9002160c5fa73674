import { describe, expect, it } from "vitest";
import { parseDuration } from "./duration.js";
import { Flag, FlagError, FlagSet, HelpRequested, parseBool, parseCSVLine, parseInt64 } from "./flags.js";

function set(): FlagSet {
  const fs = new FlagSet();
  fs.add(new Flag({ name: "prefix", kind: "bool", def: false, usage: "" }));
  fs.add(new Flag({ name: "limit", kind: "int64", def: 0n, usage: "" }));
  fs.add(new Flag({ name: "write-out", shorthand: "w", kind: "string", def: "simple", usage: "" }));
  fs.add(new Flag({ name: "interactive", shorthand: "i", kind: "bool", def: false, usage: "" }));
  fs.add(new Flag({ name: "endpoints", kind: "stringSlice", def: ["127.0.0.1:2379"], usage: "" }));
  fs.add(new Flag({ name: "dial-timeout", kind: "duration", def: 2e9, usage: "" }));
  return fs;
}

describe("FlagSet.parse (pflag rules)", () => {
  it("accepts --f=v, --f v, bools without values and interspersed args", () => {
    const fs = set();
    const args = fs.parse(["a", "--limit", "5", "--prefix", "b", "-w=json", "--dial-timeout=1m30s"]);
    expect(args).toEqual(["a", "b"]);
    expect(fs.lookup("limit")?.value).toBe(5n);
    expect(fs.lookup("prefix")?.value).toBe(true);
    expect(fs.lookup("write-out")?.value).toBe("json");
    expect(fs.lookup("dial-timeout")?.value).toBe(90e9);
  });

  it("parses shorthand clusters and attached values", () => {
    const fs = set();
    expect(fs.parse(["-iwfields", "x"])).toEqual(["x"]);
    expect(fs.lookup("interactive")?.value).toBe(true);
    expect(fs.lookup("write-out")?.value).toBe("fields");
  });

  it("stops at -- and keeps a lone dash", () => {
    const fs = set();
    expect(fs.parse(["-", "--", "--prefix", "-v"])).toEqual(["-", "--prefix", "-v"]);
    expect(fs.lookup("prefix")?.value).toBe(false);
  });

  it("replaces the slice default on first set, then appends", () => {
    const fs = set();
    fs.parse(["--endpoints", "a:1,b:2", "--endpoints=c:3"]);
    expect(fs.lookup("endpoints")?.value).toEqual(["a:1", "b:2", "c:3"]);
    expect(fs.lookup("endpoints")?.toString()).toBe("[a:1,b:2,c:3]");
  });

  it("reports pflag's errors", () => {
    const err = (args: string[]): string => {
      try {
        set().parse(args);
      } catch (e) {
        expect(e).toBeInstanceOf(FlagError);
        return (e as Error).message;
      }
      return "no error";
    };
    expect(err(["--nope"])).toBe("unknown flag: --nope");
    expect(err(["-x"])).toBe("unknown shorthand flag: 'x' in -x");
    expect(err(["--limit"])).toBe("flag needs an argument: --limit");
    expect(err(["-w"])).toBe("flag needs an argument: 'w' in -w");
    expect(err(["--limit", "abc"])).toBe(
      'invalid argument "abc" for "--limit" flag: strconv.ParseInt: parsing "abc": invalid syntax',
    );
    expect(err(["--prefix=maybe"])).toBe(
      'invalid argument "maybe" for "--prefix" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
    );
    expect(err(["--dial-timeout", "3"])).toBe(
      'invalid argument "3" for "--dial-timeout" flag: time: missing unit in duration "3"',
    );
    expect(err(["--=x"])).toBe("bad flag syntax: --=x");
    expect(() => set().parse(["--help"])).toThrow(HelpRequested);
  });
});

describe("Go value parsers", () => {
  it("parseInt64 follows strconv.ParseInt", () => {
    expect(parseInt64("0x1f", 0)).toBe(31n);
    expect(parseInt64("010", 0)).toBe(8n);
    expect(parseInt64("-9223372036854775808", 10)).toBe(-(1n << 63n));
    expect(parseInt64("ff", 16)).toBe(255n);
    expect(() => parseInt64("9223372036854775808", 10)).toThrow(
      'strconv.ParseInt: parsing "9223372036854775808": value out of range',
    );
    expect(() => parseInt64("0x1", 16)).toThrow("invalid syntax");
  });

  it("parseBool accepts Go's spellings only", () => {
    expect(parseBool("T")).toBe(true);
    expect(parseBool("False")).toBe(false);
    expect(() => parseBool("yes")).toThrow('strconv.ParseBool: parsing "yes": invalid syntax');
  });

  it("parseDuration follows time.ParseDuration", () => {
    expect(parseDuration("2s")).toBe(2e9);
    expect(parseDuration("500ms")).toBe(5e8);
    expect(parseDuration("1h2m3.5s")).toBe(3723.5e9);
    expect(parseDuration("1.5µs")).toBe(1500);
    expect(parseDuration("-1m")).toBe(-60e9);
    expect(parseDuration("0")).toBe(0);
    expect(() => parseDuration("")).toThrow('time: invalid duration ""');
    expect(() => parseDuration("abc")).toThrow('time: invalid duration "abc"');
    expect(() => parseDuration("3")).toThrow('time: missing unit in duration "3"');
    expect(() => parseDuration("3x")).toThrow('time: unknown unit "x" in duration "3x"');
  });

  it("parseCSVLine handles quotes", () => {
    expect(parseCSVLine('a,"b,c",d')).toEqual(["a", "b,c", "d"]);
    expect(parseCSVLine('"x""y"')).toEqual(['x"y']);
  });
});
