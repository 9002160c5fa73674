import { describe, expect, it } from "vitest";
import { HEADER_SIZE, RecordBatch, RecordType, decodeRecord, findRecordAfter, isZero, recordSize } from "./record.js";

function batchOf(bodies: string[], offset = 0): Buffer {
  const b = new RecordBatch();
  for (const s of bodies) {
    b.add(RecordType.Entry, Buffer.from(s));
  }
  return b.encode(offset);
}

describe("record framing", () => {
  it("round-trips records of every padding length", () => {
    const bodies = ["", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh", "abcdefghi"];
    const buf = batchOf(bodies);
    expect(buf.length).toBe(bodies.reduce((n, s) => n + recordSize(s.length), 0));
    let at = 0;
    for (const s of bodies) {
      expect(at % 8).toBe(0);
      const r = decodeRecord(buf, at);
      if (!r.ok) throw new Error(r.reason);
      expect(r.type).toBe(RecordType.Entry);
      expect(r.body.toString()).toBe(s);
      at = r.end;
    }
    expect(at).toBe(buf.length);
  });

  it("binds a record to the offset it was written at", () => {
    const rec = batchOf(["payload"], 0);
    const moved = Buffer.concat([Buffer.alloc(8), rec]);
    expect(decodeRecord(moved, 8)).toMatchObject({ ok: false, reason: "record header checksum mismatch" });
    const placed = Buffer.concat([Buffer.alloc(8), batchOf(["payload"], 8)]);
    expect(decodeRecord(placed, 8).ok).toBe(true);
  });

  it("never reads zeros as a record", () => {
    const zeros = Buffer.alloc(64);
    expect(decodeRecord(zeros, 0).ok).toBe(false);
    expect(findRecordAfter(zeros, 0)).toBe(-1);
    expect(isZero(zeros, 0)).toBe(true);
  });

  it("reports short headers, short bodies, bad checksums and padding", () => {
    const buf = batchOf(["hello"]);
    expect(decodeRecord(buf.subarray(0, HEADER_SIZE - 1), 0)).toMatchObject({ ok: false, intact: false });
    expect(decodeRecord(buf.subarray(0, HEADER_SIZE + 2), 0)).toMatchObject({ ok: false, intact: false });
    const body = Buffer.from(buf);
    body[HEADER_SIZE]! ^= 1;
    expect(decodeRecord(body, 0)).toMatchObject({ ok: false, reason: "record body checksum mismatch" });
    const pad = Buffer.from(buf);
    pad[buf.length - 1] = 1;
    expect(decodeRecord(pad, 0)).toMatchObject({ ok: false, reason: "non-zero record padding" });
  });

  it("finds the next valid record past a damaged one", () => {
    const buf = batchOf(["first record", "second"]);
    const second = recordSize("first record".length);
    buf[3]! ^= 0x80; // length field of the first record
    expect(decodeRecord(buf, 0).ok).toBe(false);
    expect(findRecordAfter(buf, 0)).toBe(second);
    expect(findRecordAfter(buf, second)).toBe(-1);
  });

  it("rejects unaligned batch offsets", () => {
    const b = new RecordBatch();
    b.add(RecordType.Metadata, Buffer.from("m"));
    expect(() => b.encode(4)).toThrow(/aligned/);
  });
});
