import { describe, expect, it } from "vitest";
import { huffmanDecode, huffmanEncode, rewriteBlock, rewriteHeadersFrame } from "./authority_rewrite.js";

/** frame builds an HTTP/2 frame: 3-byte length, type, flags, stream 1. */
function frame(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(1, 5);
  return Buffer.concat([h, payload]);
}

/** literal is an HPACK "literal with incremental indexing, indexed name" field. */
function literal(nameIndex: number, value: string, huffman: boolean): Buffer {
  const v = huffman ? huffmanEncode(Buffer.from(value)) : Buffer.from(value);
  return Buffer.concat([Buffer.from([0x40 | nameIndex, (huffman ? 0x80 : 0) | v.length]), v]);
}

describe("authority rewrite", () => {
  it("Huffman-decodes what it encodes, for every byte value", () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(huffmanDecode(huffmanEncode(all)).equals(all)).toBe(true);
    expect(huffmanDecode(huffmanEncode(Buffer.from("http://127.0.0.1:2379"))).toString()).toBe("http://127.0.0.1:2379");
  });

  it("replaces '/' in a literal :authority (Huffman or not) keeping its length", () => {
    for (const huffman of [true, false]) {
      // :method POST (indexed 3), :scheme http (indexed 6), :path literal, :authority literal.
      const block = Buffer.concat([Buffer.from([0x83, 0x86]), literal(4, "/etcdserverpb.Maintenance/Status", huffman), literal(1, "http://127.0.0.1:2379", huffman)]);
      const fixed = rewriteBlock(block);
      expect(fixed).toBeDefined();
      const out = frame(1, 0x4 | 0x1, fixed as Buffer);
      const got = rewriteHeadersFrame(frame(1, 0x4 | 0x1, block));
      expect(got.equals(out)).toBe(true);
      // The :path literal is untouched; the authority became "http:__127.0.0.1:2379".
      expect((fixed as Buffer).includes(Buffer.from("http:__127.0.0.1:2379"))).toBe(true);
      expect((fixed as Buffer).subarray(0, 2 + literal(4, "/etcdserverpb.Maintenance/Status", huffman).length).equals(block.subarray(0, 2 + literal(4, "/etcdserverpb.Maintenance/Status", huffman).length))).toBe(true);
    }
  });

  it("leaves frames alone when nothing needs fixing", () => {
    const ok = frame(1, 0x4, Buffer.concat([Buffer.from([0x83]), literal(1, "127.0.0.1:2379", true)]));
    expect(rewriteHeadersFrame(ok)).toBe(ok);
    const data = frame(0, 0, Buffer.from("http://x"));
    expect(rewriteHeadersFrame(data)).toBe(data);
    const continued = frame(1, 0, literal(1, "http://x:1", false)); // no END_HEADERS: CONTINUATION follows
    expect(rewriteHeadersFrame(continued)).toBe(continued);
  });

  it("handles padded frames with a priority block", () => {
    const block = literal(1, "http://h:1", false);
    const payload = Buffer.concat([Buffer.from([3]), Buffer.alloc(5), block, Buffer.alloc(3)]);
    const got = rewriteHeadersFrame(frame(1, 0x4 | 0x8 | 0x20, payload));
    expect(got.subarray(9).equals(Buffer.concat([Buffer.from([3]), Buffer.alloc(5), literal(1, "http:__h:1", false), Buffer.alloc(3)]))).toBe(true);
  });
});
