/**
 * go_duration.ts reads and prints durations exactly as Go's time package does, because
 * --auto-compaction-retention is parsed with time.ParseDuration and etcd logs the result with
 * time.Duration.String. A duration is a bigint of nanoseconds in Go's int64 range.
 */

const NS = 1n;
const US = 1000n * NS;
const MS = 1000n * US;
const S = 1000n * MS;
const M = 60n * S;
const H = 60n * M;

/** GO_UNITS are time.ParseDuration's unit suffixes in nanoseconds (both micro signs included). */
const GO_UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", NS],
  ["us", US],
  ["\u00b5s", US],
  ["\u03bcs", US],
  ["ms", MS],
  ["s", S],
  ["m", M],
  ["h", H],
]);

/** TWO63 is 1<<63, the bound of Go's unsigned accumulators in ParseDuration. */
const TWO63 = 1n << 63n;

/**
 * parseGoDuration is Go 1.19's time.ParseDuration: a signed sequence of decimal numbers,
 * each with an optional fraction and a unit ("300ms", "-1.5h", "2h45m"; a bare "0" is zero).
 * It returns nanoseconds; a bad string throws an Error with Go's message, e.g.
 * `time: invalid duration "abc"`, `time: missing unit in duration "5"`,
 * `time: unknown unit "d" in duration "1d"`.
 */
export function parseGoDuration(orig: string): bigint {
  const invalid = (): Error => new Error(`time: invalid duration ${goQuote(orig)}`);
  let s = orig;
  let neg = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw invalid();
  let d = 0n;
  while (s !== "") {
    if (!(s[0] === "." || isDigit(s[0]))) throw invalid();
    // Integer part: Go fails on overflow of the uint64 accumulator past 1<<63.
    let v = 0n;
    let i = 0;
    for (; i < s.length && isDigit(s[i]); i++) {
      if (v > TWO63 / 10n) throw invalid();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > TWO63) throw invalid();
    }
    const pre = i > 0;
    s = s.slice(i);
    // Fraction: digits past the precision of a uint64 are read and ignored.
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s !== "" && s[0] === ".") {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      for (; j < s.length && isDigit(s[j]); j++) {
        if (overflow) continue;
        if (f > (TWO63 - 1n) / 10n) {
          overflow = true;
          continue;
        }
        const y = f * 10n + BigInt(s.charCodeAt(j) - 48);
        if (y > TWO63) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw invalid();
    let k = 0;
    while (k < s.length && s[k] !== "." && !isDigit(s[k])) k++;
    if (k === 0) throw new Error(`time: missing unit in duration ${goQuote(orig)}`);
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = GO_UNITS.get(u);
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuote(u)} in duration ${goQuote(orig)}`);
    if (v > TWO63 / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      // Go computes the fraction in float64 and truncates it: nanosecond-exact up to hours.
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > TWO63) throw invalid();
    }
    d += v;
    if (d > TWO63) throw invalid();
  }
  if (neg) return -d;
  if (d > TWO63 - 1n) throw invalid();
  return d;
}

/**
 * formatGoDuration is Go's time.Duration.String of ns nanoseconds: "0s", "999ns", "1.5µs",
 * "1.234567ms", "1m30s", "72h0m0s", "-5m0s".
 */
export function formatGoDuration(ns: bigint): string {
  if (ns === 0n) return "0s";
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < S) {
    if (u < US) out = `${u}ns`;
    else if (u < MS) out = `${fraction(u, 3)}\u00b5s`;
    else out = `${fraction(u, 6)}ms`;
  } else {
    out = `${fraction(u % M, 9)}s`;
    u /= M;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}

/** fraction prints v / 10^prec with the fraction's trailing zeros (and a bare point) dropped. */
function fraction(v: bigint, prec: number): string {
  const p = 10n ** BigInt(prec);
  const frac = (v % p).toString().padStart(prec, "0").replace(/0+$/, "");
  return frac === "" ? `${v / p}` : `${v / p}.${frac}`;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

/**
 * goQuote is the time package's quote: the text in double quotes, `"` and `\` escaped, and
 * every byte of a non-ASCII or control character written as \xNN (its UTF-8 bytes).
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (c >= 0x80 || c < 0x20) {
      for (const b of Buffer.from(ch, "utf8")) out += `\\x${b.toString(16).padStart(2, "0")}`;
    } else {
      if (ch === '"' || ch === "\\") out += "\\";
      out += ch;
    }
  }
  return `${out}"`;
}
