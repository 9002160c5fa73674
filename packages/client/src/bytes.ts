/** Bytes is a key or value as the client takes it: raw bytes, or a string sent as UTF-8. */
export type Bytes = Buffer | Uint8Array | string;

/** toBuffer turns Bytes into a Buffer (strings as UTF-8), without copying a Buffer. */
export function toBuffer(b: Bytes): Buffer {
  if (typeof b === "string") return Buffer.from(b, "utf8");
  if (Buffer.isBuffer(b)) return b;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * prefixEnd is the range end that selects every key starting with prefix: the prefix with
 * its last byte below 0xff incremented (and what follows it dropped). A prefix of only 0xff
 * bytes, or an empty one, gives "\0" (every key from the start key on), as etcd's Go client.
 */
export function prefixEnd(prefix: Bytes): Buffer {
  const end = Buffer.from(toBuffer(prefix));
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * keyRange resolves the range options of a request the way etcd's Go client does: `prefix`
 * selects every key starting with key, `fromKey` every key >= key (an empty key then means
 * "\0", i.e. all keys), else `rangeEnd` as given (empty: the single key).
 */
export function keyRange(
  key: Bytes,
  opts: { rangeEnd?: Bytes | undefined; prefix?: boolean | undefined; fromKey?: boolean | undefined },
): { key: Buffer; rangeEnd: Buffer } {
  let k = toBuffer(key);
  if (opts.prefix === true && opts.fromKey === true) {
    throw new Error("client: prefix and fromKey cannot be set at the same time");
  }
  if (opts.prefix === true) {
    if (k.length === 0) return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
    return { key: k, rangeEnd: prefixEnd(k) };
  }
  if (opts.fromKey === true) {
    if (k.length === 0) k = Buffer.from([0]);
    return { key: k, rangeEnd: Buffer.from([0]) };
  }
  return { key: k, rangeEnd: opts.rangeEnd === undefined ? Buffer.alloc(0) : toBuffer(opts.rangeEnd) };
}
