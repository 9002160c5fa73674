import { describe, expect, it } from "vitest";
import { HeaderListTooLarge, HpackDecoder, HpackEncoder, HpackError } from "./hpack.js";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "./huffman.js";

type Field = readonly [string, string];

/** hex turns "8286 84be" (whitespace ignored) into its octets. */
function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ""), "hex");
}

/** decodeAll decodes one block with dec and returns its fields in order. */
function decodeAll(dec: HpackDecoder, block: Buffer): Field[] {
  const out: Field[] = [];
  dec.decode(block, 0, block.length, (name, value) => out.push([name, value]));
  return out;
}

/**
 * dynamicTable reads dec's dynamic table, newest entry first, by decoding one indexed field per
 * index from 62 up until the index is past the table's end (indexed fields leave the table as it is).
 */
function dynamicTable(dec: HpackDecoder): Field[] {
  const entries: Field[] = [];
  for (let index = 62; ; index++) {
    const block = Buffer.from(int(7, 0x80, index));
    try {
      entries.push(...decodeAll(dec, block));
    } catch (err) {
      expect(err).toBeInstanceOf(HpackError);
      return entries;
    }
  }
}

/** tableSize is the size in octets the dynamic table entries account for (RFC 7541 Section 4.1). */
function tableSize(entries: readonly Field[]): number {
  return entries.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0);
}

/** int encodes an HPACK integer (RFC 7541 Section 5.1) with a prefixBits-bit prefix and the first octet's other bits `flags`. */
function int(prefixBits: number, flags: number, value: number): number[] {
  const max = 2 ** prefixBits - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** str encodes a string literal, raw or Huffman-coded. */
function str(s: string, huffman = false): number[] {
  if (!huffman) return [...int(7, 0, s.length), ...Buffer.from(s, "latin1")];
  const buf = Buffer.alloc(huffmanEncodedLength(s));
  expect(huffmanEncode(s, buf, 0)).toBe(buf.length);
  return [...int(7, 0x80, buf.length), ...buf];
}

/** literalIndexed encodes a literal with incremental indexing and a literal name. */
function literalIndexed(name: string, value: string): number[] {
  return [0x40, ...str(name), ...str(value)];
}

/** expectHpackError expects decoding block with dec to throw HpackError. */
function expectHpackError(dec: HpackDecoder, block: Buffer | number[]): void {
  const buf = Buffer.isBuffer(block) ? block : Buffer.from(block);
  expect(() => decodeAll(dec, buf)).toThrow(HpackError);
}

/** rng is a small seeded PRNG (mulberry32) so that random tests are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** randomLatin1 returns a string of len chars with codes drawn from [lo, hi]. */
function randomLatin1(next: () => number, len: number, lo = 0, hi = 255): string {
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(lo + Math.floor(next() * (hi - lo + 1)));
  return s;
}

/** STATIC is RFC 7541 Appendix A, written out independently of hpack.ts. */
const STATIC: readonly Field[] = [
  [":authority", ""], [":method", "GET"], [":method", "POST"], [":path", "/"], [":path", "/index.html"],
  [":scheme", "http"], [":scheme", "https"], [":status", "200"], [":status", "204"], [":status", "206"],
  [":status", "304"], [":status", "400"], [":status", "404"], [":status", "500"], ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"], ["accept-language", ""], ["accept-ranges", ""], ["accept", ""],
  ["access-control-allow-origin", ""], ["age", ""], ["allow", ""], ["authorization", ""], ["cache-control", ""],
  ["content-disposition", ""], ["content-encoding", ""], ["content-language", ""], ["content-length", ""],
  ["content-location", ""], ["content-range", ""], ["content-type", ""], ["cookie", ""], ["date", ""],
  ["etag", ""], ["expect", ""], ["expires", ""], ["from", ""], ["host", ""], ["if-match", ""],
  ["if-modified-since", ""], ["if-none-match", ""], ["if-range", ""], ["if-unmodified-since", ""],
  ["last-modified", ""], ["link", ""], ["location", ""], ["max-forwards", ""], ["proxy-authenticate", ""],
  ["proxy-authorization", ""], ["range", ""], ["referer", ""], ["refresh", ""], ["retry-after", ""],
  ["server", ""], ["set-cookie", ""], ["strict-transport-security", ""], ["transfer-encoding", ""],
  ["user-agent", ""], ["vary", ""], ["via", ""], ["www-authenticate", ""],
];

/** Step is one header block of an RFC 7541 Appendix C series and the state after it. */
interface Step {
  block: string;
  fields: Field[];
  /** table is the dynamic table after the block, newest first. */
  table: Field[];
  /** size is the table size the RFC gives, in octets. */
  size: number;
}

/** runSeries decodes the steps in order with one decoder of the given table size, checking each step's fields and table. */
function runSeries(maxTableSize: number, steps: readonly Step[]): void {
  const dec = new HpackDecoder(maxTableSize);
  for (const step of steps) {
    expect(decodeAll(dec, hex(step.block))).toEqual(step.fields);
    const table = dynamicTable(dec);
    expect(table).toEqual(step.table);
    expect(tableSize(table)).toBe(step.size);
  }
}

const DATE1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION = "https://www.example.com";
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

const REQUEST_FIELDS: Field[][] = [
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], ["cache-control", "no-cache"]],
  [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]],
];
const REQUEST_TABLES: Field[][] = [
  [[":authority", "www.example.com"]],
  [["cache-control", "no-cache"], [":authority", "www.example.com"]],
  [["custom-key", "custom-value"], ["cache-control", "no-cache"], [":authority", "www.example.com"]],
];
const RESPONSE_FIELDS: Field[][] = [
  [[":status", "302"], ["cache-control", "private"], ["date", DATE1], ["location", LOCATION]],
  [[":status", "307"], ["cache-control", "private"], ["date", DATE1], ["location", LOCATION]],
  [[":status", "200"], ["cache-control", "private"], ["date", DATE2], ["location", LOCATION], ["content-encoding", "gzip"], ["set-cookie", COOKIE]],
];
const RESPONSE_TABLES: Field[][] = [
  [["location", LOCATION], ["date", DATE1], ["cache-control", "private"], [":status", "302"]],
  [[":status", "307"], ["location", LOCATION], ["date", DATE1], ["cache-control", "private"]],
  [["set-cookie", COOKIE], ["content-encoding", "gzip"], ["date", DATE2]],
];

describe("HpackDecoder: RFC 7541 Appendix C", () => {
  it("C.2.1 literal header field with indexing", () => {
    runSeries(4096, [
      {
        block: "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        fields: [["custom-key", "custom-header"]],
        table: [["custom-key", "custom-header"]],
        size: 55,
      },
    ]);
  });

  it("C.2.2 literal header field without indexing", () => {
    runSeries(4096, [{ block: "040c 2f73 616d 706c 652f 7061 7468", fields: [[":path", "/sample/path"]], table: [], size: 0 }]);
  });

  it("C.2.3 literal header field never indexed", () => {
    runSeries(4096, [{ block: "1008 7061 7373 776f 7264 0673 6563 7265 74", fields: [["password", "secret"]], table: [], size: 0 }]);
  });

  it("C.2.4 indexed header field", () => {
    runSeries(4096, [{ block: "82", fields: [[":method", "GET"]], table: [], size: 0 }]);
  });

  it("C.3 requests without Huffman coding, the dynamic table carried across the three", () => {
    runSeries(4096, [
      { block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", fields: REQUEST_FIELDS[0]!, table: REQUEST_TABLES[0]!, size: 57 },
      { block: "8286 84be 5808 6e6f 2d63 6163 6865", fields: REQUEST_FIELDS[1]!, table: REQUEST_TABLES[1]!, size: 110 },
      {
        block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        fields: REQUEST_FIELDS[2]!,
        table: REQUEST_TABLES[2]!,
        size: 164,
      },
    ]);
  });

  it("C.4 requests with Huffman coding", () => {
    runSeries(4096, [
      { block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", fields: REQUEST_FIELDS[0]!, table: REQUEST_TABLES[0]!, size: 57 },
      { block: "8286 84be 5886 a8eb 1064 9cbf", fields: REQUEST_FIELDS[1]!, table: REQUEST_TABLES[1]!, size: 110 },
      {
        block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        fields: REQUEST_FIELDS[2]!,
        table: REQUEST_TABLES[2]!,
        size: 164,
      },
    ]);
  });

  it("C.5 responses without Huffman coding, a 256-octet table with evictions", () => {
    runSeries(256, [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                6c65 2e63 6f6d`,
        fields: RESPONSE_FIELDS[0]!,
        table: RESPONSE_TABLES[0]!,
        size: 222,
      },
      { block: "4803 3330 37c1 c0bf", fields: RESPONSE_FIELDS[1]!, table: RESPONSE_TABLES[1]!, size: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                3d31`,
        fields: RESPONSE_FIELDS[2]!,
        table: RESPONSE_TABLES[2]!,
        size: 215,
      },
    ]);
  });

  it("C.6 responses with Huffman coding, a 256-octet table with evictions", () => {
    runSeries(256, [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        fields: RESPONSE_FIELDS[0]!,
        table: RESPONSE_TABLES[0]!,
        size: 222,
      },
      { block: "4883 640e ffc1 c0bf", fields: RESPONSE_FIELDS[1]!, table: RESPONSE_TABLES[1]!, size: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        fields: RESPONSE_FIELDS[2]!,
        table: RESPONSE_TABLES[2]!,
        size: 215,
      },
    ]);
  });
});

describe("HpackDecoder", () => {
  it("decodes every static table entry by index", () => {
    const dec = new HpackDecoder();
    const block = Buffer.from(STATIC.map((_, i) => 0x80 | (i + 1)));
    expect(decodeAll(dec, block)).toEqual(STATIC);
    // A literal with each static name (0000xxxx, index continued past 15).
    for (let i = 1; i <= 61; i++) {
      expect(decodeAll(dec, Buffer.from([...int(4, 0x00, i), ...str("v")]))).toEqual([[STATIC[i - 1]![0], "v"]]);
    }
    expect(dynamicTable(dec)).toEqual([]);
  });

  it("decodes a block at an offset inside a larger buffer, reading nothing outside [start, end)", () => {
    const block = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    const framed = Buffer.concat([Buffer.from([0x80, 0x00]), block, Buffer.from([0x80, 0x40])]);
    const dec = new HpackDecoder();
    const out: Field[] = [];
    dec.decode(framed, 2, 2 + block.length, (n, v) => out.push([n, v]));
    expect(out).toEqual(REQUEST_FIELDS[0]);
    expect(dynamicTable(dec)).toEqual(REQUEST_TABLES[0]);
    dec.decode(framed, 5, 5, () => expect.unreachable());
    expect(() => dec.decode(framed, 2, framed.length + 1, () => {})).toThrow(RangeError);
  });

  it("decodes literals never indexed and without indexing with names from the dynamic table", () => {
    const dec = new HpackDecoder();
    decodeAll(dec, Buffer.from(literalIndexed("x-a", "1")));
    // 0001xxxx and 0000xxxx with name index 62 (x-a), 4-bit prefix continued.
    const block = Buffer.from([...int(4, 0x10, 62), ...str("2"), ...int(4, 0x00, 62), ...str("3", true)]);
    expect(decodeAll(dec, block)).toEqual([["x-a", "2"], ["x-a", "3"]]);
    // 01xxxxxx with name index 62 adds (x-a, 4) as the new newest entry.
    expect(decodeAll(dec, Buffer.from([0x40 | 62, ...str("4")]))).toEqual([["x-a", "4"]]);
    expect(dynamicTable(dec)).toEqual([["x-a", "4"], ["x-a", "1"]]);
  });

  it("evicts the oldest entries to make room, and empties the table for an entry larger than it", () => {
    const dec = new HpackDecoder(100);
    const v = (c: string) => c.repeat(7); // name 1 + value 7 + 32 = 40 octets
    decodeAll(dec, Buffer.from([...literalIndexed("a", v("1")), ...literalIndexed("b", v("2"))]));
    expect(dynamicTable(dec)).toEqual([["b", v("2")], ["a", v("1")]]);
    decodeAll(dec, Buffer.from(literalIndexed("c", v("3"))));
    expect(dynamicTable(dec)).toEqual([["c", v("3")], ["b", v("2")]]);
    // An entry of exactly the capacity (100 octets) evicts everything else.
    decodeAll(dec, Buffer.from(literalIndexed("d", "x".repeat(67))));
    expect(dynamicTable(dec)).toEqual([["d", "x".repeat(67)]]);
    // An entry one octet larger than the capacity empties the table; the field is still emitted.
    expect(decodeAll(dec, Buffer.from(literalIndexed("e", "x".repeat(68))))).toEqual([["e", "x".repeat(68)]]);
    expect(dynamicTable(dec)).toEqual([]);
    decodeAll(dec, Buffer.from([...literalIndexed("f", v("4")), ...literalIndexed("g", v("5"))]));
    expect(dynamicTable(dec)).toEqual([["g", v("5")], ["f", v("4")]]);
  });

  it("applies dynamic table size updates: shrinking evicts, growing back up to the maximum is allowed", () => {
    const dec = new HpackDecoder(4096);
    decodeAll(dec, hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"));
    decodeAll(dec, hex("8286 84be 5808 6e6f 2d63 6163 6865"));
    decodeAll(dec, hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"));
    expect(dynamicTable(dec)).toEqual(REQUEST_TABLES[2]);
    // A size update to the size of the newest two entries (54 + 53 = 107 octets) evicts the oldest.
    const two = tableSize(REQUEST_TABLES[2]!.slice(0, 2));
    expect(two).toBe(107);
    expect(decodeAll(dec, Buffer.from([...int(5, 0x20, two), 0x82]))).toEqual([[":method", "GET"]]);
    expect(dynamicTable(dec)).toEqual(REQUEST_TABLES[2]!.slice(0, 2));
    // Two updates in one block: to 0 (evicting everything) then back to 4096 (hex 3fe11f).
    expect(decodeAll(dec, hex("20 3fe11f"))).toEqual([]);
    expect(dynamicTable(dec)).toEqual([]);
    decodeAll(dec, Buffer.from(literalIndexed("k", "v")));
    expect(dynamicTable(dec)).toEqual([["k", "v"]]);
    // A table of size 0 keeps nothing.
    decodeAll(dec, Buffer.from([0x20, ...literalIndexed("k2", "v2")]));
    expect(dynamicTable(dec)).toEqual([]);
  });

  it("keeps a large dynamic table in order as it grows and wraps (against a model)", () => {
    const next = rng(7);
    const maxTableSize = 8192;
    const dec = new HpackDecoder(maxTableSize, Infinity);
    let model: Field[] = []; // newest first
    let capacity = maxTableSize;
    let longest = 0;
    const modelAdd = (f: Field) => {
      const size = f[0].length + f[1].length + 32;
      if (size > capacity) {
        model = [];
        return;
      }
      model.unshift(f);
      while (tableSize(model) > capacity) model.pop();
    };
    for (let round = 0; round < 300; round++) {
      const bytes: number[] = [];
      const want: Field[] = [];
      if (next() < 0.1) {
        capacity = Math.floor(next() * maxTableSize);
        bytes.push(...int(5, 0x20, capacity));
        while (tableSize(model) > capacity) model.pop();
      }
      const n = 1 + Math.floor(next() * 6);
      for (let i = 0; i < n; i++) {
        if (model.length > 0 && next() < 0.5) {
          const d = Math.floor(next() * model.length);
          bytes.push(...int(7, 0x80, 62 + d));
          want.push(model[d]!);
        } else {
          const f: Field = [`n${Math.floor(next() * 50)}`, randomLatin1(next, Math.floor(next() * 300))];
          bytes.push(0x40, ...str(f[0], next() < 0.5), ...str(f[1], next() < 0.5));
          want.push(f);
          modelAdd(f);
        }
      }
      expect(decodeAll(dec, Buffer.from(bytes))).toEqual(want);
      longest = Math.max(longest, model.length);
    }
    expect(dynamicTable(dec)).toEqual(model);
    expect(longest).toBeGreaterThan(16); // the ring grew past its first 16 slots
  });

  it("accepts integers up to 2^31 - 1 and rejects 2^31", () => {
    const max = 2 ** 31 - 1;
    const dec = new HpackDecoder(max);
    expect(decodeAll(dec, Buffer.from(int(5, 0x20, max)))).toEqual([]);
    expect(() => decodeAll(new HpackDecoder(max), Buffer.from(int(5, 0x20, 2 ** 31)))).toThrow(/integer 2147483648 above/);
    // Five continuation octets are allowed, even when the last ones are zero.
    expect(decodeAll(new HpackDecoder(4096), hex("3f 8080808000"))).toEqual([]);
  });
});

describe("HpackDecoder errors (HpackError: COMPRESSION_ERROR)", () => {
  it("rejects index 0", () => {
    expectHpackError(new HpackDecoder(), [0x80]);
  });

  it("rejects indices past the end of the table", () => {
    expectHpackError(new HpackDecoder(), [0x80 | 62]);
    expectHpackError(new HpackDecoder(), [...int(7, 0x80, 1000)]);
    expectHpackError(new HpackDecoder(), [0x40 | 62, ...str("v")]); // literal name index
    expectHpackError(new HpackDecoder(), [...int(4, 0x00, 62), ...str("v")]);
    expectHpackError(new HpackDecoder(), [...int(4, 0x10, 62), ...str("v")]);
    const dec = new HpackDecoder();
    decodeAll(dec, Buffer.from(literalIndexed("a", "b")));
    expect(decodeAll(dec, Buffer.from([0x80 | 62]))).toEqual([["a", "b"]]);
    expectHpackError(dec, [0x80 | 63]);
  });

  it("rejects a dynamic table size update above the advertised maximum", () => {
    expect(decodeAll(new HpackDecoder(4096), hex("3fe11f"))).toEqual([]); // 4096
    expectHpackError(new HpackDecoder(4096), hex("3fe21f")); // 4097
    expectHpackError(new HpackDecoder(256), int(5, 0x20, 257));
    expectHpackError(new HpackDecoder(0), [0x21]);
  });

  it("rejects a dynamic table size update after a header field, or a third one", () => {
    expectHpackError(new HpackDecoder(), [0x82, 0x20]);
    expectHpackError(new HpackDecoder(), [0x20, 0x82, 0x20]);
    expectHpackError(new HpackDecoder(), [0x20, 0x20, 0x20]);
    expect(decodeAll(new HpackDecoder(), Buffer.from([0x20, 0x20, 0x82]))).toEqual([[":method", "GET"]]);
  });

  it("rejects a block that ends inside a field", () => {
    const cases: number[][] = [
      [0x40], // literal with indexing: no name
      [0x40, 0x0a, 0x63], // name shorter than its length
      [0x40, ...str("name")], // no value
      [0x44], // indexed name, no value
      [0x04, 0x0c, 0x2f], // value shorter than its length
      [0x0f], // index continuation missing
      [0x0f, 0x80], // index continuation cut short
      [0xff], // indexed field continuation missing
      [0x3f], // size update continuation missing
      [0x00, ...str("name"), 0x7f], // value length continuation missing
      [0x00, ...str("name"), 0x02, 0x61], // value one octet short of its length
      [0x00, ...str("name"), ...str("value", true).slice(0, 3)], // Huffman value cut short
    ];
    for (const c of cases) expectHpackError(new HpackDecoder(), c);
  });

  it("rejects integer overflow: above 2^31 - 1 or more than five continuation octets", () => {
    expectHpackError(new HpackDecoder(), hex("ff ffffffff0f"));
    expectHpackError(new HpackDecoder(), hex("ff 8080808080 00"));
    expectHpackError(new HpackDecoder(), hex("3f 8080808080 00")); // a size update to 31, over-long
    expectHpackError(new HpackDecoder(), hex("3f ffffffffffffffff7f"));
    expectHpackError(new HpackDecoder(), [0x00, ...hex("7f ffffffff7f"), 0x61]); // string length
  });

  it("rejects invalid Huffman-coded string literals", () => {
    // "a" is 00011: padded as 0x1f; 0x18 pads with zeros; 0x1f 0xff pads with 11 bits.
    expect(decodeAll(new HpackDecoder(), Buffer.from([0x00, 0x81, 0x1f, 0x00]))).toEqual([["a", ""]]);
    expectHpackError(new HpackDecoder(), [0x00, 0x81, 0x18, 0x00]);
    expectHpackError(new HpackDecoder(), [0x00, 0x82, 0x1f, 0xff, 0x00]);
    expectHpackError(new HpackDecoder(), [0x00, ...str("n"), 0x84, 0xff, 0xff, 0xff, 0xff]); // EOS
  });
});

describe("HpackDecoder header list limit", () => {
  it("counts name + value + 32 octets per field, the limit itself allowed", () => {
    // (":method", "GET") counts 7 + 3 + 32 = 42 octets.
    expect(decodeAll(new HpackDecoder(4096, 42), Buffer.from([0x82]))).toEqual([[":method", "GET"]]);
    expect(decodeAll(new HpackDecoder(4096, 84), Buffer.from([0x82, 0x82]))).toHaveLength(2);
    expect(() => decodeAll(new HpackDecoder(4096, 41), Buffer.from([0x82]))).toThrow(HeaderListTooLarge);
    expect(() => decodeAll(new HpackDecoder(4096, 83), Buffer.from([0x82, 0x82]))).toThrow(HeaderListTooLarge);
  });

  it("throws HeaderListTooLarge after the whole block, with the dynamic table still in sync", () => {
    const dec = new HpackDecoder(4096, 120);
    const big = "b".repeat(80); // ("x-big", big) counts 5 + 80 + 32 = 117: 42 + 117 > 120
    const block = Buffer.from([0x82, ...literalIndexed("x-big", big), ...literalIndexed("x-after", "v"), 0x84]);
    const seen: Field[] = [];
    let thrown: unknown;
    try {
      dec.decode(block, 0, block.length, (n, v) => seen.push([n, v]));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HeaderListTooLarge);
    expect(thrown).not.toBeInstanceOf(HpackError);
    // onHeader saw only the fields before the limit: not the small ones after it either.
    expect(seen).toEqual([[":method", "GET"]]);
    // Both literals were added: a following block refers to them.
    expect(decodeAll(dec, Buffer.from([0x80 | 63]))).toEqual([["x-big", big]]);
    expect(decodeAll(dec, Buffer.from([0x80 | 62, 0x82]))).toEqual([["x-after", "v"], [":method", "GET"]]);
    expect(dynamicTable(dec)).toEqual([["x-after", "v"], ["x-big", big]]);
  });

  it("still rejects malformed input past the limit with HpackError", () => {
    const dec = new HpackDecoder(4096, 42);
    expectHpackError(dec, [0x82, 0x82, 0x80]);
  });
});

describe("HpackEncoder", () => {
  const enc = new HpackEncoder();

  it("uses an indexed field when name and value match a static entry", () => {
    expect(enc.encode([[":method", "GET"]])).toEqual(hex("82"));
    expect(enc.encode([[":status", "200"], [":status", "500"], ["accept-encoding", "gzip, deflate"]])).toEqual(hex("88 8e 90"));
    expect(enc.encode([["content-type", ""]])).toEqual(hex("9f"));
    expect(enc.encode([])).toEqual(Buffer.alloc(0));
  });

  it("uses a literal without indexing with an indexed name when only the name matches", () => {
    // RFC 7541 C.4.1 and C.6.1 give the Huffman codings of these values.
    expect(enc.encode([[":authority", "www.example.com"]])).toEqual(hex("01 8c f1e3 c2e5 f23a 6ba0 ab90 f4ff"));
    expect(enc.encode([[":status", "302"]])).toEqual(hex("08 82 6402"));
    expect(enc.encode([["location", LOCATION]])).toEqual(hex("0f1f 91 9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"));
    // Index 31 continues past the 4-bit prefix; "0" is not shorter in Huffman (5 bits = 1 octet).
    expect(enc.encode([["content-type", "0"]])).toEqual(hex("0f10 01 30"));
  });

  it("uses a literal without indexing with a literal name otherwise", () => {
    expect(enc.encode([["a", "b"]])).toEqual(hex("00 01 61 01 62"));
    const block = enc.encode([["custom-key", "custom-value"]]);
    // RFC 7541 C.4.3 gives the Huffman codings of both strings.
    expect(block).toEqual(hex("00 88 25a8 49e9 5ba9 7d7f 89 25a8 49e9 5b b8e8 b4bf"));
  });

  it("round-trips through the decoder, leaving its dynamic table empty", () => {
    const fields: Field[] = [
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["grpc-status", "0"],
      ["grpc-message", ""],
      ["x-empty", ""],
      ["x-latin1", "\x80\x81\xfe\xff caf\xe9"],
      ["x-all", Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("")],
      ["x-127", "a".repeat(127)],
      ["x-128", "\xff".repeat(128)],
      ["x-long", "long value ".repeat(2000)],
      ["x" + "n".repeat(200), "v"],
      [":authority", "www.example.com"],
      ["user-agent", "grpc-go/1.60.0"],
    ];
    const block = enc.encode(fields);
    const dec = new HpackDecoder(4096, Infinity);
    expect(decodeAll(dec, block)).toEqual(fields);
    expect(dynamicTable(dec)).toEqual([]);
  });

  it("round-trips random fields", () => {
    const next = rng(42);
    const dec = new HpackDecoder(4096, Infinity);
    for (let round = 0; round < 200; round++) {
      const fields: Field[] = [];
      const n = Math.floor(next() * 8);
      for (let i = 0; i < n; i++) {
        const r = next();
        if (r < 0.2) fields.push(STATIC[Math.floor(next() * STATIC.length)]!);
        else if (r < 0.4) fields.push([STATIC[Math.floor(next() * STATIC.length)]![0], randomLatin1(next, Math.floor(next() * 40))]);
        else fields.push([randomLatin1(next, 1 + Math.floor(next() * 20), 0x61, 0x7a), randomLatin1(next, Math.floor(next() * 300))]);
      }
      expect(decodeAll(dec, enc.encode(fields))).toEqual(fields);
    }
  });

  it("returns a block of its own, not a view that the next encode overwrites", () => {
    const a = enc.encode([["x-a", "1"]]);
    const copy = Buffer.from(a);
    enc.encode([["x-b", "22222222"]]);
    expect(a).toEqual(copy);
  });
});

describe("Huffman code", () => {
  /** roundTrip encodes s and decodes it back, checking the encoded length. */
  function roundTrip(s: string): string {
    const n = huffmanEncodedLength(s);
    const buf = Buffer.alloc(n + 4, 0xaa);
    expect(huffmanEncode(s, buf, 2)).toBe(2 + n);
    expect(buf[0]).toBe(0xaa);
    expect(buf[n + 2]).toBe(0xaa);
    return huffmanDecode(buf, 2, 2 + n);
  }

  it("decodes and encodes the RFC 7541 Appendix C strings", () => {
    const vectors: [string, string][] = [
      ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
      ["no-cache", "a8eb 1064 9cbf"],
      ["custom-key", "25a8 49e9 5ba9 7d7f"],
      ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
      ["302", "6402"],
      ["307", "640e ff"],
      ["private", "aec3 771a 4b"],
      [DATE1, "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
      [DATE2, "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff"],
      [LOCATION, "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
      ["gzip", "9bd9 ab"],
      [COOKIE, "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"],
    ];
    for (const [s, h] of vectors) {
      const coded = hex(h);
      expect(huffmanDecode(coded, 0, coded.length)).toBe(s);
      expect(huffmanEncodedLength(s)).toBe(coded.length);
      const out = Buffer.alloc(coded.length);
      expect(huffmanEncode(s, out, 0)).toBe(coded.length);
      expect(out).toEqual(coded);
    }
    expect(huffmanDecode(Buffer.alloc(0), 0, 0)).toBe("");
    expect(huffmanEncodedLength("")).toBe(0);
  });

  it("round-trips every octet value, alone and all together", () => {
    for (let c = 0; c < 256; c++) {
      const s = String.fromCharCode(c);
      expect(roundTrip(s)).toBe(s);
      expect(roundTrip(s.repeat(9))).toBe(s.repeat(9));
    }
    const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
    expect(roundTrip(all)).toBe(all);
    expect(roundTrip(all.split("").reverse().join(""))).toBe(all.split("").reverse().join(""));
  });

  it("round-trips random strings", () => {
    const next = rng(1);
    for (let i = 0; i < 500; i++) {
      const len = Math.floor(next() * 200);
      const s = next() < 0.5 ? randomLatin1(next, len) : randomLatin1(next, len, 0x20, 0x7e);
      expect(roundTrip(s)).toBe(s);
    }
    const long = randomLatin1(next, 100_000);
    expect(roundTrip(long)).toBe(long);
  });

  it("rejects padding longer than 7 bits", () => {
    expect(() => huffmanDecode(hex("ff"), 0, 1)).toThrow(HpackError);
    expect(() => huffmanDecode(hex("1f ff"), 0, 2)).toThrow(HpackError); // "a" + 11 bits of ones
    expect(() => huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff ff"), 0, 13)).toThrow(HpackError);
    expect(huffmanDecode(hex("1f"), 0, 1)).toBe("a"); // "a" + 3 bits of ones
    // "aaaaa" is 25 bits: 7 bits of padding are allowed, 15 are not.
    expect(huffmanDecode(hex("18c6 31ff"), 0, 4)).toBe("aaaaa");
    expect(() => huffmanDecode(hex("18c6 31ff ff"), 0, 5)).toThrow(HpackError);
  });

  it("rejects padding that is not all ones", () => {
    expect(() => huffmanDecode(hex("18"), 0, 1)).toThrow(HpackError); // "a" + 000
    expect(() => huffmanDecode(hex("1e"), 0, 1)).toThrow(HpackError); // "a" + 110
    expect(() => huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4fe"), 0, 12)).toThrow(HpackError);
    // A symbol cut short (the first 8 of the 10 bits of "!", 1111111000) is not padding either.
    expect(() => huffmanDecode(hex("fe"), 0, 1)).toThrow(HpackError);
  });

  it("rejects EOS inside a string", () => {
    expect(() => huffmanDecode(hex("ffff ffff"), 0, 4)).toThrow(HpackError); // EOS + 2 ones
    expect(() => huffmanDecode(hex("ffff fffc"), 0, 4)).toThrow(HpackError); // EOS + 00
    expect(() => huffmanDecode(hex("1fff ffff ff"), 0, 5)).toThrow(HpackError); // "a", EOS, padding
  });

  it("decodes only [start, end) and rejects a range outside the buffer", () => {
    const buf = hex("ff 1f ff");
    expect(huffmanDecode(buf, 1, 2)).toBe("a");
    expect(() => huffmanDecode(buf, 2, 4)).toThrow(RangeError);
    expect(() => huffmanDecode(buf, 2, 1)).toThrow(RangeError);
  });
});
