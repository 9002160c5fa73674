import { promises as dns } from "node:dns";
import { hostPort, srvService, type ResolveSrv } from "../gateway/srv.js";

/** LookupHost resolves a host name to one address (node:dns's lookup by default, as Go's resolver picks one). */
export type LookupHost = (host: string) => Promise<string>;

const defaultLookup: LookupHost = async (host) => (await dns.lookup(host)).address;

/** SrvClusterOptions are what --discovery-srv resolves with. */
export interface SrvClusterOptions {
  /** name is this member's --name. */
  name: string;
  /** domain is --discovery-srv. */
  domain: string;
  /** serviceName is --discovery-srv-name. */
  serviceName: string;
  /** advertisePeerUrls are this member's --initial-advertise-peer-urls. */
  advertisePeerUrls: readonly URL[];
  resolveSrv?: ResolveSrv;
  lookup?: LookupHost;
}

/** SrvCluster is the initial cluster found in DNS ("name=url,...") and the lookups that failed. */
export interface SrvCluster {
  cluster: string[];
  errors: string[];
}

/**
 * srvCluster is etcd's GetDNSClusterNames: the initial cluster from the SRV records of
 * `_etcd-server-ssl[-<name>]._tcp.<domain>` (https peer URLs) and then
 * `_etcd-server[-<name>]._tcp.<domain>` (http). A target that resolves to the address and
 * port of one of this member's advertised peer URLs is this member (its --name); the others
 * are named "0", "1", ... in order. A target that is this member with the other scheme is an
 * error. Records of both services are combined, as etcd 3.5 does (3.4.23 drops the http
 * records when it finds them, a bug 3.5 fixed); the start fails only when neither lookup found
 * a member, with every lookup's error.
 */
export async function srvCluster(o: SrvClusterOptions): Promise<SrvCluster> {
  const resolveSrv = o.resolveSrv ?? ((n: string) => dns.resolveSrv(n));
  const lookup = o.lookup ?? defaultLookup;
  const own = new Map<string, URL>();
  for (const u of o.advertisePeerUrls) {
    const host = u.hostname.replace(/^\[|\]$/g, "");
    own.set(hostPort(await lookup(host), Number(u.port || (u.protocol === "https:" ? 443 : 80))), u);
  }
  let temp = 0;
  const cluster: string[] = [];
  const errors: string[] = [];
  for (const scheme of ["https", "http"] as const) {
    const service = srvService("etcd-server", o.serviceName, scheme);
    const name = `_${service}._tcp.${o.domain}`;
    let records;
    try {
      records = await resolveSrv(name);
    } catch (err) {
      errors.push(`error querying DNS SRV records for _${service} lookup ${name} on DNS: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      continue;
    }
    const found: string[] = [];
    let lastErr = "";
    for (const r of records) {
      const target = r.name.replace(/\.$/, "");
      let addr: string;
      try {
        addr = hostPort(await lookup(target), r.port);
      } catch (err) {
        lastErr = `lookup ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
        continue;
      }
      const self = own.get(addr);
      const urlHost = hostPort(target, r.port);
      if (self !== undefined && self.protocol !== `${scheme}:`) {
        lastErr = `bootstrap at ${scheme}://${urlHost} from DNS for ${service} has scheme mismatch with expected peer ${self.href.replace(/\/$/, "")}`;
        continue;
      }
      found.push(`${self !== undefined ? o.name : String(temp++)}=${scheme}://${urlHost}`);
    }
    if (found.length === 0) errors.push(`error querying DNS SRV records for _${service} ${lastErr}`);
    cluster.push(...found);
  }
  return { cluster, errors };
}
