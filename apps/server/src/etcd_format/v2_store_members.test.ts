import { describe, expect, it } from "vitest";
import { membersFromV2Store } from "./v2_store_members.js";

function node(path: string, value: string, children: Record<string, unknown> | null = null): unknown {
  return { Path: path, CreatedIndex: 1, ModifiedIndex: 1, ExpireTime: "0001-01-01T00:00:00Z", Value: value, Children: children };
}

describe("membersFromV2Store", () => {
  it("reads members with their attributes, learners, removed members and the cluster version", () => {
    const big = "fa5d8f5bd7ecf2d1"; // above 2^53
    const store = {
      Root: node("/", "", {
        "0": node("/0", "", {
          members: node("/0/members", "", {
            [big]: node(`/0/members/${big}`, "", {
              raftAttributes: node(`/0/members/${big}/raftAttributes`, '{"peerURLs":["http://127.0.0.1:2380"]}'),
              attributes: node(`/0/members/${big}/attributes`, '{"name":"m1","clientURLs":["http://127.0.0.1:2379"]}'),
            }),
            "2": node("/0/members/2", "", {
              raftAttributes: node("/0/members/2/raftAttributes", '{"peerURLs":["http://127.0.0.1:2480"],"isLearner":true}'),
            }),
          }),
          members_removed: node("/0/members_removed", "", { "3": node("/0/members_removed/3", "removed") }),
          version: node("/0/version", "3.4.0"),
        }),
        "1": node("/1", "", {}),
      }),
      CurrentVersion: 2,
    };
    const ms = membersFromV2Store(Buffer.from(JSON.stringify(store)), 7n);
    expect(ms.clusterId).toBe(7n);
    expect([...ms.members.values()].sort((a, b) => (a.id < b.id ? 1 : -1))).toEqual([
      { id: 0xfa5d8f5bd7ecf2d1n, name: "m1", peerUrls: ["http://127.0.0.1:2380"], clientUrls: ["http://127.0.0.1:2379"], isLearner: false },
      { id: 2n, name: "", peerUrls: ["http://127.0.0.1:2480"], clientUrls: [], isLearner: true },
    ]);
    expect([...ms.removed]).toEqual([3n]);
    expect(ms.clusterVersion).toBe("3.4.0");
  });

  it("gives an empty list for an empty store and refuses what is not a v2 store", () => {
    const empty = { Root: node("/", "", { "0": node("/0", "", {}), "1": node("/1", "", {}) }) };
    expect(membersFromV2Store(Buffer.from(JSON.stringify(empty)), 1n).members.size).toBe(0);
    expect(() => membersFromV2Store(Buffer.from("not json"), 1n)).toThrow(/v2 store in the snapshot is not JSON/);
    const bad = { Root: node("/", "", { "0": node("/0", "", { members: node("/0/members", "", { zz: node("/0/members/zz", "", {}) }) }) }) };
    expect(() => membersFromV2Store(Buffer.from(JSON.stringify(bad)), 1n)).toThrow(/member named "zz"/);
  });
});
