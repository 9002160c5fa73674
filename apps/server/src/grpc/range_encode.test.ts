import { etcdserverpb, type mvccpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { encodeRangeResponse } from "./range_encode.js";

describe("encodeRangeResponse", () => {
  it("writes exactly the bytes of the generated RangeResponse encoder", () => {
    const ints = [0n, 1n, 127n, 128n, 16_384n, 2n ** 53n, 2n ** 63n - 1n, -1n];
    const uints = [0n, 1n, 300n, 2n ** 63n, 2n ** 64n - 1n];
    let seed = 11;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    for (let i = 0; i < 200; i++) {
      const kvs: mvccpb.KeyValue[] = [];
      const n = pick([0, 1, 2, 9, 130]);
      for (let k = 0; k < n; k++) {
        kvs.push({
          key: Buffer.alloc(pick([0, 1, 40, 200]), k & 0xff),
          createRevision: pick(ints),
          modRevision: pick(ints),
          version: pick(ints),
          value: Buffer.alloc(pick([0, 3, 127, 128, 20_000]), (k * 7) & 0xff),
          lease: pick(ints),
        });
      }
      const header =
        rnd() < 0.2 ? undefined : { clusterId: pick(uints), memberId: pick(uints), revision: pick(ints), raftTerm: pick(uints) };
      const r: etcdserverpb.RangeResponse = { header, kvs, more: rnd() < 0.5, count: pick([0n, 1n, BigInt(n), 2n ** 40n]) };
      const want = Buffer.from(etcdserverpb.RangeResponse.encode(r).finish());
      const got = encodeRangeResponse(r);
      expect(got.equals(want), `case ${i}`).toBe(true);
    }
  });

  it("encodes an empty response as no bytes, like the generated encoder", () => {
    const r: etcdserverpb.RangeResponse = { header: undefined, kvs: [], more: false, count: 0n };
    expect(encodeRangeResponse(r).length).toBe(0);
  });
});
