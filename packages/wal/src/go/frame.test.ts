import { crc32c } from "@node-rs/crc32";
import { etcdwalpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { GoRecordEncoder, decodeGoFrameSize, frameGoRecord, isGoTornEntry } from "./frame.js";
import { GO_WAL_RECORD_TYPES } from "./record_types.js";

describe("Go WAL framing", () => {
  it("opens a first file with the 16 bytes every Go etcd WAL starts with", () => {
    // crc record {type: 4, crc: 0}: 08 04 10 00, padded to 8 bytes; length word 4 with pad bit and 4 pad bytes.
    const frame = new GoRecordEncoder(0).encodeCrc();
    expect(frame.toString("hex")).toBe("0400000000000084" + "0804100000000000");
  });

  it("leaves the top byte zero when the record is a multiple of 8 bytes", () => {
    const rec = Buffer.alloc(16, 1);
    const frame = frameGoRecord(rec);
    expect(frame.length).toBe(24);
    expect(frame.subarray(0, 8).toString("hex")).toBe("1000000000000000");
    expect(decodeGoFrameSize(frame, 0)).toEqual({ recBytes: 16, padBytes: 0 });
  });

  it("round-trips every padding size", () => {
    for (let n = 1; n <= 17; n++) {
      const frame = frameGoRecord(Buffer.alloc(n, 7));
      expect(frame.length % 8).toBe(0);
      const { recBytes, padBytes } = decodeGoFrameSize(frame, 0);
      expect(recBytes).toBe(n);
      expect(padBytes).toBe((8 - (n % 8)) % 8);
      expect(frame.length).toBe(8 + recBytes + padBytes);
    }
  });

  it("chains the CRC-32C over record data and carries it in the next crc record", () => {
    const enc = new GoRecordEncoder(0);
    const a = Buffer.from("metadata");
    const b = Buffer.from("entry");
    enc.encodeCrc();
    const fa = enc.encode(GO_WAL_RECORD_TYPES.metadata, a);
    const fb = enc.encode(GO_WAL_RECORD_TYPES.entry, b);
    const ra = etcdwalpb.Record.decode(fa.subarray(8, 8 + decodeGoFrameSize(fa, 0).recBytes));
    const rb = etcdwalpb.Record.decode(fb.subarray(8, 8 + decodeGoFrameSize(fb, 0).recBytes));
    expect(ra.crc).toBe(crc32c(a));
    expect(rb.crc).toBe(crc32c(Buffer.concat([a, b])));
    const next = new GoRecordEncoder(enc.crc).encodeCrc();
    const rc = etcdwalpb.Record.decode(next.subarray(8, 8 + decodeGoFrameSize(next, 0).recBytes));
    expect(rc).toEqual({ type: 4n, crc: enc.crc, data: undefined });
  });

  it("marshals a record as Go does: type and crc always, data when present", () => {
    const frame = new GoRecordEncoder(0).encode(GO_WAL_RECORD_TYPES.metadata, Buffer.from([8, 1, 16, 2]));
    const crc = crc32c(Buffer.from([8, 1, 16, 2]));
    const varint: number[] = [];
    for (let v = crc; ; v = Math.floor(v / 128)) {
      if (v < 128) {
        varint.push(v);
        break;
      }
      varint.push((v % 128) | 0x80);
    }
    const rec = Buffer.from([0x08, 0x01, 0x10, ...varint, 0x1a, 0x04, 8, 1, 16, 2]);
    expect(frame.subarray(8, 8 + rec.length)).toEqual(rec);
  });

  it("calls a record torn when one of its 512-byte sectors is all zeros", () => {
    // A record at file offset 504 + 8 = 512 spanning two sectors, the second zeroed.
    const data = Buffer.alloc(1024, 1);
    data.fill(0, 512);
    expect(isGoTornEntry(data, 512)).toBe(true);
    expect(isGoTornEntry(Buffer.alloc(1024, 1), 512)).toBe(false);
    // Sectors follow the file offset: at 508 the first piece is 4 bytes long.
    const d2 = Buffer.alloc(100, 1);
    d2.fill(0, 0, 4);
    expect(isGoTornEntry(d2, 508)).toBe(true);
    expect(isGoTornEntry(d2, 500)).toBe(false);
  });
});
