/**
 * Byte-exact re-implementations of the Go formatting etcdctl's output relies on: strconv's
 * quoting (%q), encoding/json string escaping, go-humanize's Bytes and time.Duration's String.
 */

/** decodeRune reads one UTF-8 rune at i; an invalid sequence yields rune -1 of size 1. */
function decodeRune(b: Uint8Array, i: number): [number, number] {
  const c0 = b[i] as number;
  if (c0 < 0x80) return [c0, 1];
  const cont = (k: number): number => {
    const c = b[i + k];
    return c !== undefined && (c & 0xc0) === 0x80 ? c & 0x3f : -1;
  };
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    const c1 = cont(1);
    if (c1 >= 0) return [((c0 & 0x1f) << 6) | c1, 2];
  } else if (c0 >= 0xe0 && c0 <= 0xef) {
    const c1 = cont(1);
    const c2 = cont(2);
    if (c1 >= 0 && c2 >= 0) {
      const r = ((c0 & 0x0f) << 12) | (c1 << 6) | c2;
      if (r >= 0x800 && (r < 0xd800 || r > 0xdfff)) return [r, 3];
    }
  } else if (c0 >= 0xf0 && c0 <= 0xf4) {
    const c1 = cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    if (c1 >= 0 && c2 >= 0 && c3 >= 0) {
      const r = ((c0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
      if (r >= 0x10000 && r <= 0x10ffff) return [r, 4];
    }
  }
  return [-1, 1];
}

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** isPrint approximates Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols, ASCII space. */
function isPrint(r: number): boolean {
  if (r < 0x20 || r === 0x7f) return false;
  if (r < 0x7f) return true;
  return printable.test(String.fromCodePoint(r));
}

const hex2 = (n: number): string => n.toString(16).padStart(2, "0");

/** goQuote is Go's strconv.Quote (fmt %q) of the bytes b read as UTF-8. */
export function goQuote(input: Uint8Array | string): string {
  const b = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  let out = '"';
  for (let i = 0; i < b.length; ) {
    const [r, size] = decodeRune(b, i);
    if (r < 0) {
      out += "\\x" + hex2(b[i] as number);
      i += size;
      continue;
    }
    i += size;
    if (r === 0x22 || r === 0x5c) {
      out += "\\" + String.fromCharCode(r);
    } else if (isPrint(r)) {
      out += String.fromCodePoint(r);
    } else {
      switch (r) {
        case 0x07: out += "\\a"; break;
        case 0x08: out += "\\b"; break;
        case 0x0c: out += "\\f"; break;
        case 0x0a: out += "\\n"; break;
        case 0x0d: out += "\\r"; break;
        case 0x09: out += "\\t"; break;
        case 0x0b: out += "\\v"; break;
        default:
          if (r < 0x20 || r === 0x7f) out += "\\x" + hex2(r);
          else if (r < 0x10000) out += "\\u" + r.toString(16).padStart(4, "0");
          else out += "\\U" + r.toString(16).padStart(8, "0");
      }
    }
  }
  return out + '"';
}

/** goQuoteRune is fmt's %q of a single byte/rune: a single-quoted Go character literal. */
export function goQuoteRune(ch: string): string {
  if (ch === "'") return "'\\''";
  if (ch === "\\") return "'\\\\'";
  const q = goQuote(ch);
  return "'" + q.slice(1, -1).replace(/\\"/g, '"') + "'";
}

/** goJSONString is encoding/json's string encoding (HTML-safe, invalid UTF-8 as U+FFFD). */
export function goJSONString(input: Uint8Array | string): string {
  const b = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  let out = '"';
  for (let i = 0; i < b.length; ) {
    const [r, size] = decodeRune(b, i);
    i += size;
    if (r < 0) {
      out += "\\ufffd";
      continue;
    }
    if (r === 0x22) out += '\\"';
    else if (r === 0x5c) out += "\\\\";
    else if (r === 0x0a) out += "\\n";
    else if (r === 0x0d) out += "\\r";
    else if (r === 0x09) out += "\\t";
    else if (r < 0x20 || r === 0x3c || r === 0x3e || r === 0x26 || r === 0x2028 || r === 0x2029) {
      out += "\\u" + r.toString(16).padStart(4, "0");
    } else out += String.fromCodePoint(r);
  }
  return out + '"';
}

/** formatFixed is Go's %.{digits}f: exact decimal value, ties to even. */
function formatFixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  if (digits !== 0) return s;
  const fl = Math.floor(x);
  if (x - fl === 0.5) return (fl % 2 === 0 ? fl : fl + 1).toFixed(0);
  return s;
}

/** humanizeBytes is go-humanize's Bytes: SI units (kB = 1000 B). */
export function humanizeBytes(n: bigint | number): string {
  const s = Number(n);
  const sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  if (s < 10) return `${s} B`;
  const e = Math.floor(Math.log(s) / Math.log(1000));
  const suffix = sizes[e] ?? "EB";
  const val = Math.floor((s / Math.pow(1000, e)) * 10 + 0.5) / 10;
  return `${formatFixed(val, val < 10 ? 1 : 0)} ${suffix}`;
}

/** formatDuration is Go's time.Duration.String of ns nanoseconds. */
export function formatDuration(nsIn: bigint | number): string {
  let ns = BigInt(nsIn);
  if (ns === 0n) return "0s";
  const neg = ns < 0n;
  if (neg) ns = -ns;
  let out: string;
  if (ns < 1_000_000_000n) {
    let unit: string;
    let div: bigint;
    let prec: number;
    if (ns < 1000n) return (neg ? "-" : "") + `${ns}ns`;
    if (ns < 1_000_000n) {
      unit = "µs";
      div = 1000n;
      prec = 3;
    } else {
      unit = "ms";
      div = 1_000_000n;
      prec = 6;
    }
    out = fracString(ns, div, prec) + unit;
  } else {
    const h = ns / 3_600_000_000_000n;
    const rem = ns % 3_600_000_000_000n;
    const m = rem / 60_000_000_000n;
    const sNs = rem % 60_000_000_000n;
    out = fracString(sNs, 1_000_000_000n, 9) + "s";
    if (h > 0n || m > 0n) out = `${m}m` + out;
    if (h > 0n) out = `${h}h` + out;
  }
  return (neg ? "-" : "") + out;
}

function fracString(v: bigint, div: bigint, prec: number): string {
  const whole = v / div;
  let frac = (v % div).toString().padStart(prec, "0").replace(/0+$/, "");
  return frac === "" ? `${whole}` : `${whole}.${frac}`;
}

/** goHex016 is Go's %016x of an int64: lower-case hex, zero-padded to 16 columns, sign first. */
export function goHex016(v: bigint): string {
  const n = BigInt.asIntN(64, v);
  return n < 0n ? "-" + (-n).toString(16).padStart(15, "0") : n.toString(16).padStart(16, "0");
}

/** goInt64 is Go's %d (or %v) of an int64 field holding v. */
export function goInt64(v: bigint): string {
  return BigInt.asIntN(64, v).toString();
}

/** alarmName is Go's String() of an etcdserverpb.AlarmType: its name, or the number for an unknown value. */
export function alarmName(t: number): string {
  return ["NONE", "NOSPACE", "CORRUPT"][t] ?? String(t);
}
