import { formatDuration, goQuote, goQuoteRune } from "../printer/goformat.js";
import { parseDuration } from "./duration.js";

/** FlagKind is the pflag value type of a flag; it decides parsing and how help prints it. */
export type FlagKind = "bool" | "string" | "int64" | "duration" | "stringSlice";

/** FlagDef declares one flag, as cobra/pflag would. */
export interface FlagDef {
  name: string;
  shorthand?: string;
  kind: FlagKind;
  /** def is the default: boolean, string, bigint (int64), number of ns (duration) or string[]. */
  def: boolean | string | bigint | number | string[];
  usage: string;
}

export type FlagValue = boolean | string | bigint | number | string[];

/** Flag is a declared flag with its current value. */
export class Flag {
  readonly def: FlagDef;
  value: FlagValue;
  changed = false;
  /** sliceSet tracks pflag's stringSlice rule: the first Set replaces the default, later ones append. */
  private sliceSet = false;

  constructor(def: FlagDef) {
    this.def = def;
    this.value = Array.isArray(def.def) ? [...def.def] : def.def;
  }

  get name(): string {
    return this.def.name;
  }

  /** noOptDefVal is the value a flag takes when given without one ("true" for bools). */
  get noOptDefVal(): string {
    return this.def.kind === "bool" ? "true" : "";
  }

  /** set parses s into the flag; it throws with pflag's/strconv's message on bad input. */
  set(s: string): void {
    switch (this.def.kind) {
      case "bool":
        this.value = parseBool(s);
        break;
      case "string":
        this.value = s;
        break;
      case "int64":
        this.value = parseInt64(s, 0);
        break;
      case "duration":
        this.value = parseDuration(s);
        break;
      case "stringSlice": {
        const items = s === "" ? [] : parseCSVLine(s);
        this.value = this.sliceSet ? [...(this.value as string[]), ...items] : items;
        this.sliceSet = true;
        break;
      }
    }
    this.changed = true;
  }

  /** toString is pflag's Value.String(): what --debug and help print. */
  toString(): string {
    return formatFlagValue(this.def.kind, this.value);
  }
}

export function formatFlagValue(kind: FlagKind, v: FlagValue): string {
  switch (kind) {
    case "duration":
      return formatDuration(v as number);
    case "stringSlice":
      return `[${(v as string[]).join(",")}]`;
    default:
      return String(v);
  }
}

/** FlagError is a command-line parsing failure; message is pflag's text. */
export class FlagError extends Error {}

/** HelpRequested is thrown when -h/--help is given. */
export class HelpRequested extends Error {}

/** parseBool is Go's strconv.ParseBool. */
export function parseBool(s: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  throw new Error(`strconv.ParseBool: parsing ${goQuote(s)}: invalid syntax`);
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** parseInt64 is Go's strconv.ParseInt(s, base, 64) for base 0, 10 and 16. */
export function parseInt64(s: string, base: 0 | 10 | 16): bigint {
  const syntax = (): Error => new Error(`strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax`);
  let body = s;
  let neg = false;
  if (body.startsWith("+") || body.startsWith("-")) {
    neg = body[0] === "-";
    body = body.slice(1);
  }
  let digits = body;
  let radix: number = base;
  if (base === 0) {
    radix = 10;
    const lower = body.toLowerCase();
    if (lower.startsWith("0x")) {
      radix = 16;
      digits = body.slice(2);
    } else if (lower.startsWith("0b")) {
      radix = 2;
      digits = body.slice(2);
    } else if (lower.startsWith("0o")) {
      radix = 8;
      digits = body.slice(2);
    } else if (body.length > 1 && body.startsWith("0")) {
      radix = 8;
      digits = body.slice(1);
    }
    if (radix !== 10 && digits.includes("_")) digits = digits.replace(/_/g, "");
  }
  const valid = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ }[radix as 2 | 8 | 10 | 16];
  if (digits === "" || !valid.test(digits)) throw syntax();
  let v = 0n;
  const R = BigInt(radix);
  for (const ch of digits) v = v * R + BigInt(parseInt(ch, radix));
  if (neg) v = -v;
  if (v > INT64_MAX || v < INT64_MIN) {
    throw new Error(`strconv.ParseInt: parsing ${goQuote(s)}: value out of range`);
  }
  return v;
}

/** parseCSVLine splits one CSV record the way encoding/csv does (quotes, doubled quotes). */
export function parseCSVLine(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (s[i] === '"') {
      i++;
      for (; i < s.length; i++) {
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i++;
          } else {
            i++;
            break;
          }
        } else field += s[i];
      }
      while (i < s.length && s[i] !== ",") field += s[i++];
    } else {
      const j = s.indexOf(",", i);
      field = j < 0 ? s.slice(i) : s.slice(i, j);
      i = j < 0 ? s.length : j;
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // the comma
  }
}

/** FlagSet is an ordered-by-name set of flags with pflag's parsing rules (interspersed args). */
export class FlagSet {
  private readonly byName = new Map<string, Flag>();
  private readonly byShort = new Map<string, Flag>();

  add(f: Flag): void {
    this.byName.set(f.name, f);
    if (f.def.shorthand !== undefined) this.byShort.set(f.def.shorthand, f);
  }

  lookup(name: string): Flag | undefined {
    return this.byName.get(name);
  }

  lookupShort(c: string): Flag | undefined {
    return this.byShort.get(c);
  }

  /** sorted lists the flags by name, as pflag's VisitAll does. */
  sorted(): Flag[] {
    return [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get size(): number {
    return this.byName.size;
  }

  /** parse sets flags from args and returns the positional arguments. */
  parse(argsIn: readonly string[]): string[] {
    const positional: string[] = [];
    let args = [...argsIn];
    while (args.length > 0) {
      const s = args.shift() as string;
      if (s.length === 0 || s[0] !== "-" || s.length === 1) {
        positional.push(s);
        continue;
      }
      if (s[1] === "-") {
        if (s.length === 2) {
          positional.push(...args);
          break;
        }
        args = this.parseLong(s, args);
      } else {
        args = this.parseShort(s, args);
      }
    }
    return positional;
  }

  private parseLong(s: string, args: string[]): string[] {
    const nameEq = s.slice(2);
    if (nameEq.length === 0 || nameEq[0] === "-" || nameEq[0] === "=") {
      throw new FlagError(`bad flag syntax: ${s}`);
    }
    const eq = nameEq.indexOf("=");
    const name = eq < 0 ? nameEq : nameEq.slice(0, eq);
    const flag = this.byName.get(name);
    if (flag === undefined) {
      if (name === "help") throw new HelpRequested();
      throw new FlagError(`unknown flag: --${name}`);
    }
    let value: string;
    if (eq >= 0) value = nameEq.slice(eq + 1);
    else if (flag.noOptDefVal !== "") value = flag.noOptDefVal;
    else if (args.length > 0) value = args.shift() as string;
    else throw new FlagError(`flag needs an argument: ${s}`);
    this.setFlag(flag, value, `--${flag.name}`);
    return args;
  }

  private parseShort(s: string, args: string[]): string[] {
    let shorthands = s.slice(1);
    while (shorthands.length > 0) {
      const c = shorthands[0] as string;
      const flag = this.byShort.get(c);
      if (flag === undefined) {
        if (c === "h") throw new HelpRequested();
        throw new FlagError(`unknown shorthand flag: ${goQuoteRune(c)} in -${shorthands}`);
      }
      let value: string;
      let rest = "";
      if (shorthands.length > 2 && shorthands[1] === "=") {
        value = shorthands.slice(2);
      } else if (flag.noOptDefVal !== "") {
        value = flag.noOptDefVal;
        rest = shorthands.slice(1);
      } else if (shorthands.length > 1) {
        value = shorthands.slice(1);
      } else if (args.length > 0) {
        value = args.shift() as string;
      } else {
        throw new FlagError(`flag needs an argument: ${goQuoteRune(c)} in -${shorthands}`);
      }
      this.setFlag(flag, value, `-${c}, --${flag.name}`);
      shorthands = rest;
    }
    return args;
  }

  private setFlag(flag: Flag, value: string, display: string): void {
    try {
      flag.set(value);
    } catch (e) {
      throw new FlagError(`invalid argument ${goQuote(value)} for ${goQuote(display)} flag: ${(e as Error).message}`);
    }
  }
}
