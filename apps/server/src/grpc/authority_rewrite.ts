import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "./huffman_table.js";

/**
 * authority_rewrite.ts works around one incompatibility between Go's gRPC clients and Node's
 * HTTP/2: etcdctl 3.4's endpoint commands dial "passthrough:///http://host:port" and send
 * ":authority: http://host:port"; nghttp2 refuses a '/' in :authority (PROTOCOL_ERROR) where
 * Go's server accepts it. rewriteAuthority finds a literal :authority in an HTTP/2 HEADERS
 * frame's HPACK block and replaces each '/' by '_' (same length, so the HPACK dynamic tables
 * of client and server keep the same sizes). Later requests on the connection refer to the
 * table entry by index and so see the rewritten value too.
 */

const FRAME_HEADERS = 1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** AUTHORITY_INDEX is ":authority" in HPACK's static table. */
const AUTHORITY_INDEX = 1;

/** decodeInt reads an HPACK integer with an n-bit prefix at buf[at]; returns [value, next offset]. */
function decodeInt(buf: Buffer, at: number, n: number): [number, number] {
  const max = (1 << n) - 1;
  let v = (buf[at] as number) & max;
  at++;
  if (v < max) return [v, at];
  let shift = 0;
  for (;;) {
    if (at >= buf.length || shift > 28) throw new Error("hpack: bad integer");
    const b = buf[at++] as number;
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return [v, at];
  }
}

function encodeInt(v: number, n: number, firstBits: number): number[] {
  const max = (1 << n) - 1;
  if (v < max) return [firstBits | v];
  const out = [firstBits | max];
  v -= max;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

const huffmanByCode = new Map<string, number>();
HUFFMAN_CODES.forEach((code, sym) => huffmanByCode.set(`${HUFFMAN_LENGTHS[sym]}:${code}`, sym));

/** huffmanDecode decodes an HPACK Huffman string (throws on a bad code or padding). */
export function huffmanDecode(data: Buffer): Buffer {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of data) {
    for (let i = 7; i >= 0; i--) {
      code = code * 2 + ((byte >> i) & 1);
      len++;
      const sym = huffmanByCode.get(`${len}:${code}`);
      if (sym !== undefined) {
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len > 30) {
        throw new Error("hpack: bad Huffman code");
      }
    }
  }
  if (len > 7 || code !== 2 ** len - 1) throw new Error("hpack: bad Huffman padding");
  return Buffer.from(out);
}

/** huffmanEncode encodes bytes with HPACK's Huffman code (used by tests and for symmetry). */
export function huffmanEncode(data: Buffer): Buffer {
  const out: number[] = [];
  let acc = 0n;
  let bits = 0;
  for (const b of data) {
    acc = (acc << BigInt(HUFFMAN_LENGTHS[b] as number)) | BigInt(HUFFMAN_CODES[b] as number);
    bits += HUFFMAN_LENGTHS[b] as number;
    while (bits >= 8) {
      bits -= 8;
      out.push(Number((acc >> BigInt(bits)) & 0xffn));
    }
  }
  if (bits > 0) out.push(Number(((acc << BigInt(8 - bits)) | ((1n << BigInt(8 - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

/** readString reads an HPACK string literal at `at`: [value, start, end] of the whole literal. */
function readString(buf: Buffer, at: number): [Buffer, number] {
  const huffman = ((buf[at] as number) & 0x80) !== 0;
  const [len, start] = decodeInt(buf, at, 7);
  const end = start + len;
  if (end > buf.length) throw new Error("hpack: string past the block");
  const raw = buf.subarray(start, end);
  return [huffman ? huffmanDecode(raw) : Buffer.from(raw), end];
}

/**
 * rewriteBlock returns the header block with a literal :authority holding '/' rewritten, or
 * undefined when there is nothing to rewrite (or the block cannot be parsed: left alone).
 */
export function rewriteBlock(block: Buffer): Buffer | undefined {
  try {
    let at = 0;
    while (at < block.length) {
      const b = block[at] as number;
      if ((b & 0x80) !== 0) {
        at = decodeInt(block, at, 7)[1];
        continue;
      }
      if ((b & 0xe0) === 0x20) {
        at = decodeInt(block, at, 5)[1];
        continue;
      }
      const prefix = (b & 0x40) !== 0 ? 6 : 4;
      const [nameIndex, afterName] = decodeInt(block, at, prefix);
      let isAuthority = nameIndex === AUTHORITY_INDEX;
      let valueAt = afterName;
      if (nameIndex === 0) {
        const [name, end] = readString(block, afterName);
        isAuthority = name.toString("latin1") === ":authority";
        valueAt = end;
      }
      const [value, end] = readString(block, valueAt);
      if (isAuthority && value.includes(0x2f)) {
        const fixed = Buffer.from(value.toString("latin1").replace(/\//g, "_"), "latin1");
        const literal = Buffer.concat([Buffer.from(encodeInt(fixed.length, 7, 0)), fixed]);
        return Buffer.concat([block.subarray(0, valueAt), literal, block.subarray(end)]);
      }
      at = end;
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * rewriteHeadersFrame takes a whole HTTP/2 frame (9-byte header + payload) and returns it
 * with its :authority fixed, or the frame itself when it is not a complete HEADERS frame or
 * needs nothing.
 */
export function rewriteHeadersFrame(frame: Buffer): Buffer {
  const type = frame[3] as number;
  const flags = frame[4] as number;
  if (type !== FRAME_HEADERS || (flags & FLAG_END_HEADERS) === 0) return frame;
  const payload = frame.subarray(9);
  let start = 0;
  let padLen = 0;
  if ((flags & FLAG_PADDED) !== 0) {
    padLen = payload[0] as number;
    start = 1;
  }
  if ((flags & FLAG_PRIORITY) !== 0) start += 5;
  if (start + padLen > payload.length) return frame;
  const block = payload.subarray(start, payload.length - padLen);
  const fixed = rewriteBlock(block);
  if (fixed === undefined) return frame;
  const newPayload = Buffer.concat([payload.subarray(0, start), fixed, payload.subarray(payload.length - padLen)]);
  const head = Buffer.from(frame.subarray(0, 9));
  head.writeUIntBE(newPayload.length, 0, 3);
  return Buffer.concat([head, newPayload]);
}
