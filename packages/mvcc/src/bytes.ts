/**
 * SHORT_COMPARE_BYTES: keys whose common length is at most this are compared byte by byte in
 * JavaScript, which V8 runs in a few nanoseconds; longer ones go to Buffer.compare, whose
 * call into C++ (about 100 ns on this machine) costs more than it saves only for short keys.
 */
const SHORT_COMPARE_BYTES = 48;

/**
 * compareBytes orders byte strings as Buffer.compare does (unsigned bytes, then length): -1,
 * 0 or 1. It is the key order of the key index and the watcher tree, called on every lookup.
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  if (n > SHORT_COMPARE_BYTES) return Buffer.compare(a, b);
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
