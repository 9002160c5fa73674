import { describe, expect, it } from "vitest";
import { clusterId, hexId, memberId } from "./ids.js";

describe("ids", () => {
  it("derives etcd's IDs for the default member", () => {
    // etcd 3.4 started with no flags logs local-member-id 8e9e05c52164694d, cluster-id cdf818194e3a8c32.
    const id = memberId(["http://localhost:2380"], "etcd-cluster");
    expect(hexId(id)).toBe("8e9e05c52164694d");
    expect(hexId(clusterId([id]))).toBe("cdf818194e3a8c32");
  });

  it("sorts peer URLs and member IDs before hashing", () => {
    expect(memberId(["http://b:1", "http://a:1"], "t")).toBe(memberId(["http://a:1", "http://b:1"], "t"));
    expect(clusterId([1n, 2n])).toBe(clusterId([2n, 1n]));
    expect(memberId(["http://a:1"], "t1")).not.toBe(memberId(["http://a:1"], "t2"));
  });
});
