import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdFlags, freePort, isRunning, serverCommand, spawnServer, waitHealthy } from "@etcd-ts/test-kit";
import { TcpProxy } from "./proxy.js";
import type { Kind } from "./member.js";

/** ClusterOptions shape a test cluster: proxies in front of peer ports, TLS, extra flags. */
export interface ClusterOptions {
  proxied?: boolean;
  extraArgs?: string[];
  /** peerScheme "https" serves peer traffic over TLS (the TLS flags go in extraArgs). */
  peerScheme?: "http" | "https";
  /** clientTls makes client URLs https; these files are what a client presents to the members. */
  clientTls?: { caFile: string; certFile: string; keyFile: string };
}

/** ClusterMember is one member process of a test cluster. */
export interface ClusterMember {
  name: string;
  clientPort: number;
  /** peerPort is what the member listens on; peers reach it through `proxy` when proxied. */
  peerPort: number;
  advertisedPeerPort: number;
  proxy: TcpProxy | undefined;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | undefined;
  exited: Promise<number | null>;
  extraArgs: string[];
  state: "new" | "existing";
  initialCluster: string;
}

/**
 * TestCluster runs N members (etcd-ts or the real etcd) on loopback. With `proxied`, each
 * member's advertised peer URL is a TcpProxy in front of its real peer port, so a test can
 * cut the traffic its peers send it.
 */
export class TestCluster {
  readonly members: ClusterMember[] = [];
  private constructor(
    /** kind is the server the members run; a test may change it between stop and start (a binary swap). */
    public kind: Kind,
    private readonly base: string,
    private readonly o: ClusterOptions,
  ) {}

  static async start(kind: Kind, n: number, opts: ClusterOptions = {}): Promise<TestCluster> {
    const c = new TestCluster(kind, mkdtempSync(join(tmpdir(), `e2e-cluster-${kind}-`)), opts);
    for (let i = 0; i < n; i++) await c.define(`m${i}`, opts.proxied ?? false, opts.extraArgs ?? []);
    const initial = c.initialCluster();
    for (const m of c.members) m.initialCluster = initial;
    await Promise.all(c.members.map((m) => c.spawn(m)));
    await Promise.all(c.members.map((m) => c.waitHealthy(m, 30_000)));
    return c;
  }

  /** define allocates ports (and a proxy) for a member without starting it. */
  async define(name: string, proxied: boolean, extraArgs: string[]): Promise<ClusterMember> {
    const peerPort = await freePort();
    const advertisedPeerPort = proxied ? await freePort() : peerPort;
    const proxy = proxied ? await TcpProxy.start(advertisedPeerPort, peerPort) : undefined;
    const m: ClusterMember = {
      name,
      clientPort: await freePort(),
      peerPort,
      advertisedPeerPort,
      proxy,
      dataDir: join(this.base, name),
      logFile: join(this.base, `${name}.log`),
      proc: undefined,
      exited: Promise.resolve(null),
      extraArgs,
      state: "new",
      initialCluster: "",
    };
    this.members.push(m);
    return m;
  }

  peerUrl(m: ClusterMember): string {
    return `${this.o.peerScheme ?? "http"}://127.0.0.1:${m.advertisedPeerPort}`;
  }

  clientUrl(m: ClusterMember): string {
    return `${this.o.clientTls !== undefined ? "https" : "http"}://127.0.0.1:${m.clientPort}`;
  }

  endpoint(m: ClusterMember): string {
    return `127.0.0.1:${m.clientPort}`;
  }

  endpoints(): string {
    return this.members.map((m) => this.endpoint(m)).join(",");
  }

  initialCluster(members = this.members): string {
    return members.map((m) => `${m.name}=${this.peerUrl(m)}`).join(",");
  }

  args(m: ClusterMember): string[] {
    return etcdFlags({
      name: m.name,
      dataDir: m.dataDir,
      clientUrl: this.clientUrl(m),
      listenPeerUrl: `${this.o.peerScheme ?? "http"}://127.0.0.1:${m.peerPort}`,
      advertisePeerUrl: this.peerUrl(m),
      initialCluster: m.initialCluster,
      initialClusterState: m.state,
      extraFlags: ["--initial-cluster-token", "e2e-cluster", "--heartbeat-interval", "50", "--election-timeout", "500", ...m.extraArgs],
    });
  }

  /** spawn starts (or restarts) a member's process. */
  async spawn(m: ClusterMember): Promise<void> {
    const { proc, exited } = spawnServer(serverCommand(this.kind), this.args(m), { logFile: m.logFile });
    m.proc = proc;
    m.exited = exited;
  }

  /** waitHealthy polls the member's /health (over TLS with the test CA and client certificate when set). */
  async waitHealthy(m: ClusterMember, timeoutMs: number): Promise<void> {
    const tls = this.o.clientTls;
    const proc = m.proc;
    await waitHealthy(this.clientUrl(m), {
      tls: tls === undefined ? {} : { ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) },
      timeoutMs,
      name: m.name,
      exited: () => proc !== undefined && !isRunning(proc),
      detail: () => this.logTail(m),
    });
  }

  logTail(m: ClusterMember): string {
    return existsSync(m.logFile) ? readFileSync(m.logFile, "utf8").slice(-3000) : "(no log)";
  }

  async kill(m: ClusterMember, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = m.proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    await m.exited;
  }

  async destroy(): Promise<void> {
    for (const m of this.members) {
      await this.kill(m);
      await m.proxy?.close();
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}
