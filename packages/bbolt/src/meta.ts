import { BUCKET_HEADER_SIZE, MAGIC, META_PAGE_FLAG, META_SIZE, PAGE_HEADER_SIZE, VERSION, NO_FREELIST, writePageHeader } from "./page.js";

/**
 * Meta is the content of a meta page (pages 0 and 1), after the page header:
 * magic u32 @0, version u32 @4, pageSize u32 @8, flags u32 @12, root bucket {root pgid u64 @16,
 * sequence u64 @24}, freelist pgid u64 @32, pgid (high-water mark: the number of pages in use)
 * u64 @40, txid u64 @48, checksum u64 @56. The checksum is FNV-1a 64 over bytes 0..56.
 */
export interface Meta {
  magic: number;
  version: number;
  /** pageSize is the page size in bytes. */
  pageSize: number;
  flags: number;
  /** root is the page id of the root bucket's root page. */
  root: bigint;
  /** rootSequence is the root bucket's sequence (bbolt keeps 0). */
  rootSequence: bigint;
  /** freelist is the page id of the freelist, or NO_FREELIST. */
  freelist: bigint;
  /** pgid is the high-water mark: every page in use has an id below it. */
  pgid: bigint;
  txid: bigint;
  checksum: bigint;
}

/** CHECKSUM_OFFSET is where the checksum sits in the meta struct: it covers the bytes before it. */
const CHECKSUM_OFFSET = 56;

const FNV64_OFFSET = 0xcbf29ce484222325n;
const FNV64_PRIME = 0x100000001b3n;

/** fnv1a64 is the 64-bit FNV-1a hash of bytes (Go's hash/fnv New64a). */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = FNV64_OFFSET;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = BigInt.asUintN(64, h * FNV64_PRIME);
  }
  return h;
}

/** decodeMeta reads the meta struct that starts at byte `at` of buf (64 bytes needed). */
export function decodeMeta(buf: Buffer, at = PAGE_HEADER_SIZE): Meta {
  return {
    magic: buf.readUInt32LE(at),
    version: buf.readUInt32LE(at + 4),
    pageSize: buf.readUInt32LE(at + 8),
    flags: buf.readUInt32LE(at + 12),
    root: buf.readBigUInt64LE(at + 16),
    rootSequence: buf.readBigUInt64LE(at + 24),
    freelist: buf.readBigUInt64LE(at + 32),
    pgid: buf.readBigUInt64LE(at + 40),
    txid: buf.readBigUInt64LE(at + 48),
    checksum: buf.readBigUInt64LE(at + 56),
  };
}

/** metaChecksum is the checksum bbolt stores for the meta struct starting at byte `at` of buf. */
export function metaChecksum(buf: Buffer, at = PAGE_HEADER_SIZE): bigint {
  return fnv1a64(buf.subarray(at, at + CHECKSUM_OFFSET));
}

/**
 * validateMeta returns why the meta page in buf (one page, header included) at position
 * `pos` (0 or 1) is unusable, or undefined when it is valid. Beyond bbolt's own checks (magic,
 * version, checksum) it wants a meta page header naming `pos`, a sane page size, and root and
 * freelist ids inside the data pages (2 .. high-water mark - 1). Unlike bbolt 1.3.6 it does not
 * accept a zero checksum as "unchecked".
 */
export function validateMeta(buf: Buffer, pos: number): string | undefined {
  if (buf.length < PAGE_HEADER_SIZE + META_SIZE) return "shorter than a meta page";
  const m = decodeMeta(buf);
  if (m.magic !== MAGIC) return `bad magic 0x${m.magic.toString(16).padStart(8, "0")} (want 0x${MAGIC.toString(16)})`;
  if (m.version !== VERSION) return `version ${m.version} (want ${VERSION})`;
  const sum = metaChecksum(buf);
  if (m.checksum !== sum) return `checksum 0x${m.checksum.toString(16)} does not match 0x${sum.toString(16)}`;
  const id = buf.readBigUInt64LE(0);
  const flags = buf.readUInt16LE(8);
  if (id !== BigInt(pos)) return `page header names page ${id}`;
  if (flags !== META_PAGE_FLAG) return `page flags 0x${flags.toString(16)} are not a meta page's`;
  if (!isPageSize(m.pageSize)) return `page size ${m.pageSize} is not a power of two in 512..1048576`;
  if (m.pgid < 3n) return `high-water mark ${m.pgid} leaves no room for a root page`;
  if (m.pgid * BigInt(m.pageSize) > BigInt(Number.MAX_SAFE_INTEGER)) return `high-water mark ${m.pgid} is beyond any file`;
  if (m.root < 2n || m.root >= m.pgid) return `root page ${m.root} outside pages 2..${m.pgid - 1n}`;
  if (m.freelist !== NO_FREELIST && (m.freelist < 2n || m.freelist >= m.pgid)) {
    return `freelist page ${m.freelist} outside pages 2..${m.pgid - 1n}`;
  }
  return undefined;
}

/** isPageSize tells whether n is a page size this package accepts: a power of two in 512..1 MiB. */
export function isPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= 512 && n <= 1 << 20 && (n & (n - 1)) === 0;
}

/** MetaFields are what a writer decides for a meta page; magic, version, flags and checksum follow. */
export interface MetaFields {
  pageSize: number;
  root: number;
  freelist: number;
  pgid: number;
  txid: bigint;
}

/** encodeMetaPage returns meta page `pos` (0 or 1): one zero-filled page holding header and meta. */
export function encodeMetaPage(pos: 0 | 1, f: MetaFields): Buffer {
  const buf = Buffer.alloc(f.pageSize);
  writePageHeader(buf, pos, META_PAGE_FLAG, 0, 0);
  const at = PAGE_HEADER_SIZE;
  buf.writeUInt32LE(MAGIC, at);
  buf.writeUInt32LE(VERSION, at + 4);
  buf.writeUInt32LE(f.pageSize, at + 8);
  buf.writeUInt32LE(0, at + 12);
  buf.writeBigUInt64LE(BigInt(f.root), at + 16);
  buf.writeBigUInt64LE(0n, at + 16 + 8);
  buf.writeBigUInt64LE(BigInt(f.freelist), at + 16 + BUCKET_HEADER_SIZE);
  buf.writeBigUInt64LE(BigInt(f.pgid), at + 40);
  buf.writeBigUInt64LE(f.txid, at + 48);
  buf.writeBigUInt64LE(metaChecksum(buf), at + CHECKSUM_OFFSET);
  return buf;
}
