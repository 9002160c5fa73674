/** The units Go's time.ParseDuration knows, in nanoseconds (both micro signs included). */
const UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["\u00b5s", 1_000n],
  ["\u03bcs", 1_000n],
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

const TWO_63 = 1n << 63n;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";

/**
 * parseGoDuration reads a duration the way Go's time.ParseDuration does (the `ttl=` of etcd's
 * --auth-token): a sign, then one or more "<decimal><unit>" terms such as "1h30m", "1.5s" or
 * "300ms", with units ns, us (µs, μs), ms, s, m, h; a bare "0" is zero. It returns
 * nanoseconds, exact, within Go's int64 range; fractions are scaled through a float64 as Go
 * does. Anything else throws an Error carrying Go's message.
 */
export function parseGoDuration(text: string): bigint {
  const invalid = (): Error => new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let s = text;
  let neg = false;
  if (s[0] === "-" || s[0] === "+") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw invalid();
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === "." || isDigit(s[i]))) throw invalid();
    // The integer part: at most 2^63 (Go refuses more, even before the unit is known).
    let v = 0n;
    const intStart = i;
    for (; isDigit(s[i]); i++) {
      v = v * 10n + BigInt((s[i] as string).charCodeAt(0) - 48);
      if (v > TWO_63) throw invalid();
    }
    const pre = i > intStart;
    // The fraction: digits past what fits in 2^63 are read and ignored, as Go does.
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s[i] === ".") {
      i++;
      const fracStart = i;
      let overflow = false;
      for (; isDigit(s[i]); i++) {
        if (overflow) continue;
        const y = f * 10n + BigInt((s[i] as string).charCodeAt(0) - 48);
        if (f > (TWO_63 - 1n) / 10n || y > TWO_63) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = i > fracStart;
    }
    if (!pre && !post) throw invalid();
    const unitStart = i;
    while (i < s.length && !(s[i] === "." || isDigit(s[i]))) i++;
    if (i === unitStart) throw new Error(`time: missing unit in duration ${JSON.stringify(text)}`);
    const u = s.slice(unitStart, i);
    const unit = UNITS.get(u);
    if (unit === undefined) throw new Error(`time: unknown unit ${JSON.stringify(u)} in duration ${JSON.stringify(text)}`);
    if (v > TWO_63 / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > TWO_63) throw invalid();
    }
    total += v;
    if (total > TWO_63) throw invalid();
  }
  if (neg) return -total;
  if (total > TWO_63 - 1n) throw invalid();
  return total;
}
