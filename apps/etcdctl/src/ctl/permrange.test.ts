import { describe, expect, it } from "vitest";
import { ExitError } from "./io.js";
import { permRange } from "./permrange.js";

const show = (r: { key: Buffer; rangeEnd: Buffer }): [string, string] => [r.key.toString("latin1"), r.rangeEnd.toString("latin1")];
const err = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e instanceof ExitError ? [e.code, e.exitMessage] : e;
  }
  return undefined;
};

describe("permRange", () => {
  it("resolves keys, ranges, prefixes and from-key ranges as etcdctl", () => {
    expect(show(permRange(["k"], false, false))).toEqual(["k", ""]);
    expect(show(permRange(["a", "b"], false, false))).toEqual(["a", "b"]);
    expect(show(permRange(["a", "b", "c"], false, false))).toEqual(["a", "b"]);
    expect(show(permRange(["pre"], true, false))).toEqual(["pre", "prf"]);
    expect(show(permRange(["z"], true, false))).toEqual(["z", "{"]);
    expect(show(permRange(["fk"], false, true))).toEqual(["fk", "\0"]);
  });

  it("turns an empty key into \\0, the whole key space with --prefix or --from-key", () => {
    expect(show(permRange([""], false, false))).toEqual(["\0", ""]);
    expect(show(permRange(["", "z"], false, false))).toEqual(["\0", ""]);
    expect(show(permRange([""], true, false))).toEqual(["\0", "\0"]);
    expect(show(permRange(["", "z"], false, true))).toEqual(["\0", "\0"]);
  });

  it("exits 128 on flags that do not go together", () => {
    const both = [128, "--from-key and --prefix flags are mutually exclusive"];
    expect(err(() => permRange(["k"], true, true))).toEqual(both);
    expect(err(() => permRange([""], true, true))).toEqual(both);
    expect(err(() => permRange(["a", "b"], true, true))).toEqual([128, "unexpected endkey argument with --prefix flag"]);
    expect(err(() => permRange(["a", "b"], false, true))).toEqual([128, "unexpected endkey argument with --from-key flag"]);
  });
});
