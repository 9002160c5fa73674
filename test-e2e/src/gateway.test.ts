import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REAL_ETCD, REAL_ETCDCTL, freePort, run, serverCommand, spawnServer, stopProcess, until, type RunResult, type Spawned } from "@etcd-ts/test-kit";
import { TestCluster, type ClusterMember } from "./harness/cluster.js";

/**
 * `etcd-ts gateway start` (etcd's L4 gateway) in front of a 3-member etcd-ts cluster, next to
 * the real `etcd gateway start` in front of the same cluster: the real etcdctl works through
 * either, and keeps working through either when a member is down.
 */

async function ctl(endpoint: string, ...args: string[]): Promise<RunResult> {
  return run(REAL_ETCDCTL, ["--endpoints", endpoint, "--command-timeout", "5s", ...args]);
}

describe("etcd-ts gateway start", () => {
  let c: TestCluster;
  const gateways: { kind: string; addr: string; g: Spawned }[] = [];

  beforeAll(async () => {
    c = await TestCluster.start("etcd-ts", 3);
    for (const kind of ["etcd-ts", "etcd"] as const) {
      const addr = `127.0.0.1:${await freePort()}`;
      const cmd = kind === "etcd" ? [REAL_ETCD] : serverCommand("etcd-ts");
      const g = spawnServer(cmd, ["gateway", "start", "--endpoints", c.members.map((m) => c.clientUrl(m)).join(","), "--listen-addr", addr, "--retry-delay", "1s"]);
      gateways.push({ kind, addr, g });
      await until(async () => ((await ctl(addr, "endpoint", "health")).code === 0 ? true : undefined));
    }
  });
  afterAll(async () => {
    for (const { g } of gateways) await stopProcess(g.proc);
    await c?.destroy();
  });

  it("carries etcdctl's requests to the cluster, as etcd's gateway does", async () => {
    for (const { kind, addr } of gateways) {
      expect((await ctl(addr, "put", `via-${kind}`, kind)).stdout).toBe("OK\n");
    }
    for (const { addr } of gateways) {
      expect((await ctl(addr, "get", "via-", "--prefix", "--print-value-only")).stdout).toBe("etcd\netcd-ts\n");
    }
  });

  it("keeps serving new connections when a member is down", async () => {
    const down = c.members[2] as ClusterMember;
    await c.kill(down);
    // Wait until the two live members serve writes (a new leader, if the killed one led).
    const live = c.members.filter((m) => m !== down).map((m) => c.endpoint(m)).join(",");
    await until(async () => ((await ctl(live, "put", "settled", "v")).code === 0 ? true : undefined));
    for (const { kind, addr } of gateways) {
      // Each etcdctl run is a new connection; whichever member it is given, a dead one is skipped.
      for (let i = 0; i < 4; i++) {
        const r = await ctl(addr, "put", `after-${kind}-${i}`, "v");
        expect(r.stdout, `${kind} gateway, put ${i}: ${r.stderr}`).toBe("OK\n");
      }
    }
  });

  it("exits at once with etcd's message when an endpoint is its own listen address", async () => {
    const port = await freePort();
    const args = ["gateway", "start", "--endpoints", `http://127.0.0.1:${port}`, "--listen-addr", `127.0.0.1:${port}`];
    const ours = await run(process.execPath, [...serverCommand("etcd-ts").slice(1), ...args]);
    const theirs = await run(REAL_ETCD, args);
    expect(ours.code).toBe(1);
    expect(theirs.code).toBe(1);
    expect(ours.stdout).toBe(theirs.stdout);
  });
});
