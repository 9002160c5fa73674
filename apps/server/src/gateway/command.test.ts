import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Logger } from "../log.js";
import { GatewayFailure, GatewayUsageError, parseGatewayArgs, splitHostPort, startGateway, stripSchema } from "./command.js";
import { secureEndpoints, srvClients, srvService } from "./srv.js";

const REAL_ETCD = "/usr/bin/etcd";

/** etcdHelp runs the real etcd's gateway command and returns what it printed, with "etcd" as "etcd-ts". */
function etcdHelp(args: string[]): string {
  return execFileSync(REAL_ETCD, args, { encoding: "utf8" }).replaceAll("etcd gateway", "etcd-ts gateway");
}

describe("etcd-ts gateway arguments", () => {
  it("takes etcd's flags and defaults", () => {
    expect(parseGatewayArgs(["start"])).toEqual({
      kind: "start",
      options: {
        listenAddr: "127.0.0.1:23790",
        endpoints: ["127.0.0.1:2379"],
        discoverySrv: "",
        discoverySrvName: "",
        insecureDiscovery: false,
        trustedCaFile: "",
        retryDelayMs: 60_000,
      },
    });
    const c = parseGatewayArgs(["start", "--endpoints=a:1,b:2", "--endpoints", "c:3", "--listen-addr", "0.0.0.0:9", "--retry-delay", "1m30s", "--insecure-discovery", "--discovery-srv=example.com"]);
    expect(c.kind === "start" && c.options).toMatchObject({
      endpoints: ["a:1", "b:2", "c:3"],
      listenAddr: "0.0.0.0:9",
      retryDelayMs: 90_000,
      insecureDiscovery: true,
      discoverySrv: "example.com",
    });
  });

  it("refuses an unknown flag and a bad duration with cobra's error and the usage", () => {
    expect(() => parseGatewayArgs(["start", "--bogus"])).toThrow(GatewayUsageError);
    expect(() => parseGatewayArgs(["start", "--bogus"])).toThrow(/^Error: unknown flag: --bogus\nUsage:\n {2}etcd-ts gateway start \[flags\]\n[\s\S]*\nunknown flag: --bogus\n$/);
    expect(() => parseGatewayArgs(["start", "--retry-delay", "soon"])).toThrow('invalid argument "soon" for "--retry-delay" flag');
    expect(() => parseGatewayArgs(["start", "--endpoints"])).toThrow("flag needs an argument: --endpoints");
  });

  it.skipIf(!existsSync(REAL_ETCD))("prints the same help as etcd 3.4's gateway command", () => {
    const help = (args: string[]): string => {
      const c = parseGatewayArgs(args);
      return c.kind === "help" ? c.text : "";
    };
    expect(help([])).toBe(etcdHelp(["gateway", "--help"]));
    expect(help(["--help"])).toBe(etcdHelp(["gateway", "--help"]));
    expect(help(["start", "--help"])).toBe(etcdHelp(["gateway", "start", "--help"]));
  });

  it("strips schemes and splits host:port as etcd does", () => {
    expect(stripSchema(["http://10.0.0.1:2379", "https://[::1]:2379", "10.0.0.2:2379"])).toEqual(["10.0.0.1:2379", "[::1]:2379", "10.0.0.2:2379"]);
    expect(splitHostPort("[::1]:2379")).toEqual({ host: "::1", port: "2379" });
    expect(splitHostPort("host:1")).toEqual({ host: "host", port: "1" });
    expect(splitHostPort("nohost")).toBeUndefined();
  });
});

describe("etcd-ts gateway start", () => {
  const logger = new Logger("error");

  it("refuses an endpoint that resolves to its own listen address, with etcd's message", async () => {
    const err = await startGateway(
      { listenAddr: "127.0.0.1:23999", endpoints: ["http://localhost:23999"], discoverySrv: "", discoverySrvName: "", insecureDiscovery: false, trustedCaFile: "", retryDelayMs: 1000 },
      logger,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayFailure);
    expect((err as GatewayFailure).message).toBe("SRV or endpoint (localhost:23999->127.0.0.1:23999) should not resolve to the gateway listen addr (127.0.0.1:23999)\n");
  });

  it("refuses a malformed endpoint and listen address", async () => {
    const o = { listenAddr: "127.0.0.1:0", endpoints: ["nohostport"], discoverySrv: "", discoverySrvName: "", insecureDiscovery: false, trustedCaFile: "", retryDelayMs: 1000 };
    await expect(startGateway(o, logger)).rejects.toThrow('error parsing endpoint "nohostport"');
    await expect(startGateway({ ...o, endpoints: ["127.0.0.1:1"], listenAddr: "bad" }, logger)).rejects.toThrow("failed to validate listen address: bad");
  });
});

describe("SRV discovery (etcd's srv.GetClient)", () => {
  it("names the services as etcd does", () => {
    expect(srvService("etcd-client", "", "https")).toBe("etcd-client-ssl");
    expect(srvService("etcd-client", "prod", "http")).toBe("etcd-client-prod");
    expect(srvService("etcd-client", "prod", "https")).toBe("etcd-client-ssl-prod");
  });

  it("lists https records first, then http ones, and fails only when both lookups fail", async () => {
    const asked: string[] = [];
    const found = await srvClients("etcd-client", "example.com", "", async (name) => {
      asked.push(name);
      if (name.startsWith("_etcd-client-ssl.")) return [{ name: "a.example.com", port: 2379, priority: 0, weight: 10 }];
      throw Object.assign(new Error("no"), { code: "ENOTFOUND" });
    });
    expect(asked).toEqual(["_etcd-client-ssl._tcp.example.com", "_etcd-client._tcp.example.com"]);
    expect(found).toEqual({ endpoints: ["https://a.example.com.:2379"], srvs: [{ target: "a.example.com.", port: 2379, priority: 0, weight: 10 }] });
    await expect(srvClients("etcd-client", "x", "", async () => Promise.reject(Object.assign(new Error("no"), { code: "ENOTFOUND" })))).rejects.toThrow(
      "dns lookup errors: lookup _etcd-client-ssl._tcp.x on DNS: ENOTFOUND and lookup _etcd-client._tcp.x on DNS: ENOTFOUND",
    );
  });

  it("keeps only https endpoints that accept a connection", async () => {
    const r = await secureEndpoints(["http://a:1", "https://b:2", "https://c:3"], async (host) => {
      if (host === "c") throw new Error("refused");
      return { destroy: () => undefined } as never;
    });
    expect(r.endpoints).toEqual(["https://b:2"]);
    expect(r.error).toBe('"http://a:1" is insecure,"https://c:3" failed to dial (Error: refused)');
  });
});
