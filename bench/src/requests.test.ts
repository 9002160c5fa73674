import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { benchKey, benchValue, encodeRequests, methodPath, PUT_PATH, RANGE_PATH } from "./requests.js";

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
