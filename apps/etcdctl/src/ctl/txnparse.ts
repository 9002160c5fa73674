import { etcdserverpb } from "@etcd-ts/proto";
import { goQuote } from "../printer/goformat.js";
import { ExitCode, ExitError } from "./io.js";

/** GoPanic reproduces a Go panic in etcdctl: "panic: <msg>" on stderr and exit code 2. */
export class GoPanic extends Error {}

/**
 * goUnquotePrefix reads one Go quoted string ("..." or `...`) at the start of s, as fmt's %q
 * verb does; it returns the bytes and the rest of s, or throws with fmt's message.
 */
export function goUnquotePrefix(s: string): { value: Buffer; rest: string } {
  if (s === "") throw new Error("unexpected EOF");
  const q = s[0];
  if (q === "`") {
    const end = s.indexOf("`", 1);
    if (end < 0) throw new Error("unexpected EOF");
    return { value: Buffer.from(s.slice(1, end)), rest: s.slice(end + 1) };
  }
  if (q !== '"') throw new Error("expected quoted string");
  const out: number[] = [];
  const push = (str: string): void => {
    for (const b of Buffer.from(str)) out.push(b);
  };
  let i = 1;
  for (;;) {
    if (i >= s.length) throw new Error("unexpected EOF");
    const c = s[i] as string;
    if (c === '"') return { value: Buffer.from(out), rest: s.slice(i + 1) };
    if (c === "\n") throw new Error("invalid syntax");
    if (c !== "\\") {
      const cp = s.codePointAt(i) as number;
      push(String.fromCodePoint(cp));
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const e = s[i + 1];
    if (e === undefined) throw new Error("unexpected EOF");
    const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92, '"': 34 };
    if (simple[e] !== undefined) {
      out.push(simple[e] as number);
      i += 2;
    } else if (e === "x" || e === "u" || e === "U") {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = s.slice(i + 2, i + 2 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw new Error("invalid syntax");
      const v = parseInt(hex, 16);
      if (e === "x") out.push(v);
      else {
        if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) throw new Error("invalid syntax");
        push(String.fromCodePoint(v));
      }
      i += 2 + n;
    } else if (e >= "0" && e <= "7") {
      const oct = s.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) throw new Error("invalid syntax");
      out.push(parseInt(oct, 8));
      i += 4;
    } else {
      throw new Error("invalid syntax");
    }
  }
}

const SPACE = /^[ \t\r\n]*/;

/**
 * argify is etcdctl's argify: split a txn request line into words honouring quotes. It keeps
 * etcdctl's quirk of cutting a single-quoted word to the number of words minus one.
 */
export function argify(line: string): string[] {
  const re = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\t\n\f\r ][^\t\n\f\r ]*[^'"\t\n\f\r ]?/g;
  const args = line.match(re) ?? [];
  return args.map((a) => {
    if (a.startsWith("'")) {
      const end = args.length - 1;
      if (end > a.length || end < 1) {
        throw new GoPanic(`runtime error: slice bounds out of range [${1}:${end}]`);
      }
      return a.slice(1, end);
    }
    if (a.startsWith('"')) {
      try {
        return goUnquotePrefix(a).value.toString("utf8");
      } catch (e) {
        throw new ExitError(ExitCode.InvalidInput, (e as Error).message);
      }
    }
    return a;
  });
}

/** scanCompare is fmt.Sscanf(s, "%q) %s %q", &key, &op, &val): the count of items scanned. */
function scanCompare(s: string): { n: number; key: Buffer; op: string; val: Buffer } {
  const r: { n: number; key: Buffer; op: string; val: Buffer } = { n: 0, key: Buffer.alloc(0), op: "", val: Buffer.alloc(0) };
  try {
    let rest = s.replace(SPACE, "");
    const k = goUnquotePrefix(rest);
    r.key = k.value;
    r.n = 1;
    rest = k.rest;
    if (!rest.startsWith(")")) return r;
    rest = rest.slice(1);
    // A space in a fmt format needs at least one space in the input.
    if (!/^[ \t\r]/.test(rest)) return r;
    rest = rest.replace(SPACE, "");
    const m = /^[^ \t\r\n]+/.exec(rest);
    if (m === null) return r;
    r.op = m[0];
    r.n = 2;
    rest = rest.slice(m[0].length).replace(SPACE, "");
    const v = goUnquotePrefix(rest);
    r.val = v.value;
    r.n = 3;
  } catch {
    // fmt stops at the first item it cannot scan.
  }
  return r;
}

const CMP_RESULTS: Record<string, etcdserverpb.Compare_CompareResult> = {
  "=": etcdserverpb.Compare_CompareResult.EQUAL,
  "!=": etcdserverpb.Compare_CompareResult.NOT_EQUAL,
  ">": etcdserverpb.Compare_CompareResult.GREATER,
  "<": etcdserverpb.Compare_CompareResult.LESS,
};

/**
 * parseCompare is etcdctl's txn compare grammar: `<target>("<key>") <op> "<value>"` with
 * target ver|version, c|create, m|mod, val|value (lease panics in etcdctl 3.4 and here).
 */
export function parseCompare(line: string): etcdserverpb.Compare {
  const paren = line.indexOf("(");
  if (paren < 0) throw new Error(`malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  const { n, key, op, val } = scanCompare(line.slice(paren + 1));
  if (n !== 3) {
    throw new Error(`malformed comparison: ${line}; got ${target}(${goQuote(key)}) ${op} ${goQuote(val)}`);
  }
  const cmp = etcdserverpb.Compare.create();
  cmp.key = key;
  const int = (): bigint | undefined => {
    const s = val.toString("utf8");
    if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
    const v = BigInt(s);
    return v >= -(1n << 63n) && v < 1n << 63n ? v : undefined;
  };
  const result = (): etcdserverpb.Compare_CompareResult => {
    const r = CMP_RESULTS[op];
    if (r === undefined) throw new GoPanic("Unknown result op");
    return r;
  };
  const invalid = (): Error => new Error(`invalid txn compare request: ${line}`);
  switch (target) {
    case "ver":
    case "version": {
      const v = int();
      if (v === undefined) throw invalid();
      cmp.result = result();
      cmp.target = etcdserverpb.Compare_CompareTarget.VERSION;
      cmp.version = v;
      break;
    }
    case "c":
    case "create": {
      const v = int();
      if (v === undefined) throw invalid();
      cmp.result = result();
      cmp.target = etcdserverpb.Compare_CompareTarget.CREATE;
      cmp.createRevision = v;
      break;
    }
    case "m":
    case "mod": {
      const v = int();
      if (v === undefined) throw invalid();
      cmp.result = result();
      cmp.target = etcdserverpb.Compare_CompareTarget.MOD;
      cmp.modRevision = v;
      break;
    }
    case "val":
    case "value":
      cmp.result = result();
      cmp.target = etcdserverpb.Compare_CompareTarget.VALUE;
      cmp.value = val;
      break;
    case "lease":
      result();
      // clientv3.Compare cannot take the string etcdctl 3.4 passes for a lease.
      throw new GoPanic("bad value");
    default:
      throw new Error(`malformed comparison: ${line} (unknown target ${target})`);
  }
  return cmp;
}
