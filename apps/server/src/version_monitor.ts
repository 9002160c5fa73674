import type { ConnectionOptions } from "node:tls";
import type { EtcdServer } from "./etcd_server.js";
import { SERVER_VERSION } from "./etcd_server.js";
import { hexId } from "./ids.js";
import { LeaderTask } from "./leader_task.js";
import type { Logger } from "./log.js";
import { PATH_VERSION } from "./peer/headers.js";
import { peerRequest } from "./peer/request.js";

/** MONITOR_VERSION_INTERVAL_MS is how often the leader reconsiders the cluster version (etcd: 4s). */
const MONITOR_VERSION_INTERVAL_MS = 4000;

/** MIN_CLUSTER_VERSION is the cluster version set when the members' versions cannot all be read (etcd's MinClusterVersion). */
const MIN_CLUSTER_VERSION = "3.0.0";

/**
 * VersionMonitor is etcd's monitorVersions: on the leader, when it takes office and every
 * 4 s, it reads every member's server version (its own; the others' from their peer
 * /version) and proposes through raft the lowest of them, as major.minor.0, when the cluster
 * has no version yet (the minimum cluster version if some member did not answer) or a lower
 * one. Every member applies it and reports it as `etcdcluster` on /version.
 */
export class VersionMonitor {
  private readonly task: LeaderTask;

  constructor(
    private readonly server: EtcdServer,
    private readonly tls: ConnectionOptions | undefined,
    private readonly logger: Logger,
  ) {
    this.task = new LeaderTask(() => server.isLeader, MONITOR_VERSION_INTERVAL_MS, () => this.check(), logger, "failed to update cluster version");
  }

  start(): void {
    this.task.start();
    this.server.onLeaderChange((lead) => {
      if (lead === this.server.memberId) this.task.runNow();
    });
  }

  stop(): void {
    this.task.stop();
  }

  /** check decides the cluster version and proposes it when it is new or higher. */
  async check(): Promise<void> {
    const decided = decideClusterVersion(await this.memberVersions());
    const current = this.server.clusterVersion;
    if (current === undefined) {
      await this.server.proposeClusterVersion(decided ?? MIN_CLUSTER_VERSION);
      return;
    }
    if (decided !== undefined && compareVersions(current, decided) < 0) await this.server.proposeClusterVersion(decided);
  }

  /** memberVersions reads each member's server version; undefined for one that did not answer. */
  private async memberVersions(): Promise<Map<bigint, string | undefined>> {
    const out = new Map<bigint, string | undefined>();
    await Promise.all(
      this.server.members().map(async (m) => {
        if (m.id === this.server.memberId) {
          out.set(m.id, SERVER_VERSION);
          return;
        }
        for (const url of m.peerUrls) {
          try {
            const res = await peerRequest(url, { method: "GET", path: PATH_VERSION }, this.tls, this.server.requestTimeoutMs);
            const v = (JSON.parse(res.body.toString()) as { etcdserver?: unknown }).etcdserver;
            if (res.status === 200 && typeof v === "string") {
              out.set(m.id, v);
              return;
            }
          } catch (err) {
            this.logger.warn("failed to reach the peer URL", {
              address: `${url}${PATH_VERSION}`,
              "remote-member-id": hexId(m.id),
              error: (err as Error)?.message ?? String(err),
            });
          }
        }
        out.set(m.id, undefined);
      }),
    );
    return out;
  }
}

/**
 * decideClusterVersion is the lowest server version of the members as major.minor.0, or
 * undefined when a member's version is unknown or unreadable (etcd's decideClusterVersion).
 */
export function decideClusterVersion(versions: Map<bigint, string | undefined>): string | undefined {
  let min: string | undefined;
  for (const v of versions.values()) {
    if (v === undefined || parseVersion(v) === undefined) return undefined;
    if (min === undefined || compareVersions(v, min) < 0) min = v;
  }
  if (min === undefined) return undefined;
  const [major, minor] = parseVersion(min) as [number, number, number];
  return `${major}.${minor}.0`;
}

function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** compareVersions orders two semantic versions by major, minor, patch. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a) ?? [0, 0, 0];
  const y = parseVersion(b) ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return 0;
}
