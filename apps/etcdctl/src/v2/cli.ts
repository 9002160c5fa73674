import { parseDuration } from "../cli/duration.js";

/** FlagKind is a v2 flag's type (urfave/cli v1's BoolFlag, StringFlag, IntFlag, DurationFlag, StringSliceFlag). */
export type FlagKind = "bool" | "string" | "int" | "duration" | "stringSlice";

/** FlagDef is one flag: its names (the first is long), type, default text and usage. */
export interface FlagDef {
  names: string[];
  kind: FlagKind;
  def?: string;
  usage: string;
}

/** CommandDef is one command of etcdctl's v2 CLI (urfave/cli v1's Command). */
export interface CommandDef {
  name: string;
  aliases?: string[];
  usage: string;
  argsUsage?: string;
  description?: string;
  flags?: FlagDef[];
  subcommands?: CommandDef[];
  action?: (ctx: Context) => Promise<void>;
}

/** FlagValue is a parsed flag: a string slice flag's values in order. */
export type FlagValue = string | boolean | number | string[];

/** Context is a running command's parsed flags (durations in ms) (its own and the global ones) and arguments. */
export interface Context {
  args: string[];
  flag(name: string): FlagValue;
  global(name: string): FlagValue;
  /** isSet: the flag was given on the command line. */
  isSet(name: string): boolean;
}

/** UsageError is a flag the parser refused (Go's flag package text). */
export class UsageError extends Error {}

/** HELP_FLAG is urfave's --help, -h. */
export const HELP_FLAG: FlagDef = { names: ["help", "h"], kind: "bool", usage: "show help" };

/** Parsed is what parseFlags found: values by every name of each flag, and the arguments left. */
export interface Parsed {
  values: Map<string, FlagValue>;
  set: Set<string>;
  args: string[];
}

/**
 * parseFlags is Go's flag.FlagSet.Parse over defs: "-f", "--f", "-f=v", "--f v"; a bool flag
 * takes no separate value; "--" ends the flags; the first non-flag argument ends them too,
 * unless `reorder` (urfave's reorderArgs for commands: flags after arguments count).
 */
export function parseFlags(defs: readonly FlagDef[], argv: readonly string[], reorder: boolean): Parsed {
  const byName = new Map<string, FlagDef>();
  for (const d of defs) for (const n of d.names) byName.set(n, d);
  const values = new Map<string, FlagValue>();
  const set = new Set<string>();
  for (const d of defs) {
    const v = d.kind === "stringSlice" ? [] : d.kind === "bool" ? false : d.kind === "int" ? Number(d.def ?? "0") : d.kind === "duration" ? parseDuration(d.def ?? "0s") / 1e6 : (d.def ?? "");
    for (const n of d.names) values.set(n, v);
  }
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.length < 2 || !a.startsWith("-")) {
      if (!reorder) {
        args.push(...argv.slice(i));
        break;
      }
      args.push(a);
      continue;
    }
    let name = a.slice(a.startsWith("--") ? 2 : 1);
    if (name === "" || name.startsWith("-") || name.startsWith("=")) throw new UsageError(`bad flag syntax: ${a}`);
    let inline: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const d = byName.get(name);
    if (d === undefined) throw new UsageError(`flag provided but not defined: -${name}`);
    let v: FlagValue;
    if (d.kind === "bool") {
      if (inline === undefined) v = true;
      else if (["1", "t", "T", "TRUE", "true", "True"].includes(inline)) v = true;
      else if (["0", "f", "F", "FALSE", "false", "False"].includes(inline)) v = false;
      else throw new UsageError(`invalid boolean value "${inline}" for -${name}: parse error`);
    } else {
      let text = inline;
      if (text === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
        text = argv[++i] as string;
      }
      v = d.kind === "stringSlice" ? [...((values.get(name) as string[] | undefined) ?? []), text] : convert(d, name, text);
    }
    for (const n of d.names) values.set(n, v);
    for (const n of d.names) set.add(n);
  }
  return { values, set, args };
}

function convert(d: FlagDef, name: string, text: string): string | number {
  if (d.kind === "string") return text;
  if (d.kind === "int") {
    if (!/^[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(text)) throw new UsageError(`invalid value "${text}" for flag -${name}: parse error`);
    return Number(text);
  }
  try {
    return parseDuration(text) / 1e6;
  } catch {
    throw new UsageError(`invalid value "${text}" for flag -${name}: parse error`);
  }
}

/**
 * flagHelp is urfave/cli v1's flag line: names (--long, -s) with a placeholder for flags that
 * take a value (the usage's first `quoted` word, else "value"), a tab, the usage (backquotes of
 * the placeholder removed) and the default where urfave shows one.
 */
export function flagHelp(d: FlagDef): string {
  let usage = d.usage;
  let placeholder = "value";
  const m = /`([^`]*)`/.exec(usage);
  if (m !== null) {
    placeholder = m[1] as string;
    usage = usage.slice(0, m.index) + placeholder + usage.slice(m.index + m[0].length);
  }
  const names = d.names.map((n) => `${n.length === 1 ? "-" : "--"}${n}${d.kind === "bool" ? "" : ` ${placeholder}`}`).join(", ");
  let def = "";
  if (d.kind === "string" && (d.def ?? "") !== "") def = ` (default: ${JSON.stringify(d.def)})`;
  if (d.kind === "int") def = ` (default: ${d.def ?? "0"})`;
  if (d.kind === "duration") def = ` (default: ${d.def ?? "0s"})`;
  return `${names}\t${usage}${def}`;
}

/** align is Go's tabwriter with minwidth 1, tabwidth 8, padding 2 and spaces: tab-separated cells of consecutive lines in columns. */
export function align(lines: readonly string[]): string[] {
  const runes = (s: string): number => [...s].length;
  const cells = lines.map((l) => l.split("\t"));
  const width = Math.max(0, ...cells.filter((c) => c.length > 1).map((c) => runes(c[0] as string)));
  return cells.map((c) => {
    const first = c[0] as string;
    return c.length > 1 ? `${first}${" ".repeat(width + 2 - runes(first))}${c.slice(1).join("\t")}` : first;
  });
}
