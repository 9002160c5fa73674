import { describe, expect, it } from "vitest";
import { etcdserverpb } from "@etcd-ts/proto";
import { argify, goUnquotePrefix, GoPanic, parseCompare } from "./txnparse.js";
import { prefixEnd } from "./ops.js";

const { Compare_CompareResult: R, Compare_CompareTarget: T } = etcdserverpb;

describe("txn grammar", () => {
  it("parses every compare target and operator", () => {
    expect(parseCompare('mod("foo") > "3"')).toMatchObject({ target: T.MOD, result: R.GREATER, key: Buffer.from("foo"), modRevision: 3n });
    expect(parseCompare('c("k") = "0"')).toMatchObject({ target: T.CREATE, result: R.EQUAL, createRevision: 0n });
    expect(parseCompare('version("k") != "2"')).toMatchObject({ target: T.VERSION, result: R.NOT_EQUAL, version: 2n });
    expect(parseCompare('val("k")   <   "a\\x00b"')).toMatchObject({ target: T.VALUE, result: R.LESS, value: Buffer.from([0x61, 0, 0x62]) });
  });

  it("reports etcdctl's messages for bad compares", () => {
    expect(() => parseCompare("bad")).toThrow("malformed comparison: bad");
    expect(() => parseCompare('mod(foo) > "0"')).toThrow('malformed comparison: mod(foo) > "0"; got mod("")  ""');
    expect(() => parseCompare('val("foo")="x"')).toThrow('malformed comparison: val("foo")="x"; got val("foo")  ""');
    expect(() => parseCompare('nope("k") = "0"')).toThrow('malformed comparison: nope("k") = "0" (unknown target nope)');
    expect(() => parseCompare('mod("k") = "x"')).toThrow('invalid txn compare request: mod("k") = "x"');
    expect(() => parseCompare('mod("k") ~ "1"')).toThrow(GoPanic);
    expect(() => parseCompare('lease("k") = "1"')).toThrow("bad value");
  });

  it("splits request lines like argify, quirks included", () => {
    expect(argify('put "quoted key" "v\\tx"')).toEqual(["put", "quoted key", "v\tx"]);
    expect(argify("get 'single quoted' x")).toEqual(["get", "s", "x"]);
    expect(argify("del  a   b ")).toEqual(["del", "a", "b"]);
  });

  it("unquotes Go string literals", () => {
    expect(goUnquotePrefix('"a\\101\\u00e9" rest')).toEqual({ value: Buffer.from("aAé"), rest: " rest" });
    expect(goUnquotePrefix("`raw\\n`").value.toString()).toBe("raw\\n");
    expect(() => goUnquotePrefix('"open')).toThrow("unexpected EOF");
    expect(() => goUnquotePrefix("x")).toThrow("expected quoted string");
  });

  it("computes prefix range ends like clientv3", () => {
    expect(prefixEnd(Buffer.from("key/"))).toEqual(Buffer.from("key0"));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.from([0]));
  });
});
