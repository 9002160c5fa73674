import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { encodeVarint, headerRevision, PbReader, rawVarintField, varintEnd, WIRE_LEN, WIRE_VARINT } from "./pb.js";

const buf = (m: Uint8Array): Buffer => Buffer.from(m.buffer, m.byteOffset, m.byteLength);

describe("PbReader", () => {
  it("walks varint and length-delimited fields and skips the ones not read", () => {
    const b = buf(
      etcdserverpb.PutRequest.encode(
        etcdserverpb.PutRequest.fromPartial({ key: Buffer.from("k1"), value: Buffer.from("value"), lease: 300n, prevKv: true }),
      ).finish(),
    );
    const r = new PbReader(b, 0, b.length);
    const seen: string[] = [];
    while (r.next()) {
      if (r.field === 2 && r.wire === WIRE_LEN) {
        const e = r.len();
        seen.push(`value=${b.toString("latin1", r.lenStart, e)}`);
      } else if (r.field === 3 && r.wire === WIRE_VARINT) {
        seen.push(`lease=${r.varint()}`);
      } else {
        seen.push(`skip ${r.field}`);
      }
    }
    expect(seen).toEqual(["skip 1", "value=value", "lease=300", "skip 4"]);
  });

  it("throws on truncated input instead of reading past the end", () => {
    const b = Buffer.from([0x0a, 0x05, 0x61]); // field 1, 5 bytes announced, 1 present
    const r = new PbReader(b, 0, b.length);
    expect(r.next()).toBe(true);
    expect(() => r.len()).toThrow(/truncated/);
    const v = new PbReader(Buffer.from([0x08, 0x80]), 0, 2);
    v.next();
    expect(() => v.varint()).toThrow(/truncated varint/);
    expect(() => new PbReader(Buffer.from([0x00]), 0, 1).next()).toThrow(/field number 0/);
  });

  it("refuses reading a field as the wrong type", () => {
    const r = new PbReader(Buffer.from([0x08, 0x01]), 0, 2);
    r.next();
    expect(() => r.len()).toThrow(/not length-delimited/);
  });
});

describe("varints", () => {
  it("encodeVarint matches protobuf's encoding and varintEnd finds its end", () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 53 - 1]) {
      const b = encodeVarint(v);
      const viaProto = buf(etcdserverpb.LeaseRevokeRequest.encode({ ID: BigInt(v) }).finish());
      if (v > 0) expect(Buffer.concat([Buffer.from([0x08]), b]).equals(viaProto)).toBe(true);
      expect(varintEnd(b, 0, b.length)).toBe(b.length);
    }
    expect(varintEnd(Buffer.from([0x80, 0x80]), 0, 2)).toBe(-1);
    expect(() => encodeVarint(-1)).toThrow();
  });

  it("rawVarintField returns the exact bytes of a full 64-bit lease ID", () => {
    const id = 0x7fedcba987654321n;
    const b = buf(etcdserverpb.LeaseGrantResponse.encode({ header: { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n }, ID: id, TTL: 60n, error: "" }).finish());
    const [s, e] = rawVarintField(b, 0, b.length, 2)!;
    const asRevoke = etcdserverpb.LeaseRevokeRequest.decode(Buffer.concat([Buffer.from([0x08]), b.subarray(s, e)]));
    expect(asRevoke.ID).toBe(id);
    expect(rawVarintField(b, 0, b.length, 9)).toBeUndefined();
  });

  it("headerRevision reads the revision of a response header", () => {
    const b = buf(etcdserverpb.PutResponse.encode({ header: { clusterId: 7n, memberId: 8n, revision: 123456789n, raftTerm: 2n }, prevKv: undefined }).finish());
    expect(headerRevision(b, 0, b.length)).toBe(123456789);
    expect(headerRevision(Buffer.alloc(0), 0, 0)).toBe(0);
  });
});
