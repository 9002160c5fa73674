import { goQuote } from "../printer/goformat.js";

const UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * parseDuration is Go's time.ParseDuration ("300ms", "1.5h", "2h45m"); it returns
 * nanoseconds or throws with Go's message (e.g. `time: missing unit in duration "3"`).
 */
export function parseDuration(s: string): number {
  const orig = s;
  const invalid = (): Error => new Error(`time: invalid duration ${goQuote(orig)}`);
  let neg = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw invalid();
  let total = 0;
  while (s !== "") {
    const num = /^([0-9]*)(\.([0-9]*))?/.exec(s);
    const intPart = num?.[1] ?? "";
    const fracPart = num?.[3];
    if (!(s[0] === "." || (s[0] !== undefined && s[0] >= "0" && s[0] <= "9"))) throw invalid();
    if (intPart === "" && (fracPart === undefined || fracPart === "")) throw invalid();
    s = s.slice(num?.[0].length ?? 0);
    const unitMatch = /^[^0-9.]*/.exec(s);
    const unit = unitMatch?.[0] ?? "";
    if (unit === "") throw new Error(`time: missing unit in duration ${goQuote(orig)}`);
    const scale = UNITS[unit];
    if (scale === undefined) throw new Error(`time: unknown unit ${goQuote(unit)} in duration ${goQuote(orig)}`);
    s = s.slice(unit.length);
    total += Number(`${intPart === "" ? "0" : intPart}.${fracPart ?? ""}0`) * scale;
  }
  const ns = Math.round(total);
  if (ns > 9223372036854775807) throw invalid();
  return neg ? -ns : ns;
}
