import { describe, expect, it } from "vitest";
import { srvCluster } from "./srv_cluster.js";
import { nodesToCluster, DiscoveryError } from "./v2_discovery.js";

type Srv = { name: string; port: number; priority: number; weight: number };

/** dnsOf answers SRV names from a table (others fail with ENOTFOUND) and resolves every host to its table address. */
function dnsOf(srv: Record<string, Srv[]>, hosts: Record<string, string>) {
  return {
    resolveSrv: async (name: string): Promise<Srv[]> => {
      const r = srv[name];
      if (r === undefined) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
      return r;
    },
    lookup: async (host: string): Promise<string> => {
      const a = hosts[host] ?? (/^[\d.]+$/.test(host) ? host : undefined);
      if (a === undefined) throw Object.assign(new Error("not found"), { code: "ENOTFOUND" });
      return a;
    },
  };
}

const rec = (name: string, port: number): Srv => ({ name, port, priority: 0, weight: 0 });
const hosts = { "a.example.test": "10.0.0.1", "b.example.test": "10.0.0.2", "c.example.test": "10.0.0.3" };

describe("srvCluster (--discovery-srv)", () => {
  it("names this member by its advertised peer URL, the others 0, 1, ...; https records first, then http", async () => {
    const dns = dnsOf(
      {
        "_etcd-server-ssl._tcp.example.test": [rec("c.example.test.", 2380)],
        "_etcd-server._tcp.example.test": [rec("a.example.test.", 2380), rec("b.example.test.", 2380)],
      },
      hosts,
    );
    const r = await srvCluster({ name: "infra-b", domain: "example.test", serviceName: "", advertisePeerUrls: [new URL("http://10.0.0.2:2380")], ...dns });
    expect(r).toEqual({ cluster: ["0=https://c.example.test:2380", "1=http://a.example.test:2380", "infra-b=http://b.example.test:2380"], errors: [] });
  });

  it("queries _etcd-server[-ssl]-<name> with --discovery-srv-name", async () => {
    const dns = dnsOf({ "_etcd-server-other._tcp.example.test": [rec("a.example.test.", 2380)] }, hosts);
    const r = await srvCluster({ name: "a", domain: "example.test", serviceName: "other", advertisePeerUrls: [new URL("http://a.example.test:2380")], ...dns });
    expect(r.cluster).toEqual(["a=http://a.example.test:2380"]);
    expect(r.errors).toEqual(["error querying DNS SRV records for _etcd-server-ssl-other lookup _etcd-server-ssl-other._tcp.example.test on DNS: ENOTFOUND"]);
  });

  it("refuses this member's record under the other scheme, and answers every lookup's error when nothing is found", async () => {
    const dns = dnsOf({ "_etcd-server-ssl._tcp.example.test": [rec("a.example.test.", 2380)] }, hosts);
    const r = await srvCluster({ name: "a", domain: "example.test", serviceName: "", advertisePeerUrls: [new URL("http://a.example.test:2380")], ...dns });
    expect(r.cluster).toEqual([]);
    expect(r.errors).toEqual([
      "error querying DNS SRV records for _etcd-server-ssl bootstrap at https://a.example.test:2380 from DNS for etcd-server-ssl has scheme mismatch with expected peer http://a.example.test:2380",
      "error querying DNS SRV records for _etcd-server lookup _etcd-server._tcp.example.test on DNS: ENOTFOUND",
    ]);
  });
});

describe("nodesToCluster (--discovery)", () => {
  const n = (value: string) => ({ key: "/t/x", value, createdIndex: 1, modifiedIndex: 1 });
  it("joins the registrations; a bad one is invalid URL, a repeated name duplicate name", () => {
    expect(nodesToCluster([n("a=http://1.1.1.1:2380"), n("b=http://1.1.1.2:2380")], 2)).toBe("a=http://1.1.1.1:2380,b=http://1.1.1.2:2380");
    expect(() => nodesToCluster([n("nonsense")], 1)).toThrow(new DiscoveryError("invalid_url"));
    expect(() => nodesToCluster([n("a=http://1.1.1.1:2380"), n("a=http://1.1.1.2:2380")], 2)).toThrow("discovery: found duplicate name");
  });
});
