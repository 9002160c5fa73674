/**
 * The on-disk page layout of bbolt (format version 2), as Go's bbolt 1.3 writes it on a
 * little-endian machine. All integers are little-endian; offsets and sizes are in bytes.
 *
 * A page starts with a 16-byte header: id u64 @0, flags u16 @8, count u16 @10, overflow u32 @12.
 * A page that needs more than one page size of bytes takes `overflow` further pages right after
 * it (one header for the whole run). Page n starts at byte n * pageSize of the file.
 */

/** PAGE_HEADER_SIZE is the size of a page header in bytes. */
export const PAGE_HEADER_SIZE = 16;
/** LEAF_ELEMENT_SIZE is the size of a leaf element: flags u32, pos u32, ksize u32, vsize u32. */
export const LEAF_ELEMENT_SIZE = 16;
/** BRANCH_ELEMENT_SIZE is the size of a branch element: pos u32, ksize u32, pgid u64. */
export const BRANCH_ELEMENT_SIZE = 16;
/** BUCKET_HEADER_SIZE is the size of a bucket value's header: root pgid u64, sequence u64. */
export const BUCKET_HEADER_SIZE = 16;
/** META_SIZE is the size of the meta struct that follows a meta page's header. */
export const META_SIZE = 64;

/** Page flags (the header's flags field). */
export const BRANCH_PAGE_FLAG = 0x01;
export const LEAF_PAGE_FLAG = 0x02;
export const META_PAGE_FLAG = 0x04;
export const FREELIST_PAGE_FLAG = 0x10;

/** BUCKET_LEAF_FLAG marks a leaf element whose value is a bucket (header, or header + inline page). */
export const BUCKET_LEAF_FLAG = 0x01;

/** MAGIC is the meta magic number; VERSION the file format version this package reads and writes. */
export const MAGIC = 0xed0cdaed;
export const VERSION = 2;

/** MAX_KEY_SIZE is bbolt's largest key in bytes; MAX_VALUE_SIZE its largest value in bytes. */
export const MAX_KEY_SIZE = 32768;
export const MAX_VALUE_SIZE = 2 ** 31 - 2;

/** NO_FREELIST is the meta freelist pgid bbolt writes when the freelist is not stored (NoFreelistSync). */
export const NO_FREELIST = 0xffffffffffffffffn;

/** FREELIST_COUNT_OVERFLOW is the header count that means "the real count is the first u64 of the page". */
export const FREELIST_COUNT_OVERFLOW = 0xffff;

/** PageHeader is a decoded page header. id is exact as long as it is below 2^53 (callers check). */
export interface PageHeader {
  id: bigint;
  flags: number;
  count: number;
  overflow: number;
}

/** readPageHeader decodes the 16-byte header at the start of buf (at least 16 bytes long). */
export function readPageHeader(buf: Buffer): PageHeader {
  return {
    id: buf.readBigUInt64LE(0),
    flags: buf.readUInt16LE(8),
    count: buf.readUInt16LE(10),
    overflow: buf.readUInt32LE(12),
  };
}

/** writePageHeader encodes a page header at the start of buf (at least 16 bytes long). */
export function writePageHeader(buf: Buffer, id: number, flags: number, count: number, overflow: number): void {
  buf.writeBigUInt64LE(BigInt(id), 0);
  buf.writeUInt16LE(flags, 8);
  buf.writeUInt16LE(count, 10);
  buf.writeUInt32LE(overflow, 12);
}

/** pageTypeName names a page's flags for messages, as bbolt's page.typ() does. */
export function pageTypeName(flags: number): string {
  if ((flags & BRANCH_PAGE_FLAG) !== 0) return "branch";
  if ((flags & LEAF_PAGE_FLAG) !== 0) return "leaf";
  if ((flags & META_PAGE_FLAG) !== 0) return "meta";
  if ((flags & FREELIST_PAGE_FLAG) !== 0) return "freelist";
  return `unknown<${flags.toString(16).padStart(2, "0")}>`;
}

/** pagesFor is the number of pages (1 + overflow) that a node of `bytes` bytes occupies. */
export function pagesFor(bytes: number, pageSize: number): number {
  return Math.max(1, Math.ceil(bytes / pageSize));
}
