/**
 * Revision identifies one change in the store: main is the revision of the write transaction
 * (incremented once per transaction that changes something), sub numbers the changes inside
 * that transaction starting at 0.
 */
export interface Revision {
  readonly main: bigint;
  readonly sub: number;
}

/** compareRevision orders revisions by main, then sub. */
export function compareRevision(a: Revision, b: Revision): number {
  if (a.main !== b.main) return a.main < b.main ? -1 : 1;
  return a.sub - b.sub;
}

/**
 * Backend layout. Revision keys are keyPrefix + 8 bytes big-endian main + 8 bytes big-endian
 * sub, plus tombstoneMark for a deletion; they sort in revision order. Their values are encoded
 * mvccpb.KeyValue (a tombstone holds only the key). Meta keys live under metaPrefix, which
 * sorts after every revision key, so a scan of keyPrefix never sees them.
 */
export const keyPrefix = Buffer.from("key/");
/** keyPrefixEnd is the first key after every key starting with keyPrefix. */
export const keyPrefixEnd = Buffer.from("key0");
export const metaPrefix = Buffer.from("meta/");
/** tombstoneMark ends the backend key of a revision that deleted its key (etcd's 't'). */
export const tombstoneMark = 0x74;

/** revKeyLen is the length of a revision key without the tombstone mark. */
export const revKeyLen = keyPrefix.length + 16;

/** Meta keys: values are 8-byte big-endian integers. */
export const scheduledCompactKey = Buffer.from("meta/scheduled_compact_rev");
export const finishedCompactKey = Buffer.from("meta/finished_compact_rev");

const twoTo32 = 0x1_0000_0000;

/** revisionKey encodes the backend key of rev; tombstone appends the deletion mark. */
export function revisionKey(rev: Revision, tombstone = false): Buffer {
  const buf = Buffer.allocUnsafe(revKeyLen + (tombstone ? 1 : 0));
  keyPrefix.copy(buf, 0);
  const o = keyPrefix.length;
  buf.writeBigUInt64BE(rev.main, o);
  buf.writeUInt32BE(Math.floor(rev.sub / twoTo32), o + 8);
  buf.writeUInt32BE(rev.sub >>> 0, o + 12);
  if (tombstone) buf[revKeyLen] = tombstoneMark;
  return buf;
}

/** revisionBound is the smallest revision key of main revision `main` (sub 0). */
export function revisionBound(main: bigint): Buffer {
  return revisionKey({ main, sub: 0 });
}

/** parseRevisionKey decodes a backend revision key; it throws on a malformed key. */
export function parseRevisionKey(key: Buffer): { rev: Revision; tombstone: boolean } {
  const o = keyPrefix.length;
  const tombstone = key.length === revKeyLen + 1 && key[revKeyLen] === tombstoneMark;
  if ((key.length !== revKeyLen && !tombstone) || key.compare(keyPrefix, 0, o, 0, o) !== 0) {
    throw new Error(`mvcc: malformed revision key ${key.toString("hex")}`);
  }
  const main = key.readBigUInt64BE(o);
  const sub = key.readUInt32BE(o + 8) * twoTo32 + key.readUInt32BE(o + 12);
  return { rev: { main, sub }, tombstone };
}

/**
 * etcdRevisionBytes renders a revision key in etcd's own layout (8 bytes main, '_', 8 bytes
 * sub, then 't' for a tombstone), so that hashes over revisions equal etcd's.
 */
export function etcdRevisionBytes(key: Buffer): Buffer {
  const o = keyPrefix.length;
  const out = Buffer.allocUnsafe(key.length - o + 1);
  key.copy(out, 0, o, o + 8);
  out[8] = 0x5f;
  key.copy(out, 9, o + 8);
  return out;
}

/** encodeUint64 encodes a non-negative integer as 8 bytes big-endian (meta values). */
export function encodeUint64(v: bigint): Buffer {
  const buf = Buffer.allocUnsafe(8);
  buf.writeBigUInt64BE(v);
  return buf;
}

/** decodeUint64 decodes an 8-byte big-endian meta value. */
export function decodeUint64(buf: Buffer, what: string): bigint {
  if (buf.length !== 8) throw new Error(`mvcc: malformed ${what} (${buf.length} bytes)`);
  return buf.readBigUInt64BE();
}
