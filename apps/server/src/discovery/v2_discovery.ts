import { posix } from "node:path";
import { hexId } from "../ids.js";
import type { Logger } from "../log.js";
import { V2ClientError, V2ClusterError, V2InvalidJsonError, V2KeysClient, type V2ClientNode } from "./v2_keys_client.js";

/** DiscoveryError is a failed discovery with etcd's v2discovery error text (e.g. "discovery: cluster is full"). */
export class DiscoveryError extends Error {
  constructor(readonly reason: DiscoveryReason, detail?: string) {
    super(detail ?? REASONS[reason]);
    this.name = "DiscoveryError";
  }
}

export type DiscoveryReason = "invalid_url" | "bad_size" | "size_not_found" | "duplicate_id" | "duplicate_name" | "full" | "bad_endpoint" | "other";

const REASONS: Record<DiscoveryReason, string> = {
  invalid_url: "discovery: invalid URL",
  bad_size: "discovery: size key is bad",
  size_not_found: "discovery: size key not found",
  duplicate_id: "discovery: found duplicate id",
  duplicate_name: "discovery: found duplicate name",
  full: "discovery: cluster is full",
  bad_endpoint: "discovery: bad discovery endpoint",
  other: "discovery: failed",
};

/** JoinOptions are a member's discovery: the token URL, an optional HTTP proxy, its ID and "name=peer-urls". */
export interface JoinOptions {
  url: string;
  proxy: string;
  id: bigint;
  /** config is this member's entry: "<name>=<peer url>[,<name>=<peer url>...]". */
  config: string;
  logger: Logger;
  /** signal stops the retries and the waits (the process is stopping). */
  signal?: AbortSignal;
  /** sleep waits ms (tests shorten it). */
  sleep?: (ms: number) => Promise<void>;
}

/** MAX_BACKOFF_EXPONENT caps the retry wait at 2^8 s, as etcd's maxExpoentialRetries. */
const MAX_BACKOFF_EXPONENT = 8;

/**
 * joinCluster is etcd's v2discovery.JoinCluster: read the token's `_config/size`, register
 * this member as `<token>/<id hex>` = config (prevExist=false; taken already: "found duplicate
 * id"), wait until `size` members have registered, and answer the initial cluster of the
 * first `size` registrations by creation order ("name=url,..."). A token that had `size`
 * members before this one registered is "cluster is full". A discovery service that cannot
 * be reached is retried forever with waits doubling from 2 s to 256 s, as etcd does.
 */
export async function joinCluster(o: JoinOptions): Promise<string> {
  let u: URL;
  try {
    u = new URL(o.url);
  } catch {
    throw new DiscoveryError("invalid_url");
  }
  const token = u.pathname;
  const client = new V2KeysClient(u.origin, o.proxy);
  const d = new Discovery(client, token, o);
  await d.checkCluster();
  await d.createSelf(o.config);
  const { nodes, size, index } = await d.checkCluster();
  const all = await d.waitNodes(nodes, size, index);
  return nodesToCluster(all, size);
}

class Discovery {
  private retries = 0;

  constructor(
    private readonly c: V2KeysClient,
    private readonly token: string,
    private readonly o: JoinOptions,
  ) {}

  private get selfKey(): string {
    return posix.join("/", this.token, hexId(this.o.id));
  }

  async createSelf(config: string): Promise<void> {
    let created: number;
    try {
      created = (await this.c.create(this.selfKey, config)).node.createdIndex;
    } catch (err) {
      if (err instanceof V2ClientError && err.code === 105) throw new DiscoveryError("duplicate_id");
      throw err;
    }
    // As etcd: wait until the registration is visible to a watch from its own index.
    await this.c.watch(this.selfKey, created - 1, false, this.o.signal);
  }

  /** checkCluster reads the size and the registrations, sorted by creation; "full" when this member is not among the first `size`. */
  async checkCluster(): Promise<{ nodes: V2ClientNode[]; size: number; index: number }> {
    const configKey = posix.join("/", this.token, "_config");
    let sizeText: string;
    try {
      sizeText = (await this.c.get(posix.join(configKey, "size"))).node.value ?? "";
    } catch (err) {
      if (err instanceof V2ClientError && err.code === 100) throw new DiscoveryError("size_not_found");
      if (err instanceof V2InvalidJsonError) throw new DiscoveryError("bad_endpoint");
      if (err instanceof V2ClusterError) return this.retry("cluster status check", err, () => this.checkCluster());
      throw err;
    }
    if (!/^[0-9]+$/.test(sizeText)) throw new DiscoveryError("bad_size");
    const size = Number(sizeText);
    let resp;
    try {
      resp = await this.c.get(this.token);
    } catch (err) {
      if (err instanceof V2ClusterError) return this.retry("cluster status check", err, () => this.checkCluster());
      throw err;
    }
    const nodes = (resp.node.nodes ?? []).filter((n) => posix.basename(n.key) !== "_config").sort((a, b) => a.createdIndex - b.createdIndex);
    const self = posix.basename(this.selfKey);
    for (let i = 0; i < nodes.length; i++) {
      if (posix.basename((nodes[i] as V2ClientNode).key) === self) break;
      if (i >= size - 1) throw Object.assign(new DiscoveryError("full"), { nodes: nodes.slice(0, size), size });
    }
    return { nodes, size, index: resp.index };
  }

  /** waitNodes watches the token until `size` members have registered. */
  async waitNodes(nodes: V2ClientNode[], size: number, index: number): Promise<V2ClientNode[]> {
    const all = nodes.slice(0, size);
    const self = posix.basename(this.selfKey);
    for (const n of all) {
      if (posix.basename(n.key) === self) this.o.logger.info("found self from discovery server", { self: n.value });
      else this.o.logger.info("found peer from discovery server", { peer: n.value });
    }
    let after = index;
    while (all.length < size) {
      this.o.logger.info("found peers from discovery server; waiting for more", { "found-peers": all.length, "needed-peers": size - all.length });
      let ev;
      try {
        ev = await this.c.watch(this.token, after, true, this.o.signal);
      } catch (err) {
        if (err instanceof V2ClusterError) {
          await this.backoff("waiting for other nodes", err);
          const again = await this.checkCluster();
          return this.waitNodes(again.nodes, again.size, again.index);
        }
        throw err;
      }
      after = ev.node.modifiedIndex;
      // Only new registrations count (etcd appends each event's node; a token's keys are only created).
      if (ev.action !== "create" || posix.basename(ev.node.key) === "_config") continue;
      this.o.logger.info("found peer from discovery server", { peer: ev.node.value });
      all.push(ev.node);
    }
    this.o.logger.info("found all needed peers from discovery server", { peers: all.map((n) => n.value ?? "") });
    return all;
  }

  private async retry<T>(step: string, err: Error, again: () => Promise<T>): Promise<T> {
    await this.backoff(step, err);
    return again();
  }

  private async backoff(step: string, err: Error): Promise<void> {
    this.retries++;
    const waitMs = 2 ** Math.min(this.retries, MAX_BACKOFF_EXPONENT) * 1000;
    this.o.logger.warn("retry connecting to discovery service", { url: this.o.url, reason: err.message, "backoff": `${waitMs / 1000}s`, step });
    if (this.o.signal?.aborted === true) throw new DiscoveryError("other", "discovery: stopped");
    await (this.o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))))(waitMs);
  }
}

/**
 * nodesToCluster is etcd's nodesToCluster: the registrations' values joined by ","; a value
 * that is no "name=url" list is "invalid URL", two registrations with one name "duplicate name".
 */
export function nodesToCluster(nodes: readonly V2ClientNode[], size: number): string {
  const text = nodes.map((n) => n.value ?? "").join(",");
  const names = new Set<string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new DiscoveryError("invalid_url");
    try {
      new URL(part.slice(eq + 1));
    } catch {
      throw new DiscoveryError("invalid_url");
    }
    names.add(part.slice(0, eq));
  }
  if (names.size !== size) throw new DiscoveryError("duplicate_name");
  return text;
}
