/**
 * huffman.ts: the HPACK static Huffman code (RFC 7541 Section 5.2, Appendix B): a table-driven
 * decoder that consumes one input octet per step, and an encoder.
 *
 * Strings are latin1: each char code 0..255 is one octet (a char code above 255 is encoded as its
 * low 8 bits, as Buffer's "latin1" encoding does).
 */

/**
 * HpackError is a COMPRESSION_ERROR: the connection must end (RFC 7540 Section 4.3). It is
 * declared here (hpack.ts re-exports it) so that huffman.ts and hpack.ts do not import each other.
 */
export class HpackError extends Error {
  override name = "HpackError";
}

/**
 * CODES holds, for each octet value 0..255, its Huffman code right-aligned in the low LENGTHS[i]
 * bits (RFC 7541 Appendix B). EOS (symbol
 * 256, 30 one bits) is not listed: the decoder adds it.
 */
const CODES = Uint32Array.from([
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
]);

/** LENGTHS holds, for each octet value 0..255, the length of its Huffman code in bits (5..30). */
const LENGTHS = Uint8Array.from([
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
]);

/** EOS is the end-of-string symbol (RFC 7541 Section 5.2): 30 one bits, never valid inside a string. */
const EOS = 256;

/**
 * FAIL is set in a DECODE entry when the step's bits complete the EOS symbol: the string is invalid.
 * The other fields of that entry are meaningless.
 */
const FAIL = 1 << 26;

/**
 * buildTree builds the code tree over the 257 symbols (the 256 octets and EOS). Internal nodes are
 * numbered 0..255 (0 is the root, the node of the empty prefix); child[2 * node + bit] is the
 * child's node number when >= 0, or -(symbol + 1) for a leaf. Throws when the tables are not a
 * complete prefix code (a check on the data above, run once at module load).
 */
function buildTree(): Int32Array {
  const unset = 0x7fffffff;
  const child = new Int32Array(2 * 256).fill(unset);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = sym === EOS ? 0x3fffffff : CODES[sym]!;
    const len = sym === EOS ? 30 : LENGTHS[sym]!;
    let node = 0;
    for (let i = len - 1; i > 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      let next = child[slot]!;
      if (next === unset) {
        if (nodes === 256) throw new Error("huffman: more than 256 internal nodes");
        next = nodes++;
        child[slot] = next;
      } else if (next < 0) {
        throw new Error(`huffman: the code of ${sym} extends another symbol's code`);
      }
      node = next;
    }
    const slot = 2 * node + (code & 1);
    if (child[slot] !== unset) throw new Error(`huffman: the code of ${sym} is a prefix of another`);
    child[slot] = -(sym + 1);
  }
  if (nodes !== 256 || child.includes(unset)) throw new Error("huffman: the code is not complete");
  return child;
}

/**
 * DECODE is the decoder's transition table: DECODE[state << 8 | octet] is the result of feeding the
 * octet's 8 bits (most significant first) to the decoder in state `state`, a state being an
 * internal node of the code tree (the bits read since the last complete symbol). Entry layout:
 * bits 0-7 the next state, bits 8-15 the first symbol completed, bits 16-23 the second, bits 24-25
 * how many symbols were completed (0..2: every code is at least 5 bits long, so 8 bits complete at
 * most two), bit 26 FAIL. 65536 entries (256 KiB), built once at module load.
 */
const DECODE = new Int32Array(256 * 256);

/**
 * ACCEPT[state] is 1 when a string may end in `state`: the bits since the last complete symbol
 * are at most 7 one bits (a prefix of EOS: valid padding, RFC 7541 Section 5.2), else 0.
 */
const ACCEPT = new Uint8Array(256);

{
  const child = buildTree();
  for (let state = 0; state < 256; state++) {
    for (let octet = 0; octet < 256; octet++) {
      let node = state;
      let count = 0;
      let syms = 0;
      let fail = 0;
      for (let bit = 7; bit >= 0; bit--) {
        const next = child[2 * node + ((octet >>> bit) & 1)]!;
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = -next - 1;
        if (sym === EOS) {
          fail = FAIL;
          break;
        }
        syms |= sym << (8 * count);
        count++;
        node = 0;
      }
      DECODE[(state << 8) | octet] = node | (syms << 8) | (count << 24) | fail;
    }
  }
  let node = 0;
  ACCEPT[node] = 1;
  for (let depth = 1; depth <= 7; depth++) {
    node = child[2 * node + 1]!;
    ACCEPT[node] = 1;
  }
}

/** Latin1Buffer is Buffer with the latin1 methods Node has but @types/node does not declare. */
interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
}

/** latin1Slice returns buf[start, end) as a latin1 string (one char per octet). */
const latin1Slice: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as unknown as Partial<Latin1Buffer>).latin1Slice === "function"
    ? (buf, start, end) => (buf as unknown as Latin1Buffer).latin1Slice(start, end)
    : (buf, start, end) => buf.toString("latin1", start, end);

/** SCRATCH_KEEP is the largest decode scratch buffer kept between calls, in octets; larger strings get a one-off buffer. */
const SCRATCH_KEEP = 64 * 1024;

/** scratch receives decoded octets before they become a string; reused across calls (decoding is synchronous). */
let scratch = Buffer.allocUnsafe(1024);

/**
 * huffmanDecode decodes the Huffman-coded octets buf[start, end) and returns them as a latin1
 * string (one char per decoded octet). Throws HpackError when the string contains EOS, or ends in
 * more than 7 bits of padding, or in padding that is not all ones (RFC 7541 Section 5.2); throws
 * RangeError when [start, end) is not within buf.
 */
export function huffmanDecode(buf: Buffer, start: number, end: number): string {
  if (start < 0 || end > buf.length || start > end) {
    throw new RangeError(`huffmanDecode: [${start}, ${end}) is not within a buffer of ${buf.length} octets`);
  }
  // Every code is at least 5 bits: n octets decode to at most 8n/5 octets; each step writes two
  // octets (the second maybe a placeholder) before advancing by the number completed.
  const need = Math.floor(((end - start) * 8) / 5) + 2;
  let out = scratch;
  if (out.length < need) {
    out = Buffer.allocUnsafe(need);
    if (need <= SCRATCH_KEEP) scratch = out;
  }
  let state = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    const e = DECODE[(state << 8) | buf[i]!]!;
    if ((e & FAIL) !== 0) throw new HpackError("hpack: Huffman-coded string contains EOS");
    out[o] = e >>> 8;
    out[o + 1] = e >>> 16;
    o += e >>> 24;
    state = e & 0xff;
  }
  if (ACCEPT[state] === 0) {
    throw new HpackError("hpack: Huffman-coded string ends in padding that is longer than 7 bits or not all ones");
  }
  return latin1Slice(out, 0, o);
}

/**
 * huffmanEncodedLength returns the length in octets of the Huffman coding of s (padding
 * included). Each char is taken as the octet of its low 8 bits.
 */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += LENGTHS[s.charCodeAt(i) & 0xff]!;
  return Math.ceil(bits / 8);
}

/**
 * huffmanEncode writes the Huffman coding of s (each char taken as the octet of its low 8 bits),
 * padded with one bits to an octet boundary, to out starting at offset `at`, and returns the
 * offset after it. The caller ensures out has huffmanEncodedLength(s) octets free from `at`.
 */
export function huffmanEncode(s: string, out: Buffer, at: number): number {
  // cur holds the nbits pending bits, right-aligned: 0..7 bits between chars, so that shifting in
  // a code of at most 24 bits keeps it within 31 bits.
  let cur = 0;
  let nbits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    let code = CODES[c]!;
    let len = LENGTHS[c]!;
    if (len > 24) {
      // Emit the top len - 24 (at most 6) bits first so that cur stays within 31 bits.
      const high = len - 24;
      cur = (cur << high) | (code >>> 24);
      nbits += high;
      if (nbits >= 8) {
        nbits -= 8;
        out[at++] = cur >>> nbits;
        cur &= (1 << nbits) - 1;
      }
      code &= 0xffffff;
      len = 24;
    }
    cur = (cur << len) | code;
    nbits += len;
    while (nbits >= 8) {
      nbits -= 8;
      out[at++] = cur >>> nbits;
    }
    cur &= (1 << nbits) - 1;
  }
  if (nbits > 0) out[at++] = (cur << (8 - nbits)) | (0xff >>> nbits);
  return at;
}
