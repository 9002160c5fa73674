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

const empty = Buffer.alloc(0);

/**
 * own returns b when it is the whole of its own memory, else a copy that is. The store keeps
 * keys and values for as long as they are live, and a request's bytes are usually a view into
 * a larger buffer (an 8 KiB allocation pool slab, a socket read, a batch of raft entries)
 * that a kept view holds whole: measured after 150,000 random puts of 256-byte values over
 * 10,000 keys, the views held 3,433 pool slabs (26.8 MiB) for 2.6 MiB of values. A copy in
 * memory of its own costs about 330 bytes of bookkeeping instead.
 */
export function own(b: Buffer): Buffer {
  if (b.length === 0) return empty;
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c);
  return c;
}
