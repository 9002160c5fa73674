import { parseInitialCluster, type ServerConfig } from "../config/config.js";
import { memberId as deriveMemberId } from "../ids.js";
import type { Logger } from "../log.js";
import { srvCluster, type LookupHost } from "./srv_cluster.js";
import type { ResolveSrv } from "../gateway/srv.js";
import { DiscoveryError, joinCluster } from "./v2_discovery.js";

/** DiscoverHooks replace the network in tests. */
export interface DiscoverHooks {
  resolveSrv?: ResolveSrv;
  lookup?: LookupHost;
  signal?: AbortSignal;
}

/**
 * discoverInitialCluster is how a member that has no data yet learns its initial cluster
 * when started with --discovery or --discovery-srv (etcd's PeerURLsMapAndToken and
 * v2discovery.JoinCluster); without them the configuration is returned as it is. With
 * --discovery the member registers under the token with its ID (derived from its peer URLs
 * and the token URL, as etcd does) and waits for the others; with --discovery-srv the
 * members are the SRV records' targets. The answer replaces --initial-cluster; the start
 * goes on as a new cluster's.
 */
export async function discoverInitialCluster(cfg: ServerConfig, logger: Logger, hooks: DiscoverHooks = {}): Promise<ServerConfig> {
  const d = cfg.discovery;
  if (d.url !== "") {
    const self = cfg.initialCluster.get(cfg.name) ?? [];
    const id = deriveMemberId(self, cfg.initialClusterToken);
    let text: string;
    try {
      text = await joinCluster({
        url: d.url,
        proxy: d.proxy,
        id,
        config: self.map((u) => `${cfg.name}=${u}`).join(","),
        logger,
        ...(hooks.signal !== undefined ? { signal: hooks.signal } : {}),
      });
    } catch (err) {
      throw explain(err, cfg, logger);
    }
    const initialCluster = parseInitialCluster(text);
    const urls = [...initialCluster.values()].flat();
    if (new Set(urls).size !== urls.length) throw new Error(`discovery cluster ${text} has duplicate url`);
    logger.info("discovered the initial cluster", { "discovery-token": d.url, "initial-cluster": text });
    return { ...cfg, initialCluster };
  }
  if (d.srv !== "") {
    const r = await srvCluster({
      name: cfg.name,
      domain: d.srv,
      serviceName: d.srvName,
      advertisePeerUrls: cfg.initialAdvertisePeerUrls,
      ...(hooks.resolveSrv !== undefined ? { resolveSrv: hooks.resolveSrv } : {}),
      ...(hooks.lookup !== undefined ? { lookup: hooks.lookup } : {}),
    });
    for (const e of r.errors) logger.warn("failed to resolve during SRV discovery", { error: e });
    if (r.cluster.length === 0) throw new Error(`error setting up initial cluster: ${r.errors.join("; ")}`);
    logger.info("found the initial cluster in DNS SRV records", { "discovery-srv": d.srv, "found-cluster": r.cluster });
    return { ...cfg, initialCluster: parseInitialCluster(r.cluster.join(",")) };
  }
  return cfg;
}

/** explain logs etcd's advice for a failed discovery and returns the start's error (etcd's DiscoveryError text). */
function explain(err: unknown, cfg: ServerConfig, logger: Logger): Error {
  if (!(err instanceof DiscoveryError)) return err instanceof Error ? err : new Error(String(err));
  const token = cfg.discovery.url;
  const failed = new Error(`failed to join discovery cluster (${err.message})`);
  switch (err.reason) {
    case "duplicate_id":
      logger.warn("member has been registered with discovery service", { name: cfg.name, "discovery-token": token, error: err.message });
      logger.warn("but could not find valid cluster configuration", { "data-dir": cfg.dataDir });
      logger.warn("check data dir if previous bootstrap succeeded");
      logger.warn("or use a new discovery token if previous bootstrap failed");
      break;
    case "duplicate_name":
      logger.warn("member with duplicated name has already been registered", { "discovery-token": token, error: err.message });
      logger.warn("cURL the discovery token URL for details");
      logger.warn("do not reuse discovery token; generate a new one to bootstrap a cluster");
      break;
    case "full":
      if (cfg.discovery.fallback === "proxy") {
        logger.warn("discovery cluster is full; etcd falls back to a proxy here (--discovery-fallback=proxy), which etcd-ts does not have", {
          "discovery-token": token,
        });
        break;
      }
      logger.warn("failed to bootstrap; discovery token was already used", { "discovery-token": token, error: failed.message });
      logger.warn("do not reuse discovery token; generate a new one to bootstrap a cluster");
      break;
    default:
      logger.warn("failed to bootstrap; discovery token was already used", { "discovery-token": token, error: failed.message });
      logger.warn("do not reuse discovery token; generate a new one to bootstrap a cluster");
  }
  return failed;
}
