import { Resolver } from "node:dns/promises";
import type { Command } from "../cli/command.js";
import { ExitCode, exitWithError, type Io } from "./io.js";

/**
 * DNS discovery of client endpoints (etcdctl's --discovery-srv, pkg/srv.GetClient): the SRV
 * records `_etcd-client-ssl._tcp.<domain>` (https) and `_etcd-client._tcp.<domain>` (http),
 * with `-<name>` appended to the service when --discovery-srv-name is set. Each record is an
 * endpoint `scheme://<target>:<port>`, the target kept fully qualified (with its final dot),
 * as Go's resolver returns it. Unless --insecure-discovery (the default), http endpoints are
 * dropped, and the domain becomes the TLS server name every member's certificate must match.
 */

/** srvService is pkg/srv.GetSRVService: "etcd-client" -> "etcd-client-ssl" for https, then "-<name>". */
export function srvService(service: string, serviceName: string, scheme: "https" | "http"): string {
  const s = scheme === "https" ? `${service}-ssl` : service;
  return serviceName !== "" ? `${s}-${serviceName}` : s;
}

/** lookupError is Go's *net.DNSError text for a failed lookup of name. */
function lookupError(name: string, server: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === "ENOTFOUND" || code === "ENODATA" || code === "ENONAME" ? "no such host" : code === "ETIMEOUT" ? "i/o timeout" : "server misbehaving";
  return `lookup ${name} on ${server}: ${why}`;
}

/**
 * discoverEndpoints resolves the client endpoints of domain; it fails (with Go's message)
 * only when both lookups fail.
 */
export async function discoverEndpoints(domain: string, serviceName: string): Promise<string[]> {
  const resolver = new Resolver();
  const first = resolver.getServers()[0] ?? "127.0.0.1";
  const server = first.includes(":") && !first.startsWith("[") ? first : `${first}:53`;
  const urls: string[] = [];
  const errors: string[] = [];
  for (const scheme of ["https", "http"] as const) {
    const name = `_${srvService("etcd-client", serviceName, scheme)}._tcp.${domain}`;
    try {
      // Go sorts the records by priority, then shuffles by weight; one per port here.
      const recs = (await resolver.resolveSrv(name)).sort((a, b) => a.priority - b.priority || b.weight - a.weight);
      for (const r of recs) urls.push(`${scheme}://${r.name.endsWith(".") ? r.name : `${r.name}.`}:${r.port}`);
    } catch (e) {
      errors.push(lookupError(name, server, e));
    }
  }
  if (errors.length === 2) throw new Error(`dns lookup errors: ${errors[0]} and ${errors[1]}`);
  return urls;
}

/**
 * endpointsFromCmd is etcdctl's endpointsFromCmd: with --discovery-srv the discovered
 * endpoints (http ones dropped, with a note on stderr, unless --insecure-discovery), else,
 * or when discovery found none, --endpoints. A failed discovery exits 1.
 */
export async function endpointsFromCmd(cmd: Command, io: Io): Promise<string[]> {
  const domain = cmd.flag("discovery-srv").value as string;
  if (domain !== "") {
    let eps: string[];
    try {
      eps = await discoverEndpoints(domain, cmd.flag("discovery-srv-name").value as string);
    } catch (e) {
      return exitWithError(ExitCode.Error, (e as Error).message);
    }
    if (cmd.flag("insecure-discovery").value !== true) {
      eps = eps.filter((ep) => {
        if (!ep.startsWith("http://")) return true;
        io.err(`ignoring discovered insecure endpoint ${JSON.stringify(ep)}\n`);
        return false;
      });
    }
    if (eps.length > 0) return eps;
  }
  return (cmd.flag("endpoints").value as string[]).map((e) => e.trim());
}
