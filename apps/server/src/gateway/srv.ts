import { promises as dns } from "node:dns";
import type { Dial, SrvTarget } from "./tcp_proxy.js";

/** SrvClients are endpoints found in DNS: URLs and the SRV records they came from, in the same order. */
export interface SrvClients {
  endpoints: string[];
  srvs: SrvTarget[];
}

/** ResolveSrv looks up the SRV records of a name (node:dns's resolveSrv by default). */
export type ResolveSrv = (name: string) => Promise<{ name: string; port: number; priority: number; weight: number }[]>;

/**
 * srvService is etcd's GetSRVService: the SRV service name for service and scheme
 * ("etcd-client" -> "etcd-client-ssl" for https), suffixed with "-serviceName" when given.
 */
export function srvService(service: string, serviceName: string, scheme: "http" | "https"): string {
  const s = scheme === "https" ? `${service}-ssl` : service;
  return serviceName !== "" ? `${s}-${serviceName}` : s;
}

/**
 * srvClients is etcd's srv.GetClient: the https endpoints of `_<service>-ssl._tcp.<domain>`
 * followed by the http endpoints of `_<service>._tcp.<domain>`; it fails only when both
 * lookups fail, with etcd's message.
 */
export async function srvClients(service: string, domain: string, serviceName: string, resolve: ResolveSrv = (n) => dns.resolveSrv(n)): Promise<SrvClients> {
  const out: SrvClients = { endpoints: [], srvs: [] };
  const errors: string[] = [];
  for (const scheme of ["https", "http"] as const) {
    const name = `_${srvService(service, serviceName, scheme)}._tcp.${domain}`;
    try {
      for (const r of await resolve(name)) {
        const target = r.name.endsWith(".") ? r.name : `${r.name}.`; // Go's SRV targets are absolute names
        out.endpoints.push(`${scheme}://${hostPort(target, r.port)}`);
        out.srvs.push({ target, port: r.port, priority: r.priority, weight: r.weight });
      }
    } catch (err) {
      errors.push(`lookup ${name} on DNS: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  if (errors.length === 2) throw new Error(`dns lookup errors: ${errors[0] ?? ""} and ${errors[1] ?? ""}`);
  return out;
}

/**
 * secureEndpoints is etcd's ValidateSecureEndpoints as its gateway uses it: the https://
 * endpoints that accept a TCP connection; the others are listed in the error text.
 */
export async function secureEndpoints(eps: readonly string[], dial: Dial): Promise<{ endpoints: string[]; error: string | undefined }> {
  const endpoints: string[] = [];
  const errs: string[] = [];
  for (const ep of eps) {
    if (!ep.startsWith("https://")) {
      errs.push(`${JSON.stringify(ep)} is insecure`);
      continue;
    }
    const u = new URL(ep);
    try {
      (await dial(u.hostname.replace(/^\[|\]$/g, ""), Number(u.port))).destroy();
      endpoints.push(ep);
    } catch (err) {
      errs.push(`${JSON.stringify(ep)} failed to dial (${String(err)})`);
    }
  }
  return { endpoints, error: errs.length > 0 ? errs.join(",") : undefined };
}

/** hostPort joins a host and a port as Go's net.JoinHostPort does (IPv6 hosts in brackets). */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
