import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";

/**
 * testdata/etcd.conf.yml.sample is etcd 3.4.23's own sample configuration file, as its
 * repository ships it. etcd-ts starts from it unchanged.
 */
const SAMPLE = join(import.meta.dirname, "testdata", "etcd.conf.yml.sample");

describe("etcd's sample configuration file", () => {
  it("is honoured in every key", () => {
    const r = loadConfig(["--config-file", SAMPLE], {});
    if (r.kind !== "run") throw new Error("expected a configuration");
    const c = r.config;
    expect(c.name).toBe("default");
    expect(c.dataDir).toBe("default.etcd");
    expect(c.snapshotCount).toBe(10000);
    expect([c.heartbeatMs, c.electionMs]).toEqual([100, 1000]);
    expect(c.quotaBackendBytes).toBe(0);
    expect(c.maxWals).toBe(5);
    expect(c.listenClientUrls.map(String)).toEqual(["http://localhost:2379/"]);
    expect(c.initialClusterToken).toBe("etcd-cluster");
    expect(c.enablePprof).toBe(true);
    expect(c.enableV2).toBe(true);
    expect(c.autoCompactionMode).toBe("periodic");
    expect(c.autoCompactionRetention).toBe(3_600_000_000_000n); // "1" in periodic mode: one hour, in ns
    expect(c.logOutputs).toEqual(["stderr"]);
  });
});
