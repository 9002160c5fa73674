import type { Command } from "./command.js";
import type { FlagSet } from "./flags.js";
import { goQuote } from "../printer/goformat.js";
import { tabwrite } from "./tabwriter.js";

/** VERSION and API_VERSION are the etcdctl release whose behaviour etcdctl-ts reproduces. */
export const VERSION = "3.4.23";
export const API_VERSION = "3.4";

/** flagUsages renders flags the way etcdctl's help does: one tab-separated line per flag. */
export function flagUsages(fs: FlagSet): string {
  let out = "";
  for (const f of fs.sorted()) {
    let line = f.def.shorthand !== undefined ? `  -${f.def.shorthand}, --${f.name}` : `      --${f.name}`;
    const defValue = f.def.kind === "string" ? goQuote(String(f.def.def)) : formatDefault(f.def.kind, f.def.def);
    line += f.noOptDefVal !== "" ? `[=${defValue}]` : `=${defValue}`;
    out += `${line}\t${f.def.usage}\n`;
  }
  return out;
}

function formatDefault(kind: string, def: unknown): string {
  if (kind === "stringSlice") return `[${(def as string[]).join(",")}]`;
  if (kind === "duration") {
    // Defaults are whole seconds in etcdctl.
    const ns = def as number;
    return ns % 1e9 === 0 ? `${ns / 1e9}s` : `${ns}ns`;
  }
  return String(def);
}

function cmdName(cmd: Command, start: Command): string {
  const parts = [cmd.name];
  for (let c = cmd; c.parent !== undefined && c.parent.name !== start.name; c = c.parent) parts.unshift(c.parent.name);
  return parts.join(" ");
}

/**
 * renderUsage is etcdctl's help text for cmd (its usage template run through tabwriter).
 * cobra adds the -h/--help flag only to a command it runs or shows help for, so the root's
 * usage printed for an unknown help topic lacks it (helpFlag false).
 */
export function renderUsage(cmd: Command, helpFlag = true): string {
  let s = "NAME:\n";
  s += `\t${cmd.parent === undefined ? cmd.name : cmdName(cmd, cmd.root)} - ${cmd.spec.short}\n`;
  s += `\nUSAGE:\n\t${cmd.useLine()}\n`;
  if (cmd.parent === undefined) s += `\nVERSION:\n\t${VERSION}\n`;
  if (cmd.children.length > 0) {
    s += `\nAPI VERSION:\n\t${API_VERSION}\n`;
    s += "\n\nCOMMANDS:\n";
    for (const sub of cmd.subCommandsDeep()) {
      if (sub.runnable && !(cmd.parent === undefined && sub.spec.extension === true)) s += `\t${cmdName(sub, cmd)}\t${sub.spec.short}\n`;
    }
  }
  if (cmd.spec.long !== undefined && cmd.spec.long !== "") {
    s += "\nDESCRIPTION:\n";
    for (const line of cmd.spec.long.replace(/^[\n\t ]+|[\n\t ]+$/g, "").split("\n")) s += `\t${line}\n`;
  }
  const local = cmd.localFlags(helpFlag);
  if (local.size > 0) s += "\nOPTIONS:\n" + flagUsages(local);
  const inherited = cmd.inheritedFlags();
  if (inherited.size > 0) s += "\nGLOBAL OPTIONS:\n" + flagUsages(inherited);
  s += "\n";
  return tabwrite(s);
}

/** pflagVarName is the value placeholder pflag's FlagUsages shows for a flag type. */
function pflagVarName(kind: string): string {
  switch (kind) {
    case "bool":
      return "";
    case "int64":
      return "int";
    case "stringSlice":
      return "strings";
    default:
      return kind;
  }
}

function isZeroDefault(kind: string, def: unknown): boolean {
  switch (kind) {
    case "bool":
      return def === false;
    case "string":
      return def === "";
    case "int64":
      return def === 0n;
    case "duration":
      return def === 0;
    default:
      return Array.isArray(def) && def.length === 0;
  }
}

/** pflagUsages is pflag's FlagSet.FlagUsages with trailing whitespace trimmed. */
export function pflagUsages(fs: FlagSet): string {
  const lines: Array<[string, string]> = [];
  let maxlen = 0;
  for (const f of fs.sorted()) {
    let line = f.def.shorthand !== undefined ? `  -${f.def.shorthand}, --${f.name}` : `      --${f.name}`;
    const v = pflagVarName(f.def.kind);
    if (v !== "") line += " " + v;
    maxlen = Math.max(maxlen, line.length + 1);
    let usage = f.def.usage;
    if (!isZeroDefault(f.def.kind, f.def.def)) {
      usage += f.def.kind === "string" ? ` (default ${goQuote(String(f.def.def))})` : ` (default ${formatDefault(f.def.kind, f.def.def)})`;
    }
    lines.push([line, usage]);
  }
  return lines
    .map(([l, u]) => `${l} ${" ".repeat(maxlen - l.length)} ${u}`)
    .join("\n")
    .replace(/\s+$/, "");
}

/** cobraDefaultUsage is cobra's built-in usage text (used by etcdctl's txn request parser). */
export function cobraDefaultUsage(cmd: Command): string {
  return `Usage:\n  ${cmd.useLine()}\n\nFlags:\n${pflagUsages(cmd.localFlags())}\n`;
}
