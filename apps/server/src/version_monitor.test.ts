import { afterEach, describe, expect, it } from "vitest";
import type { Etcd } from "./embed.js";
import { restart, startCluster, stopAll, until } from "./testing/cluster.js";
import { compareVersions, decideClusterVersion } from "./version_monitor.js";

afterEach(stopAll);

const clusterVersion = (e: Etcd): string => (JSON.parse(e.server.versionJson()) as { etcdcluster: string }).etcdcluster;

describe("decideClusterVersion", () => {
  it("is the lowest member version as major.minor.0, and undecided while a member's version is unknown", () => {
    expect(decideClusterVersion(new Map([[1n, "3.4.23"], [2n, "3.5.1"]]))).toBe("3.4.0");
    expect(decideClusterVersion(new Map([[1n, "3.5.0"]]))).toBe("3.5.0");
    expect(decideClusterVersion(new Map([[1n, "3.4.23"], [2n, undefined]]))).toBeUndefined();
    expect(decideClusterVersion(new Map([[1n, "garbage"]]))).toBeUndefined();
    expect(compareVersions("3.4.0", "3.10.0")).toBeLessThan(0);
  });
});

describe("the cluster version", { timeout: 60_000 }, () => {
  it("is agreed through raft by every member and kept across a restart", async () => {
    const ms = await startCluster(3);
    await until(() => ms.every((m) => clusterVersion(m) === "3.4.0"));
    expect(JSON.parse((ms[0] as Etcd).server.versionJson())).toEqual({ etcdserver: "3.4.23", etcdcluster: "3.4.0" });
    const back = await restart(ms[1] as Etcd);
    // Known from the backend at once, before any leader re-decides it.
    expect(clusterVersion(back)).toBe("3.4.0");
  });
});
