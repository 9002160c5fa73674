import { describe, expect, it } from "vitest";
import { parseWatchArgs } from "./watch.js";

const flags = () => ({ prefix: false, rev: 0n, prevKv: false });

describe("parseWatchArgs (etcdctl 3.4's rules)", () => {
  it("splits the watch arguments from the command after --", () => {
    const r = parseWatchArgs(["etcdctl", "watch", "foo", "--rev", "1", "--", "echo", "hi"], ["foo", "echo", "hi"], "", "", false, flags());
    expect(r).toEqual({ watchArgs: ["foo"], execArgs: ["echo", "hi"] });
    expect(parseWatchArgs(["etcdctl", "watch", "a", "b"], ["a", "b"], "", "", false, flags())).toEqual({
      watchArgs: ["a", "b"],
      execArgs: undefined,
    });
  });

  it("refuses a trailing separator, no arguments, and a key given twice", () => {
    expect(() => parseWatchArgs(["etcdctl", "watch", "foo", "--"], ["foo"], "", "", false, flags())).toThrow(
      "bad number of arguments (found separator --, but no commands)",
    );
    expect(() => parseWatchArgs(["etcdctl", "watch"], [], "", "", false, flags())).toThrow("bad number of arguments");
    expect(() => parseWatchArgs(["etcdctl", "watch", "foo"], ["foo"], "foo", "", false, flags())).toThrow(
      "bad number of arguments (found conflicting environment key)",
    );
    expect(() => parseWatchArgs(["etcdctl", "watch", "foo", "--", "echo"], ["foo", "echo"], "foo", "", false, flags())).toThrow(
      "bad number of arguments (found conflicting environment key)",
    );
  });

  it("takes the key and range end from the environment", () => {
    expect(parseWatchArgs(["etcdctl", "watch", "--", "echo", "x"], ["echo", "x"], "k", "z", false, flags())).toEqual({
      watchArgs: ["k", "z"],
      execArgs: ["echo", "x"],
    });
  });

  it("parses an interactive line's flags into the watch flags", () => {
    const f = flags();
    const r = parseWatchArgs(["etcdctl", "watch", "-i"], ["watch", "k", "--prefix", "--rev", "7", "--prev-kv", "--", "sh", "-c", "x"], "", "", true, f);
    expect(r).toEqual({ watchArgs: ["k"], execArgs: ["sh", "-c", "x"] });
    expect(f).toEqual({ prefix: true, rev: 7n, prevKv: true });
    expect(() => parseWatchArgs([], ["watch", "k", "-w", "json"], "", "", true, f)).toThrow("unknown shorthand flag: 'w' in -w");
    expect(f).toEqual(flags());
    expect(() => parseWatchArgs([], ["watch", "-h"], "", "", true, f)).toThrow("pflag: help requested");
  });
});
