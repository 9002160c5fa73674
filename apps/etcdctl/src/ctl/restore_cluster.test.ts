import { describe, expect, it } from "vitest";
import { computeMemberId, newClusterFromUrlsMap, newUrls, newUrlsMap, v2StoreJson, verifyBootstrap } from "./restore_cluster.js";

// Expected values are what etcdctl 3.4.23's `snapshot restore` logged and wrote for the same flags.
describe("restore cluster (Go etcd 3.4's membership and v2 store)", () => {
  it("computes etcd's member and cluster IDs for the default flags", () => {
    expect(computeMemberId(["http://localhost:2380"], "etcd-cluster").toString(16)).toBe("8e9e05c52164694d");
    const c = newClusterFromUrlsMap("etcd-cluster", newUrlsMap("default=http://localhost:2380"));
    expect(c.id.toString(16)).toBe("cdf818194e3a8c32");
    expect(c.members.map((m) => m.name)).toEqual(["default"]);
  });

  it("writes the v2 store JSON Go writes for one member", () => {
    const c = newClusterFromUrlsMap("etcd-cluster", newUrlsMap("default=http://localhost:2380"));
    const json = v2StoreJson(c).toString();
    expect(json.startsWith('{"Root":{"Path":"/","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"0":')).toBe(true);
    expect(json).toContain(
      '"Events":[{"action":"create","node":{"key":"/0/members/8e9e05c52164694d/raftAttributes","value":"{\\"peerURLs\\":[\\"http://localhost:2380\\"]}","modifiedIndex":1,"createdIndex":1}},null,',
    );
    expect(json.endsWith('"Size":1,"Front":0,"Back":1,"Capacity":1000},"StartIndex":1,"LastIndex":1}},"CurrentIndex":1,"Stats":{"getsSuccess":0,"getsFail":0,"setsSuccess":0,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":1,"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0},"CurrentVersion":2}')).toBe(true);
  });

  it("checks URLs and the bootstrap configuration with Go's messages", () => {
    expect(() => newUrls(["localhost:2380"])).toThrow("URL scheme must be http, https, unix, or unixs: localhost:2380");
    expect(() => newUrls(["http://localhost"])).toThrow('URL address does not have the form "host:port": http://localhost');
    expect(() => newUrls(["http://localhost:2380/x"])).toThrow("URL must not contain a path: http://localhost:2380/x");
    const ics = newUrlsMap("default=http://localhost:2380");
    expect(() => verifyBootstrap("x", ["http://localhost:2380"], ics)).toThrow(`couldn't find local name "x" in the initial cluster configuration`);
    expect(() => verifyBootstrap("default", ["http://127.0.0.1:2380"], ics)).toThrow(
      '--initial-cluster has default=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://127.0.0.1:2380 (resolved urls: "http://127.0.0.1:2380" != "http://localhost:2380")',
    );
    expect(() => verifyBootstrap("default", ["http://localhost:2380"], newUrlsMap("default=http://localhost:2380,b=http://localhost:2380"))).toThrow(
      "initial cluster b=http://localhost:2380,default=http://localhost:2380 has duplicate url",
    );
  });
});
