import { goQuote } from "../printer/goformat.js";

const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * parseHexID is Go's strconv.ParseUint(s, 16, 64), which etcdctl uses for member IDs: hex
 * digits only (no sign, prefix or underscores), at most 2^64-1. The error text is Go's.
 */
export function parseHexID(s: string): bigint {
  if (s === "" || !/^[0-9a-fA-F]+$/.test(s)) {
    throw new Error(`strconv.ParseUint: parsing ${goQuote(s)}: invalid syntax`);
  }
  const v = BigInt("0x" + s);
  if (v > MAX_UINT64) throw new Error(`strconv.ParseUint: parsing ${goQuote(s)}: value out of range`);
  return v;
}
