import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { decodeGoNormalEntryData } from "./entry_data.js";

/** goV2Request is a v2 Request with every field Go marshals set: the QGET etcd 3.4's /health check proposes. */
function goV2Request(): etcdserverpb.Request {
  return {
    ID: 0x37d2a8c6ca8cf5e5n,
    Method: "QGET",
    Path: "",
    Val: "",
    Dir: false,
    PrevValue: "",
    PrevIndex: 0n,
    Expiration: 0n,
    Wait: false,
    Since: 0n,
    Recursive: false,
    Sorted: false,
    Quorum: false,
    Time: 0n,
    Stream: false,
  };
}

describe("decodeGoNormalEntryData", () => {
  it("tells a bare v2 Request from an InternalRaftRequest as Go's applyEntryNormal does", () => {
    const v2 = Buffer.from(etcdserverpb.Request.encode(goV2Request()).finish());
    // ts-proto's lenient decoder alone would take it for an InternalRaftRequest.
    expect(() => etcdserverpb.InternalRaftRequest.decode(v2)).not.toThrow();
    const got = decodeGoNormalEntryData(v2);
    expect(got).toEqual({ kind: "v2", request: goV2Request() });
    expect(Buffer.from(etcdserverpb.Request.encode((got as { request: etcdserverpb.Request }).request).finish())).toEqual(v2);
  });

  it("decodes an InternalRaftRequest with a put", () => {
    const irr = etcdserverpb.InternalRaftRequest.fromPartial({
      header: { ID: 7n },
      put: { key: Buffer.from("k"), value: Buffer.from("v") },
    });
    const got = decodeGoNormalEntryData(etcdserverpb.InternalRaftRequest.encode(irr).finish());
    expect(got.kind).toBe("internal");
    expect((got as { request: etcdserverpb.InternalRaftRequest }).request.put?.key.toString()).toBe("k");
  });

  it("calls empty data empty", () => {
    expect(decodeGoNormalEntryData(Buffer.alloc(0))).toEqual({ kind: "empty" });
  });
});
