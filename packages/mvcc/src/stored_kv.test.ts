import { mvccpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { encodeKV, encodedKVSize, keyField, writeKV } from "./stored_kv.js";

describe("encodeKV", () => {
  it("writes exactly mvccpb.KeyValue's protobuf bytes", () => {
    const ints = [0n, 1n, 127n, 128n, 300n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, -1n, -(2n ** 63n)];
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    for (let i = 0; i < 300; i++) {
      const kv: mvccpb.KeyValue = {
        key: Buffer.alloc(pick([0, 1, 5, 127, 128, 300]), i & 0xff),
        createRevision: pick(ints),
        modRevision: pick(ints),
        version: pick(ints),
        value: Buffer.alloc(pick([0, 1, 200, 2_000]), (i * 3) & 0xff),
        lease: pick(ints),
      };
      const want = Buffer.from(mvccpb.KeyValue.encode(kv).finish());
      const got = encodeKV(kv);
      expect(got.equals(want), `case ${i}`).toBe(true);
      expect(mvccpb.KeyValue.decode(got)).toEqual(kv);
      expect(keyField(got).equals(kv.key)).toBe(true);
      expect(encodedKVSize(kv)).toBe(want.length);
      // writeKV lays the same bytes at an offset and returns the offset after them.
      const room = Buffer.alloc(want.length + 7, 0xee);
      expect(writeKV(room, 3, kv)).toBe(3 + want.length);
      expect(room.subarray(3, 3 + want.length).equals(want), `case ${i} at an offset`).toBe(true);
      expect(room.subarray(0, 3).equals(Buffer.alloc(3, 0xee)) && room.subarray(3 + want.length).equals(Buffer.alloc(4, 0xee))).toBe(true);
    }
  });
});
