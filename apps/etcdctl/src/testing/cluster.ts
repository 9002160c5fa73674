import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type TLSOptions } from "@etcd-ts/client";
import { freePort, stopProcess, until } from "@etcd-ts/test-kit";
import type { ServerArgs, SpawnServer } from "./server.js";

/** ClusterMember is one member process of a test cluster. */
export interface ClusterMember {
  name: string;
  /** clientURL is the advertised client URL (http:// or https://). */
  clientURL: string;
  /** endpoint is the client URL's host:port. */
  endpoint: string;
  peerURL: string;
  stop(): Promise<void>;
}

/** ClusterTLS is the server side of TLS: PEM files written to the cluster dir. */
export interface ClusterTLS {
  caCert: string;
  serverCert: string;
  serverKey: string;
}

/** ClusterOptions: flags for every member, and TLS with client-cert-auth for client URLs. */
export interface ClusterOptions {
  extraFlags?: string[];
  tls?: ClusterTLS;
  /** clientTLS is what the harness itself uses to reach TLS members. */
  clientTLS?: TLSOptions;
}

/** TestCluster is a running cluster; members can be added (joining) and stopped. */
export interface TestCluster {
  dir: string;
  members: ClusterMember[];
  /** join starts a member announced with `member add` (initialCluster from its output). */
  join(name: string, peerURL: string, initialCluster: string): Promise<ClusterMember>;
  stop(): Promise<void>;
}

/**
 * startCluster starts an n-member cluster with spawnFn (the Go etcd or etcd-ts, given etcd's
 * flags) on free loopback ports, and waits until every member serves a linearizable read.
 */
export async function startCluster(spawnFn: SpawnServer, n: number, opts: ClusterOptions = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "etcdctl-cluster-"));
  const scheme = opts.tls !== undefined ? "https" : "http";
  const flags = [...(opts.extraFlags ?? [])];
  if (opts.tls !== undefined) {
    const f = (name: string, data: string): string => {
      const p = join(dir, name);
      writeFileSync(p, data);
      return p;
    };
    flags.push(
      "--cert-file", f("server.crt", opts.tls.serverCert),
      "--key-file", f("server.key", opts.tls.serverKey),
      "--trusted-ca-file", f("ca.crt", opts.tls.caCert),
      "--client-cert-auth",
    );
  }
  const procs: ChildProcess[] = [];
  let starts = 0;
  const members: ClusterMember[] = [];
  const launch = async (name: string, peerURL: string, initialCluster: string, state: "new" | "existing") => {
    const cport = await freePort();
    const clientUrl = `${scheme}://127.0.0.1:${cport}`;
    const args: ServerArgs = {
      name,
      // A name may come back after its member was removed: a fresh data dir per start.
      dataDir: join(dir, `${name}-${++starts}`),
      clientUrl,
      listenPeerUrl: peerURL,
      advertisePeerUrl: peerURL,
      initialCluster,
      initialClusterState: state,
      extraFlags: flags,
    };
    const proc = spawnFn(args);
    procs.push(proc);
    const m: ClusterMember = { name, clientURL: clientUrl, endpoint: `127.0.0.1:${cport}`, peerURL, stop: () => stopProcess(proc) };
    return { m, proc };
  };
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => stopProcess(p)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const peers: Array<{ name: string; peerURL: string }> = [];
    for (let i = 1; i <= n; i++) peers.push({ name: `m${i}`, peerURL: `http://127.0.0.1:${await freePort()}` });
    const initial = peers.map((p) => `${p.name}=${p.peerURL}`).join(",");
    const started = await Promise.all(peers.map((p) => launch(p.name, p.peerURL, initial, "new")));
    members.push(...started.map((s) => s.m));
    await Promise.all(started.map((s) => waitServing(s.m, s.proc, opts.clientTLS, "linearizable")));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    dir,
    members,
    async join(name, peerURL, initialCluster) {
      const { m, proc } = await launch(name, peerURL, initialCluster, "existing");
      await waitServing(m, proc, opts.clientTLS, "status");
      return m;
    },
    stop,
  };
}

/**
 * waitServing polls a member until it answers: a linearizable read, or (for a learner, which
 * refuses reads) Status.
 */
async function waitServing(
  m: ClusterMember,
  proc: ChildProcess,
  tls: TLSOptions | undefined,
  probe: "linearizable" | "status",
): Promise<void> {
  const c = new Client(tls === undefined ? { endpoints: [m.clientURL] } : { endpoints: [m.clientURL], tls });
  try {
    await until(
      async () => {
        if (probe === "status") await c.status(m.clientURL, { timeoutMs: 500 });
        else await c.range({ key: Buffer.from("ready") }, { timeoutMs: 500 });
        return true;
      },
      20_000,
      { giveUp: () => (proc.exitCode !== null ? `testing: member ${m.name} exited during start` : undefined) },
    );
  } catch (e) {
    throw new Error(`testing: member ${m.name} did not start: ${String(e)}`);
  } finally {
    c.close();
  }
}
