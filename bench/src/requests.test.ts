import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import {
  benchKey,
  benchValue,
  DEFRAG_PREFIX,
  encodeLeaseGrant,
  encodeLeaseRevoke,
  encodePrefixedPuts,
  encodePrefixRange,
  encodeRequests,
  encodeWatchCreate,
  LEASE_PREFIX,
  methodPath,
  prefixedKey,
  prefixEnd,
  PUT_PATH,
  RANGE_ALL_PREFIX,
  RANGE_PATH,
  SNAPSHOT_PREFIX,
  WATCH_PREFIX,
  withLease,
} from "./requests.js";

const shape = { keySpace: 20, keySize: 8, valueSize: 256 };

describe("requests", () => {
  it("benchKey zero-pads to the key size and refuses keys that do not fit", () => {
    expect(benchKey(42, 8).toString()).toBe("00000042");
    expect(benchKey(0, 1).toString()).toBe("0");
    expect(() => benchKey(100, 2)).toThrow(/does not fit/);
  });

  it("benchValue is printable, of the asked size and the same every time", () => {
    const v = benchValue(256);
    expect(v.length).toBe(256);
    expect([...v].every((b) => b >= 0x21 && b <= 0x7e)).toBe(true);
    expect(benchValue(256).equals(v)).toBe(true);
    expect(new Set(v).size).toBeGreaterThan(40);
  });

  it("encodes puts that decode to key i and the bench value", () => {
    const puts = encodeRequests("put", shape);
    expect(puts.length).toBe(20);
    const p = etcdserverpb.PutRequest.decode(puts[13]!);
    expect(p.key.toString()).toBe("00000013");
    expect(Buffer.from(p.value).equals(benchValue(256))).toBe(true);
    expect(p.lease).toBe(0n);
  });

  it("encodes linearizable and serializable single-key ranges", () => {
    const lin = etcdserverpb.RangeRequest.decode(encodeRequests("range", shape)[5]!);
    expect(lin.key.toString()).toBe("00000005");
    expect(lin.rangeEnd.length).toBe(0);
    expect(lin.serializable).toBe(false);
    const ser = etcdserverpb.RangeRequest.decode(encodeRequests("range-serializable", shape)[5]!);
    expect(ser.serializable).toBe(true);
    expect(ser.key.toString()).toBe("00000005");
  });

  it("maps ops to KV methods", () => {
    expect(methodPath("put")).toBe(PUT_PATH);
    expect(methodPath("range")).toBe(RANGE_PATH);
    expect(methodPath("range-serializable")).toBe(RANGE_PATH);
  });
});

describe("lease-put and watch requests", () => {
  it("prefixedKey keeps the key size and refuses keys that do not fit", () => {
    expect(prefixedKey("w", 42, 8).toString()).toBe("w0000042");
    expect(() => prefixedKey("w", 1000, 4)).toThrow(/raise --key-size/);
  });

  it("the range-all prefix is its own: no other workload's keys fall in its range", () => {
    const others = [WATCH_PREFIX, LEASE_PREFIX, DEFRAG_PREFIX, SNAPSHOT_PREFIX];
    expect(others).not.toContain(RANGE_ALL_PREFIX);
    const req = etcdserverpb.RangeRequest.decode(encodePrefixRange(RANGE_ALL_PREFIX));
    const inRange = (k: Buffer): boolean => Buffer.compare(k, Buffer.from(req.key)) >= 0 && Buffer.compare(k, Buffer.from(req.rangeEnd)) < 0;
    for (const p of others) expect(inRange(prefixedKey(p, 0, 8))).toBe(false);
    expect(inRange(benchKey(9999, 8))).toBe(false);
    expect(inRange(prefixedKey(RANGE_ALL_PREFIX, 0, 8)) && inRange(prefixedKey(RANGE_ALL_PREFIX, 9_999_999, 8))).toBe(true);
    expect(req).toMatchObject({ limit: 0n, revision: 0n, serializable: false, keysOnly: false, countOnly: false });
  });

  it("prefixEnd is etcd's prefix range end", () => {
    expect(prefixEnd(Buffer.from("w")).toString()).toBe("x");
    expect([...prefixEnd(Buffer.from([0x61, 0xff]))]).toEqual([0x62]);
    expect([...prefixEnd(Buffer.from([0xff]))]).toEqual([0]);
  });

  it("encodePrefixedPuts puts the value last, so its bytes end the request", () => {
    const puts = encodePrefixedPuts(WATCH_PREFIX, shape);
    const p = etcdserverpb.PutRequest.decode(puts[7]!);
    expect(p.key.toString()).toBe("w0000007");
    expect(puts[7]!.subarray(puts[7]!.length - 256).equals(benchValue(256))).toBe(true);
    expect(encodePrefixedPuts(LEASE_PREFIX, shape)[3]!.includes(Buffer.from("l0000003"))).toBe(true);
  });

  it("encodeWatchCreate watches the whole prefix from now on", () => {
    const w = etcdserverpb.WatchRequest.decode(encodeWatchCreate("w"));
    expect(w.createRequest?.key.toString()).toBe("w");
    expect(w.createRequest?.rangeEnd.toString()).toBe("x");
    expect(w.createRequest?.startRevision).toBe(0n);
    expect(w.createRequest?.prevKv).toBe(false);
  });

  it("encodeLeaseGrant asks for a TTL and a server-chosen ID", () => {
    expect(etcdserverpb.LeaseGrantRequest.decode(encodeLeaseGrant(60))).toEqual({ TTL: 60n, ID: 0n });
  });

  it.each([[1n], [0x694d7c2f9e6a1234n], [0x7fffffffffffffffn]])("withLease and encodeLeaseRevoke carry lease %s exactly", (id) => {
    const idBytes = Buffer.from(etcdserverpb.LeaseRevokeRequest.encode({ ID: id }).finish()).subarray(1);
    const put = encodePrefixedPuts(LEASE_PREFIX, shape)[5]!;
    const bare = etcdserverpb.PutRequest.decode(withLease(put, idBytes, 0, idBytes.length, false));
    expect(bare.lease).toBe(id);
    expect(bare.key.toString()).toBe("l0000005");
    expect(Buffer.from(bare.value).equals(benchValue(256))).toBe(true);
    const framed = withLease(put, idBytes, 0, idBytes.length, true);
    expect(framed[0]).toBe(0);
    expect(framed.readUInt32BE(1)).toBe(framed.length - 5);
    expect(etcdserverpb.PutRequest.decode(framed.subarray(5)).lease).toBe(id);
    expect(etcdserverpb.LeaseRevokeRequest.decode(encodeLeaseRevoke(idBytes, 0, idBytes.length, false)).ID).toBe(id);
    const rf = encodeLeaseRevoke(idBytes, 0, idBytes.length, true);
    expect(etcdserverpb.LeaseRevokeRequest.decode(rf.subarray(5)).ID).toBe(id);
  });
});
