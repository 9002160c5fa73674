import { Etcd3 } from "etcd3";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCerts, type TestCerts } from "./harness/certs.js";
import { TestCluster, type ClusterMember } from "./harness/cluster.js";
import { REAL_ETCDCTL, run, until } from "@etcd-ts/test-kit";

/**
 * The bootstrap and kill-the-leader scenario over TLS: peer and client certificates from a
 * CA the test generates (the real etcdctl and the npm etcd3 client connect with them), and
 * a cluster whose peers use --peer-auto-tls.
 */


function scenario(name: string, setup: (certs: TestCerts) => Promise<{ c: TestCluster; ctlTls: string[]; etcd3Tls: object | undefined }>): void {
  describe(name, () => {
    let certs: TestCerts;
    let c: TestCluster;
    let ctlTls: string[];
    let etcd3Tls: object | undefined;
    beforeAll(async () => {
      certs = makeTestCerts();
      ({ c, ctlTls, etcd3Tls } = await setup(certs));
    });
    afterAll(async () => {
      await c.destroy();
      certs.remove();
    });

    const ctl = (eps: ClusterMember[], ...args: string[]) =>
      run(REAL_ETCDCTL, ["--endpoints", eps.map((m) => c.endpoint(m)).join(","), "--command-timeout", "3s", ...ctlTls, ...args]);

    const leaderOf = (live: ClusterMember[]) =>
      until(async () => {
        const r = await ctl(live, "endpoint", "status", "-w", "fields");
        const leaders = new Set([...r.stdout.matchAll(/"Leader" : (\d+)/g)].map((m) => m[1]));
        const ids = [...r.stdout.matchAll(/"MemberID" : (\d+)/g)].map((m) => m[1]);
        if (leaders.size !== 1 || leaders.has("0") || ids.length !== live.length) return undefined;
        const lead = [...leaders][0];
        return live[ids.indexOf(lead)];
      });

    it("bootstraps and serves the real etcdctl and etcd3 over TLS; survives killing the leader", async () => {
      const list = await ctl(c.members, "member", "list");
      expect(list.code).toBe(0);
      expect(list.stdout.trim().split("\n")).toHaveLength(3);
      const leader = await leaderOf(c.members);
      const hosts = c.members.map((m) => c.clientUrl(m));
      const client = new Etcd3(etcd3Tls === undefined ? { hosts } : { hosts, credentials: etcd3Tls as never });
      const acked = new Map<string, string>();
      // Acknowledged puts, counted: acked holds at most 400 keys, which fast writers fill before the kill.
      let ackedPuts = 0;
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !stop && i < 50_000; i++) {
          try {
            await client.put(`tls/w${w}/k${i % 100}`).value(`${i}`);
            acked.set(`tls/w${w}/k${i % 100}`, `${i}`);
            ackedPuts++;
          } catch {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      };
      const writers = Array.from({ length: 4 }, (_, w) => writer(w));
      await new Promise((r) => setTimeout(r, 800));
      await c.kill(leader, "SIGKILL");
      const live = c.members.filter((m) => m !== leader);
      await leaderOf(live);
      const before = ackedPuts;
      await until(async () => (ackedPuts > before + 20 ? true : undefined));
      stop = true;
      await Promise.all(writers);
      const all = await client.getAll().prefix("tls/").strings();
      for (const [k, v] of acked) expect(Number(all[k]), k).toBeGreaterThanOrEqual(Number(v));
      client.close();
      await c.spawn(leader);
      await c.waitHealthy(leader, 30_000);
      await until(async () => {
        const r = await ctl(c.members, "endpoint", "hashkv");
        const values = [...r.stdout.matchAll(/^\S+, (\d+)$/gm)].map((m) => m[1]);
        return r.code === 0 && values.length === 3 && new Set(values).size === 1 ? true : undefined;
      });
    });
  });
}

scenario("3-member cluster with peer and client certificates from a test CA", async (certs) => {
  const tlsArgs = [
    "--cert-file", certs.serverCert, "--key-file", certs.serverKey, "--trusted-ca-file", certs.caFile, "--client-cert-auth",
    "--peer-cert-file", certs.serverCert, "--peer-key-file", certs.serverKey, "--peer-trusted-ca-file", certs.caFile, "--peer-client-cert-auth",
  ];
  const c = await TestCluster.start("etcd-ts", 3, {
    peerScheme: "https",
    clientTls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey },
    extraArgs: tlsArgs,
  });
  return {
    c,
    ctlTls: ["--cacert", certs.caFile, "--cert", certs.clientCert, "--key", certs.clientKey],
    etcd3Tls: {
      rootCertificate: readFileSync(certs.caFile),
      certChain: readFileSync(certs.clientCert),
      privateKey: readFileSync(certs.clientKey),
    },
  };
});

scenario("3-member cluster with --peer-auto-tls", async () => {
  const c = await TestCluster.start("etcd-ts", 3, { peerScheme: "https", extraArgs: ["--peer-auto-tls"] });
  return { c, ctlTls: [], etcd3Tls: undefined };
});
