/**
 * hpack.ts: HPACK header compression for HTTP/2 (RFC 7541). HpackDecoder decodes the peer's
 * header blocks, keeping the dynamic table the peer's encoder maintains; HpackEncoder writes our
 * header blocks from the static table and literals only, so it has no dynamic table.
 *
 * Names and values are latin1 strings: one char per octet, so a string's length is its length in
 * octets (a char code above 255 is encoded as its low 8 bits).
 */
import { HpackError, huffmanDecode, huffmanEncode, huffmanEncodedLength } from "./huffman.js";

export { HpackError };

/**
 * HeaderListTooLarge reports that a decoded header list exceeds the decoder's maxHeaderListBytes:
 * the stream, not the connection, is refused. The block was still fully decoded, so the dynamic
 * table stays in sync with the peer's.
 */
export class HeaderListTooLarge extends Error {
  override name = "HeaderListTooLarge";
}

/** STATIC_TABLE is the static table (RFC 7541 Appendix A): entry i (1..61) is STATIC_TABLE[i - 1]. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** STATIC_COUNT is the number of static table entries: indices 1..STATIC_COUNT are static, above are dynamic. */
const STATIC_COUNT = STATIC_TABLE.length;

/** STATIC_NAMES[i] is the name of static entry i (1..61); index 0 holds "" and is never read. */
const STATIC_NAMES: readonly string[] = ["", ...STATIC_TABLE.map((e) => e[0])];

/** STATIC_VALUES[i] is the value of static entry i (1..61); index 0 holds "" and is never read. */
const STATIC_VALUES: readonly string[] = ["", ...STATIC_TABLE.map((e) => e[1])];

/** ENTRY_OVERHEAD is the octets added to name and value lengths in an entry's size (RFC 7541 Section 4.1) and a field's header list size (RFC 7540 Section 6.5.2). */
const ENTRY_OVERHEAD = 32;

/** MAX_INT is the largest integer the decoder accepts (2^31 - 1): indices, string lengths and table sizes are below it. */
const MAX_INT = 0x7fffffff;

/** MAX_CONTINUATION is the most continuation octets an integer may have: 5 carry 35 bits, enough for MAX_INT after any prefix. */
const MAX_CONTINUATION = 5;

/** DEFAULT_TABLE_SIZE is the default SETTINGS_HEADER_TABLE_SIZE, in octets (RFC 7540 Section 6.5.2). */
const DEFAULT_TABLE_SIZE = 4096;

/** DEFAULT_MAX_HEADER_LIST_BYTES is the decoder's default header list bound, in octets as SETTINGS_MAX_HEADER_LIST_SIZE counts them. */
const DEFAULT_MAX_HEADER_LIST_BYTES = 64 * 1024;

/** INITIAL_RING is the dynamic table ring's initial number of slots (a power of two; it doubles as needed). */
const INITIAL_RING = 16;

/** Latin1Buffer is Buffer with the latin1 methods Node has but @types/node does not declare. */
interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}

/** HAS_LATIN1 is whether this Node has Buffer.prototype.latin1Slice and latin1Write (it has since v0.x; toString/write are the fallback). */
const HAS_LATIN1 =
  typeof (Buffer.prototype as unknown as Partial<Latin1Buffer>).latin1Slice === "function" &&
  typeof (Buffer.prototype as unknown as Partial<Latin1Buffer>).latin1Write === "function";

/** latin1Slice returns buf[start, end) as a latin1 string (one char per octet). */
const latin1Slice: (buf: Buffer, start: number, end: number) => string = HAS_LATIN1
  ? (buf, start, end) => (buf as unknown as Latin1Buffer).latin1Slice(start, end)
  : (buf, start, end) => buf.toString("latin1", start, end);

/** latin1Write writes s (one octet per char, its low 8 bits) to buf at offset `at`; the caller ensures s.length octets are free. */
const latin1Write: (buf: Buffer, s: string, at: number) => void = HAS_LATIN1
  ? (buf, s, at) => {
      (buf as unknown as Latin1Buffer).latin1Write(s, at, s.length);
    }
  : (buf, s, at) => {
      buf.write(s, at, s.length, "latin1");
    };

/**
 * HpackDecoder decodes the header blocks of one HTTP/2 connection's peer, in the order they were
 * sent (the dynamic table carries state from block to block). Any HpackError leaves the decoder
 * unusable: the connection must end.
 */
export class HpackDecoder {
  /** maxTableSize is the SETTINGS_HEADER_TABLE_SIZE we advertise, in octets: the bound on size updates. */
  private readonly maxTableSize: number;
  /** maxHeaderListBytes bounds a decoded header list: the sum over its fields of name.length + value.length + 32, in octets. */
  private readonly maxHeaderListBytes: number;
  /** capacity is the dynamic table's maximum size in octets, as last set by the peer (initially maxTableSize); capacity <= maxTableSize. */
  private capacity: number;
  /** size is the sum of the dynamic table entries' sizes (name.length + value.length + 32 each), in octets; size <= capacity. */
  private size = 0;
  /** names holds the dynamic table entries' names as a ring: the newest entry is at slot (head - 1) & mask, the oldest at (head - count) & mask; free slots hold "". */
  private names: string[];
  /** values holds the dynamic table entries' values, slot for slot with names. */
  private values: string[];
  /** mask is the ring's slot count minus one (the slot count is a power of two). */
  private mask: number;
  /** head is the slot the next entry goes into. */
  private head = 0;
  /** count is the number of dynamic table entries (dynamic indices STATIC_COUNT + 1 .. STATIC_COUNT + count). */
  private count = 0;
  /** pos is decode's read offset into the block being decoded. */
  private pos = 0;

  /**
   * constructor: maxTableSize is the SETTINGS_HEADER_TABLE_SIZE we advertise (default 4096
   * octets): the peer's dynamic table size updates may not exceed it, and it is the dynamic
   * table's initial size. maxHeaderListBytes bounds the decoded list (sum of name.length +
   * value.length + 32 per field, as in SETTINGS_MAX_HEADER_LIST_SIZE; default 65536 octets).
   */
  constructor(maxTableSize: number = DEFAULT_TABLE_SIZE, maxHeaderListBytes: number = DEFAULT_MAX_HEADER_LIST_BYTES) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INT) {
      throw new RangeError(`HpackDecoder: maxTableSize ${maxTableSize} is not an integer in [0, 2^31 - 1]`);
    }
    if (!(maxHeaderListBytes >= 0)) {
      throw new RangeError(`HpackDecoder: maxHeaderListBytes ${maxHeaderListBytes} is not >= 0`);
    }
    this.maxTableSize = maxTableSize;
    this.maxHeaderListBytes = maxHeaderListBytes;
    this.capacity = maxTableSize;
    this.names = new Array<string>(INITIAL_RING).fill("");
    this.values = new Array<string>(INITIAL_RING).fill("");
    this.mask = INITIAL_RING - 1;
  }

  /**
   * decode decodes one complete header block buf[start, end) and calls onHeader for each field in
   * order. Names and values from a table are the table's string objects. Throws HpackError on
   * malformed input (the connection must end); throws HeaderListTooLarge after decoding the whole
   * block when the list was too large (onHeader is not called for the field that crossed the limit
   * nor for any after it). If onHeader throws, the block is left half-decoded and the decoder is
   * unusable.
   */
  decode(buf: Buffer, start: number, end: number, onHeader: (name: string, value: string) => void): void {
    if (start < 0 || end > buf.length || start > end) {
      throw new RangeError(`HpackDecoder.decode: [${start}, ${end}) is not within a buffer of ${buf.length} octets`);
    }
    const limit = this.maxHeaderListBytes;
    let listBytes = 0;
    let tooLarge = false;
    let fieldSeen = false;
    let sizeUpdates = 0;
    this.pos = start;
    while (this.pos < end) {
      const b = buf[this.pos++]!;
      let name: string;
      let value: string;
      if (b >= 0x80) {
        // Indexed Header Field (Section 6.1): 1xxxxxxx.
        let index = b & 0x7f;
        if (index === 0x7f) index = this.readIntRest(buf, end, 0x7f);
        if (index === 0) throw new HpackError("hpack: indexed header field with index 0");
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index]!;
          value = STATIC_VALUES[index]!;
        } else {
          const slot = this.dynamicSlot(index);
          name = this.names[slot]!;
          value = this.values[slot]!;
        }
      } else if (b >= 0x40) {
        // Literal Header Field with Incremental Indexing (Section 6.2.1): 01xxxxxx.
        let index = b & 0x3f;
        if (index === 0x3f) index = this.readIntRest(buf, end, 0x3f);
        name = index === 0 ? this.readString(buf, end) : this.nameAt(index);
        value = this.readString(buf, end);
        this.add(name, value);
      } else if (b >= 0x20) {
        // Dynamic Table Size Update (Section 6.3): 001xxxxx, only at the start of a block (Section 4.2).
        if (fieldSeen) throw new HpackError("hpack: dynamic table size update after a header field");
        if (++sizeUpdates > 2) throw new HpackError("hpack: more than two dynamic table size updates in a block");
        let size = b & 0x1f;
        if (size === 0x1f) size = this.readIntRest(buf, end, 0x1f);
        if (size > this.maxTableSize) {
          throw new HpackError(`hpack: dynamic table size update to ${size} octets, above the ${this.maxTableSize} allowed`);
        }
        this.capacity = size;
        while (this.size > size) this.evictOldest();
        continue;
      } else {
        // Literal Header Field without Indexing (0000xxxx) or Never Indexed (0001xxxx) (Sections 6.2.2, 6.2.3).
        let index = b & 0x0f;
        if (index === 0x0f) index = this.readIntRest(buf, end, 0x0f);
        name = index === 0 ? this.readString(buf, end) : this.nameAt(index);
        value = this.readString(buf, end);
      }
      fieldSeen = true;
      if (!tooLarge) {
        listBytes += name.length + value.length + ENTRY_OVERHEAD;
        if (listBytes > limit) tooLarge = true;
        else onHeader(name, value);
      }
    }
    if (tooLarge) {
      throw new HeaderListTooLarge(`hpack: header list larger than ${limit} octets`);
    }
  }

  /** dynamicSlot returns the ring slot of dynamic table index `index` (> STATIC_COUNT); throws HpackError past the table's end. */
  private dynamicSlot(index: number): number {
    const d = index - STATIC_COUNT - 1;
    if (d >= this.count) {
      throw new HpackError(`hpack: index ${index} past the table's end (${STATIC_COUNT + this.count} entries)`);
    }
    return (this.head - 1 - d) & this.mask;
  }

  /** nameAt returns the name of table entry `index` (>= 1, static or dynamic); throws HpackError past the table's end. */
  private nameAt(index: number): string {
    return index <= STATIC_COUNT ? STATIC_NAMES[index]! : this.names[this.dynamicSlot(index)]!;
  }

  /**
   * readIntRest reads the continuation octets of an integer whose prefix was all ones (prefixMax,
   * Section 5.1) from buf at this.pos, not past end, and returns the integer. Throws HpackError when
   * the block ends first, when there are more than MAX_CONTINUATION continuation octets, or when the
   * value exceeds MAX_INT.
   */
  private readIntRest(buf: Buffer, end: number, prefixMax: number): number {
    let value = prefixMax;
    let scale = 1;
    for (let n = 0; n < MAX_CONTINUATION; n++) {
      if (this.pos >= end) throw new HpackError("hpack: header block ends inside an integer");
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > MAX_INT) throw new HpackError(`hpack: integer ${value} above 2^31 - 1`);
        return value;
      }
      scale *= 128;
    }
    throw new HpackError(`hpack: integer with more than ${MAX_CONTINUATION} continuation octets`);
  }

  /** readString reads a string literal (Section 5.2: H bit, 7-bit prefix length, octets) from buf at this.pos, not past end. Throws HpackError when the block ends first or the Huffman coding is invalid. */
  private readString(buf: Buffer, end: number): string {
    if (this.pos >= end) throw new HpackError("hpack: header block ends before a string literal");
    const b = buf[this.pos++]!;
    let len = b & 0x7f;
    if (len === 0x7f) len = this.readIntRest(buf, end, 0x7f);
    const from = this.pos;
    const to = from + len;
    if (to > end) throw new HpackError(`hpack: string literal of ${len} octets runs past the header block's end`);
    this.pos = to;
    return b >= 0x80 ? huffmanDecode(buf, from, to) : latin1Slice(buf, from, to);
  }

  /** add inserts (name, value) as the newest dynamic table entry, evicting the oldest entries to make room (Section 4.4); an entry larger than the capacity empties the table and is not added. */
  private add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      while (this.count > 0) this.evictOldest();
      return;
    }
    while (this.size + entrySize > this.capacity) this.evictOldest();
    if (this.count === this.mask + 1) this.grow();
    const slot = this.head;
    this.names[slot] = name;
    this.values[slot] = value;
    this.head = (slot + 1) & this.mask;
    this.count++;
    this.size += entrySize;
  }

  /** evictOldest removes the oldest dynamic table entry; the caller ensures count > 0. */
  private evictOldest(): void {
    const slot = (this.head - this.count) & this.mask;
    const name = this.names[slot]!;
    const value = this.values[slot]!;
    this.size -= name.length + value.length + ENTRY_OVERHEAD;
    this.names[slot] = "";
    this.values[slot] = "";
    this.count--;
  }

  /** grow doubles the ring's slot count, moving the entries to slots 0..count-1, oldest first. */
  private grow(): void {
    const slots = (this.mask + 1) * 2;
    const names = new Array<string>(slots).fill("");
    const values = new Array<string>(slots).fill("");
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head - this.count + i) & this.mask;
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.mask = slots - 1;
    this.head = this.count;
  }
}

/** StaticName is what the encoder knows of a name in the static table: its first index and the indices of its (name, value) entries by value. */
interface StaticName {
  readonly index: number;
  readonly values: ReadonlyMap<string, number>;
}

/** STATIC_BY_NAME maps each static table name to its StaticName. */
const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = (() => {
  const byName = new Map<string, { index: number; values: Map<string, number> }>();
  for (let i = 1; i <= STATIC_COUNT; i++) {
    const name = STATIC_NAMES[i]!;
    let entry = byName.get(name);
    if (entry === undefined) {
      entry = { index: i, values: new Map() };
      byName.set(name, entry);
    }
    entry.values.set(STATIC_VALUES[i]!, i);
  }
  return byName;
})();

/** ENCODE_SCRATCH_KEEP is the largest scratch buffer an encoder keeps between calls, in octets; larger blocks get a one-off buffer. */
const ENCODE_SCRATCH_KEEP = 64 * 1024;

/** RAW_LOOP_MAX is the longest raw string copied octet by octet; longer ones go through latin1Write. */
const RAW_LOOP_MAX = 32;

/**
 * writeInt writes value (0 <= value < 2^32) as an HPACK integer (Section 5.1) with a prefixBits-bit
 * prefix, the first octet's other bits being `flags`, to out at `at`; returns the offset after it.
 */
function writeInt(out: Buffer, at: number, flags: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[at++] = flags | value;
    return at;
  }
  out[at++] = flags | max;
  value -= max;
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

/** writeString writes s as a string literal (Section 5.2), Huffman-coded when that is shorter, to out at `at`; returns the offset after it. */
function writeString(out: Buffer, at: number, s: string): number {
  const len = s.length;
  if (len > 0) {
    const huffLen = huffmanEncodedLength(s);
    if (huffLen < len) {
      at = writeInt(out, at, 0x80, 7, huffLen);
      return huffmanEncode(s, out, at);
    }
  }
  at = writeInt(out, at, 0x00, 7, len);
  if (len <= RAW_LOOP_MAX) {
    for (let i = 0; i < len; i++) out[at + i] = s.charCodeAt(i);
  } else {
    latin1Write(out, s, at);
  }
  return at + len;
}

/**
 * HpackEncoder writes header blocks from the static table and literals only: it never inserts into
 * a dynamic table, so it keeps no table state and never needs a dynamic table size update (any
 * SETTINGS_HEADER_TABLE_SIZE the peer sets, 0 included, is fine). Names are written as given: the
 * caller supplies lowercase HTTP/2 names.
 */
export class HpackEncoder {
  /** scratch is where blocks are written before being copied out; at most ENCODE_SCRATCH_KEEP octets are kept between calls. */
  private scratch: Buffer = Buffer.allocUnsafe(1024);

  /**
   * encode appends the header block for fields to a new Buffer. A field whose name and value
   * match a static entry is an indexed field; one whose name alone matches is a literal without
   * indexing with an indexed name; others are literals without indexing with a literal name.
   * Names and values are Huffman-coded when that is shorter.
   */
  encode(fields: readonly (readonly [string, string])[]): Buffer {
    // Bound: a field takes at most its name and value octets plus 1 + 6 (indexed name or
    // literal-name octet and its length) + 6 (value length) octets; 16 covers it.
    let bound = 0;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      bound += f[0].length + f[1].length + 16;
    }
    let out = this.scratch;
    if (out.length < bound) {
      out = Buffer.allocUnsafe(bound);
      if (bound <= ENCODE_SCRATCH_KEEP) this.scratch = out;
    }
    let at = 0;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const name = f[0];
      const value = f[1];
      const known = STATIC_BY_NAME.get(name);
      if (known === undefined) {
        out[at++] = 0x00;
        at = writeString(out, at, name);
      } else {
        const full = known.values.get(value);
        if (full !== undefined) {
          at = writeInt(out, at, 0x80, 7, full);
          continue;
        }
        at = writeInt(out, at, 0x00, 4, known.index);
      }
      at = writeString(out, at, value);
    }
    const block = Buffer.allocUnsafe(at);
    out.copy(block, 0, 0, at);
    return block;
  }
}
