import { describe, expect, it } from "vitest";
import { Command, find, levenshtein, stripFlags, suggestionsFor } from "./command.js";
import { tabwrite } from "./tabwriter.js";
import { cobraDefaultUsage, renderUsage } from "./usage.js";

const tree = (): Command =>
  new Command({
    use: "tool",
    short: "A tool.",
    persistentFlags: [{ name: "out", shorthand: "o", kind: "string", def: "simple", usage: "output" }],
    children: [
      { use: "get <key>", short: "Gets", flags: [{ name: "rev", kind: "int64", def: 0n, usage: "revision" }], run: async () => {} },
      { use: "grant", short: "Grants", run: async () => {} },
      { use: "group <sub>", short: "A group", children: [{ use: "list", short: "Lists", run: async () => {} }] },
    ],
  });

describe("command lookup (cobra rules)", () => {
  it("finds commands by unique prefix and skips flag values", () => {
    const root = tree();
    expect(find(root, ["ge", "k"]).cmd.name).toBe("get");
    expect(find(root, ["g", "k"]).cmd).toBe(root); // ambiguous: get, grant, group
    expect(find(root, ["-o", "json", "group", "list"]).cmd.commandPath()).toBe("tool group list");
    expect(find(root, ["get", "--rev", "3", "k"]).args).toEqual(["--rev", "3", "k"]);
    expect(stripFlags(["--unknown", "get", "a"], root)).toEqual(["a"]);
  });

  it("suggests by edit distance and prefix", () => {
    expect(levenshtein("gett", "get")).toBe(1);
    expect(suggestionsFor(tree(), "gr")).toEqual(["get", "grant", "group"]);
    expect(suggestionsFor(tree(), "xyzzy")).toEqual([]);
  });
});

describe("help rendering", () => {
  it("tabwrite aligns tab-terminated cells to multiples of 8", () => {
    expect(tabwrite("a\tb\nlonger-cell\tc\n\nx\ty\n")).toBe("a\t\tb\nlonger-cell\tc\n\nx\ty\n");
  });

  it("renders etcdctl's usage template", () => {
    const get = find(tree(), ["get"]).cmd;
    expect(renderUsage(get)).toBe(
      "NAME:\n\tget - Gets\n\nUSAGE:\n\ttool get <key> [flags]\n\nOPTIONS:\n" +
        "  -h, --help[=false]\thelp for get\n      --rev=0\t\trevision\n\n" +
        'GLOBAL OPTIONS:\n  -o, --out="simple"\toutput\n\n',
    );
    const root = renderUsage(tree(), false);
    expect(root).toContain("COMMANDS:\n\tget\t\tGets\n\tgrant\t\tGrants\n\tgroup list\tLists\n");
    expect(root).not.toContain("--help");
  });

  it("renders cobra's default usage", () => {
    expect(cobraDefaultUsage(find(tree(), ["get"]).cmd)).toBe(
      "Usage:\n  tool get <key> [flags]\n\nFlags:\n  -h, --help      help for get\n      --rev int   revision\n",
    );
  });
});
