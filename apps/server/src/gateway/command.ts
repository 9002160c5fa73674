import { promises as dns } from "node:dns";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { ConfigError, parseDurationMs } from "../config/parse.js";
import { Logger } from "../log.js";
import { secureEndpoints, srvClients, type SrvClients } from "./srv.js";
import { dialTcp, TcpProxy, type SrvTarget } from "./tcp_proxy.js";

/** GatewayOptions are `etcd-ts gateway start`'s flags (etcd 3.4's etcdmain/gateway.go). Times are milliseconds. */
export interface GatewayOptions {
  listenAddr: string;
  endpoints: string[];
  discoverySrv: string;
  discoverySrvName: string;
  insecureDiscovery: boolean;
  trustedCaFile: string;
  retryDelayMs: number;
}

const GATEWAY_HELP = `gateway related command

Usage:
  etcd-ts gateway [command]

Available Commands:
  start       start the gateway

Flags:
  -h, --help   help for gateway

Use "etcd-ts gateway [command] --help" for more information about a command.
`;

const START_USAGE = `Usage:
  etcd-ts gateway start [flags]

Flags:
      --discovery-srv string        DNS domain used to bootstrap initial cluster
      --discovery-srv-name string   service name to query when using DNS discovery
      --endpoints strings           comma separated etcd cluster endpoints (default [127.0.0.1:2379])
  -h, --help                        help for start
      --insecure-discovery          accept insecure SRV records
      --listen-addr string          listen address (default "127.0.0.1:23790")
      --retry-delay duration        duration of delay before retrying failed endpoints (default 1m0s)
      --trusted-ca-file string      path to the client server TLS CA file for verifying the discovered endpoints when discovery-srv is provided.
`;

/** GatewayCommand is what the gateway arguments ask for: help text to print, or a gateway to start. */
export type GatewayCommand = { kind: "help"; text: string } | { kind: "start"; options: GatewayOptions };

/** GatewayUsageError is a bad command line: its text goes to stderr and the exit code is 1, as etcd's cobra commands do. */
export class GatewayUsageError extends Error {}

/**
 * parseGatewayArgs reads the arguments after `gateway` with etcd's (cobra/pflag) syntax:
 * `--flag value`, `--flag=value`, bare boolean flags, `--endpoints` repeatable and
 * comma-separated.
 */
export function parseGatewayArgs(argv: readonly string[]): GatewayCommand {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") return { kind: "help", text: GATEWAY_HELP };
  if (sub !== "start") {
    if (sub.startsWith("-")) throw new GatewayUsageError(`Error: unknown flag: ${sub}\nRun 'etcd-ts gateway --help' for usage.\nunknown flag: ${sub}\n`);
    return { kind: "help", text: GATEWAY_HELP };
  }
  const o: GatewayOptions = {
    listenAddr: "127.0.0.1:23790",
    endpoints: [],
    discoverySrv: "",
    discoverySrvName: "",
    insecureDiscovery: false,
    trustedCaFile: "",
    retryDelayMs: 60_000,
  };
  const fail = (msg: string): never => {
    throw new GatewayUsageError(`Error: ${msg}\n${START_USAGE}\n${msg}\n`);
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === "-h" || arg === "--help") return { kind: "help", text: `start the gateway\n\n${START_USAGE}` };
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(arg);
    if (m === null) continue; // cobra ignores positional arguments here
    const name = m[1] as string;
    const inline = m[2];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = rest[i + 1];
      if (next === undefined) fail(`flag needs an argument: --${name}`);
      i++;
      return next as string;
    };
    switch (name) {
      case "listen-addr":
        o.listenAddr = value();
        break;
      case "discovery-srv":
        o.discoverySrv = value();
        break;
      case "discovery-srv-name":
        o.discoverySrvName = value();
        break;
      case "trusted-ca-file":
        o.trustedCaFile = value();
        break;
      case "endpoints":
        o.endpoints.push(...value().split(",").filter((e) => e !== ""));
        break;
      case "insecure-discovery": {
        const v = inline ?? "true";
        if (!["true", "false", "1", "0", "t", "f", "TRUE", "FALSE", "True", "False", "T", "F"].includes(v)) {
          fail(`invalid argument "${v}" for "--insecure-discovery" flag: strconv.ParseBool: parsing "${v}": invalid syntax`);
        }
        o.insecureDiscovery = ["true", "1", "t", "TRUE", "True", "T"].includes(v);
        break;
      }
      case "retry-delay": {
        const v = value();
        try {
          o.retryDelayMs = parseDurationMs(v, "--retry-delay");
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          fail(`invalid argument "${v}" for "--retry-delay" flag: time: invalid duration ${JSON.stringify(v)}`);
        }
        break;
      }
      default:
        fail(`unknown flag: --${name}`);
    }
  }
  if (o.endpoints.length === 0) o.endpoints = ["127.0.0.1:2379"];
  return { kind: "start", options: o };
}

/** stripSchema keeps the host:port of each endpoint given as a URL (the gateway is a TCP proxy). */
export function stripSchema(eps: readonly string[]): string[] {
  return eps.map((ep) => {
    try {
      const u = new URL(ep);
      if (u.host !== "" && /^[a-z][a-z0-9+.-]*:\/\//i.test(ep)) return u.host;
    } catch {
      // not a URL: already host:port
    }
    return ep;
  });
}

/** splitHostPort splits host:port as Go's net.SplitHostPort (IPv6 in brackets); undefined when malformed. */
export function splitHostPort(s: string): { host: string; port: string } | undefined {
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(s) ?? /^([^:[\]]*):([^:]*)$/.exec(s);
  if (m === null) return undefined;
  return { host: m[1] as string, port: m[2] as string };
}

/** GatewayFailure is a start that fails after parsing: etcd prints the text (to stdout or stderr) and exits 1. */
export class GatewayFailure extends Error {
  constructor(
    message: string,
    readonly stream: "stdout" | "stderr",
  ) {
    super(message);
  }
}

/** lookupHost resolves a host name to all its addresses (an address is itself). */
async function lookupHost(host: string): Promise<string[]> {
  return (await dns.lookup(host.replace(/\.$/, "") || host, { all: true })).map((a) => a.address);
}

/**
 * startGateway is `etcd gateway start`: endpoints from DNS SRV (--discovery-srv) or the flag,
 * a refusal when an endpoint resolves to the gateway's own listen address, then a TcpProxy on
 * the listen address. It resolves with the running proxy.
 */
export async function startGateway(o: GatewayOptions, logger: Logger): Promise<TcpProxy> {
  let found: SrvClients = { endpoints: [], srvs: [] };
  if (o.discoverySrv !== "") found = await discover(o, logger);
  let endpoints = found.endpoints.length > 0 ? found.endpoints : o.endpoints;
  endpoints = stripSchema(endpoints);
  let srvs: SrvTarget[] = found.srvs;
  if (srvs.length === 0) {
    srvs = endpoints.map((ep) => {
      const hp = splitHostPort(ep);
      if (hp === undefined) throw new GatewayFailure(`error parsing endpoint ${JSON.stringify(ep)}`, "stdout");
      return { target: hp.host, port: Number.parseInt(hp.port, 10) || 0, priority: 0, weight: 0 };
    });
  }
  const listen = splitHostPort(o.listenAddr);
  if (listen === undefined) throw new GatewayFailure(`failed to validate listen address: ${o.listenAddr}\n`, "stdout");
  let listenAddrs: Set<string>;
  try {
    listenAddrs = new Set(await lookupHost(listen.host));
  } catch {
    throw new GatewayFailure(`failed to resolve listen host: ${listen.host}\n`, "stdout");
  }
  for (const srv of srvs) {
    let addrs: string[];
    try {
      addrs = await lookupHost(srv.target);
    } catch {
      throw new GatewayFailure(`failed to resolve endpoint host: ${srv.target}\n`, "stdout");
    }
    if (String(srv.port) !== listen.port) continue;
    for (const a of addrs) {
      if (listenAddrs.has(a)) {
        throw new GatewayFailure(
          `SRV or endpoint (${srv.target}:${srv.port}->${a}:${srv.port}) should not resolve to the gateway listen addr (${o.listenAddr})\n`,
          "stdout",
        );
      }
    }
  }
  if (endpoints.length === 0) throw new GatewayFailure("no endpoints found\n", "stdout");
  const listener = await listenTcp(listen.host, Number(listen.port), o.listenAddr);
  const proxy = new TcpProxy({ listener, endpoints: srvs, monitorIntervalMs: o.retryDelayMs, logger });
  proxy.run();
  return proxy;
}

async function discover(o: GatewayOptions, logger: Logger): Promise<SrvClients> {
  let srv: SrvClients;
  try {
    srv = await srvClients("etcd-client", o.discoverySrv, o.discoverySrvName);
  } catch (err) {
    throw new GatewayFailure(`${(err as Error).message}\n`, "stderr");
  }
  logger.info("discovered cluster from SRV", { "srv-server": o.discoverySrv, endpoints: srv.endpoints });
  if (o.insecureDiscovery) return srv;
  logger.info("validating discovered SRV endpoints", { "srv-server": o.discoverySrv, endpoints: srv.endpoints });
  // etcd builds a TLS transport from --trusted-ca-file first; a CA it cannot read fails the whole check.
  const caError = o.trustedCaFile === "" ? undefined : await readFile(o.trustedCaFile).then(() => undefined, (err: unknown) => String(err));
  const checked = caError !== undefined ? { endpoints: [], error: caError } : await secureEndpoints(srv.endpoints, dialTcp);
  if (checked.error !== undefined) {
    logger.warn("failed to validate discovered endpoints", { "srv-server": o.discoverySrv, endpoints: checked.endpoints, error: checked.error });
  } else {
    logger.info("using validated discovered SRV endpoints", { "srv-server": o.discoverySrv, endpoints: checked.endpoints });
  }
  const keep = new Set(checked.endpoints);
  const out: SrvClients = { endpoints: [], srvs: [] };
  srv.endpoints.forEach((ep, i) => {
    const rec = srv.srvs[i];
    if (!keep.has(ep) || rec === undefined) return;
    out.endpoints.push(ep);
    out.srvs.push(rec);
  });
  return out;
}

function listenTcp(host: string, port: number, addr: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true, pauseOnConnect: true });
    server.once("error", (err: NodeJS.ErrnoException) => {
      const why: Record<string, string> = {
        EADDRINUSE: "bind: address already in use",
        EACCES: "bind: permission denied",
        EADDRNOTAVAIL: "bind: cannot assign requested address",
      };
      reject(new GatewayFailure(`listen tcp ${addr}: ${why[err.code ?? ""] ?? err.message}\n`, "stderr"));
    });
    server.listen(port, host === "" ? undefined : host, () => resolve(server));
  });
}

/** gatewayMain runs `etcd-ts gateway ...` until SIGTERM or SIGINT; it returns the process exit code. */
export async function gatewayMain(argv: readonly string[]): Promise<number> {
  let cmd: GatewayCommand;
  try {
    cmd = parseGatewayArgs(argv);
  } catch (err) {
    if (!(err instanceof GatewayUsageError)) throw err;
    process.stderr.write(err.message);
    return 1;
  }
  if (cmd.kind === "help") {
    process.stdout.write(cmd.text);
    return 0;
  }
  const logger = new Logger("info");
  let proxy: TcpProxy;
  try {
    proxy = await startGateway(cmd.options, logger);
  } catch (err) {
    if (!(err instanceof GatewayFailure)) throw err;
    (err.stream === "stdout" ? process.stdout : process.stderr).write(err.message);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await proxy.stop();
  return 0;
}
