import { Flag, FlagSet, type FlagDef } from "./flags.js";

/** RunFn is a command's action; args are its positional arguments after flag parsing. */
export type RunFn = (cmd: Command, args: string[]) => Promise<void>;

/** CommandSpec declares a command the way etcdctl's cobra definitions do. */
export interface CommandSpec {
  use: string;
  short: string;
  long?: string;
  flags?: FlagDef[];
  persistentFlags?: FlagDef[];
  run?: RunFn;
  children?: CommandSpec[];
  /**
   * extension marks a command etcdctl does not have (etcd-ts's own): the root's help leaves it
   * out, so that it prints etcdctl 3.4's command list byte for byte; its group's help lists it.
   */
  extension?: boolean;
}

/**
 * Command is a node of the command tree with cobra's semantics: local flags, persistent
 * flags inherited by descendants, and a help flag of its own.
 */
export class Command {
  readonly spec: CommandSpec;
  readonly parent: Command | undefined;
  readonly children: Command[];
  /** local holds this command's non-persistent flags, including -h/--help. */
  readonly local = new FlagSet();
  /** persistent holds the flags this command passes on to its descendants. */
  readonly persistent = new FlagSet();

  constructor(spec: CommandSpec, parent?: Command) {
    this.spec = spec;
    this.parent = parent;
    for (const d of spec.flags ?? []) this.local.add(new Flag(d));
    for (const d of spec.persistentFlags ?? []) this.persistent.add(new Flag(d));
    this.local.add(new Flag({ name: "help", shorthand: "h", kind: "bool", def: false, usage: `help for ${this.name}` }));
    this.children = (spec.children ?? [])
      .map((c) => new Command(c, this))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get name(): string {
    const i = this.spec.use.indexOf(" ");
    return i < 0 ? this.spec.use : this.spec.use.slice(0, i);
  }

  get runnable(): boolean {
    return this.spec.run !== undefined;
  }

  get root(): Command {
    return this.parent === undefined ? this : this.parent.root;
  }

  commandPath(): string {
    return this.parent === undefined ? this.name : `${this.parent.commandPath()} ${this.name}`;
  }

  /** useLine is cobra's UseLine: the full path plus " [flags]" when the command has flags. */
  useLine(): string {
    const line = this.parent === undefined ? this.spec.use : `${this.parent.commandPath()} ${this.spec.use}`;
    return line.includes("[flags]") ? line : `${line} [flags]`;
  }

  /** localFlags are the flags declared on this command (persistent ones included). */
  localFlags(withHelp = true): FlagSet {
    const fs = new FlagSet();
    for (const f of this.local.sorted()) if (withHelp || f.name !== "help") fs.add(f);
    for (const f of this.persistent.sorted()) fs.add(f);
    return fs;
  }

  /** inheritedFlags are the ancestors' persistent flags; the nearest ancestor wins a name. */
  inheritedFlags(): FlagSet {
    const fs = new FlagSet();
    for (let p = this.parent; p !== undefined; p = p.parent) {
      for (const f of p.persistent.sorted()) if (fs.lookup(f.name) === undefined) fs.add(f);
    }
    return fs;
  }

  /** flags is every flag usable on this command's command line. */
  flags(): FlagSet {
    const fs = this.localFlags();
    for (const f of this.inheritedFlags().sorted()) if (fs.lookup(f.name) === undefined) fs.add(f);
    return fs;
  }

  /** flag finds a flag by name among flags(); it throws if the command lacks it. */
  flag(name: string): Flag {
    const f = this.flags().lookup(name);
    if (f === undefined) throw new Error(`etcdctl: flag accessed but not defined: ${name}`);
    return f;
  }

  /** findNext is cobra's subcommand lookup with prefix matching enabled. */
  findNext(next: string): Command | undefined {
    const prefixed: Command[] = [];
    for (const c of this.children) {
      if (c.name === next) return c;
      if (c.name.startsWith(next)) prefixed.push(c);
    }
    return prefixed.length === 1 ? prefixed[0] : undefined;
  }

  /** subCommandsDeep lists all descendants depth-first in name order. */
  subCommandsDeep(): Command[] {
    const out: Command[] = [];
    for (const c of this.children) out.push(c, ...c.subCommandsDeep());
    return out;
  }
}

/** stripFlags is cobra's stripFlags: the non-flag words of args, guessing which flags take values. */
export function stripFlags(args: readonly string[], cmd: Command): string[] {
  const flags = cmd.flags();
  const commands: string[] = [];
  const rest = [...args];
  while (rest.length > 0) {
    const s = rest.shift() as string;
    if (s === "--") break;
    const longNeedsValue =
      s.startsWith("--") && !s.includes("=") && (flags.lookup(s.slice(2))?.noOptDefVal ?? "") === "";
    const shortNeedsValue =
      s.startsWith("-") && !s.includes("=") && s.length === 2 && (flags.lookupShort(s.slice(1))?.noOptDefVal ?? "") === "";
    if (longNeedsValue || shortNeedsValue) {
      if (rest.length <= 1) break;
      rest.shift();
      continue;
    }
    if (s !== "" && !s.startsWith("-")) commands.push(s);
  }
  return commands;
}

/** find is cobra's Command.Find: the command named by args and the args left for it. */
export function find(root: Command, args: readonly string[]): { cmd: Command; args: string[] } {
  let cmd = root;
  let rest = [...args];
  for (;;) {
    const words = stripFlags(rest, cmd);
    if (words.length === 0) break;
    const next = cmd.findNext(words[0] as string);
    if (next === undefined) break;
    const i = rest.indexOf(words[0] as string);
    rest = [...rest.slice(0, i), ...rest.slice(i + 1)];
    cmd = next;
  }
  return { cmd, args: rest };
}

/** levenshtein is cobra's case-insensitive edit distance used for suggestions. */
export function levenshtein(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = [];
  for (let i = 0; i <= s.length; i++) {
    d.push(new Array<number>(t.length + 1).fill(0));
    (d[i] as number[])[0] = i;
  }
  for (let j = 0; j <= t.length; j++) (d[0] as number[])[j] = j;
  for (let j = 1; j <= t.length; j++) {
    for (let i = 1; i <= s.length; i++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      if (s[i - 1] === t[j - 1]) row[j] = prev[j - 1] as number;
      else row[j] = Math.min(prev[j] as number, row[j - 1] as number, prev[j - 1] as number) + 1;
    }
  }
  return (d[s.length] as number[])[t.length] as number;
}

/** suggestionsFor lists subcommands within edit distance 2 of typed, or starting with it. */
export function suggestionsFor(cmd: Command, typed: string): string[] {
  return cmd.children
    .filter((c) => levenshtein(typed, c.name) <= 2 || c.name.toLowerCase().startsWith(typed.toLowerCase()))
    .map((c) => c.name);
}
