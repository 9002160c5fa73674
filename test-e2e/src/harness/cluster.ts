import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ETCD_TS_BIN, REAL_ETCD } from "./paths.js";
import { freePort } from "./ports.js";
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
    readonly kind: Kind,
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
    return [
      "--name", m.name,
      "--data-dir", m.dataDir,
      "--listen-client-urls", this.clientUrl(m),
      "--advertise-client-urls", this.clientUrl(m),
      "--listen-peer-urls", `${this.o.peerScheme ?? "http"}://127.0.0.1:${m.peerPort}`,
      "--initial-advertise-peer-urls", this.peerUrl(m),
      "--initial-cluster", m.initialCluster,
      "--initial-cluster-state", m.state,
      "--initial-cluster-token", "e2e-cluster",
      "--heartbeat-interval", "50",
      "--election-timeout", "500",
      ...m.extraArgs,
    ];
  }

  /** spawn starts (or restarts) a member's process. */
  async spawn(m: ClusterMember): Promise<void> {
    const cmd = this.kind === "etcd" ? REAL_ETCD : process.execPath;
    const argv = this.kind === "etcd" ? this.args(m) : [ETCD_TS_BIN, ...this.args(m)];
    const log = createWriteStream(m.logFile, { flags: "a" });
    const proc = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    m.proc = proc;
    m.exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  }

  async waitHealthy(m: ClusterMember, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (m.proc !== undefined && (m.proc.exitCode !== null || m.proc.signalCode !== null)) {
        throw new Error(`${m.name} exited; log tail:\n${this.logTail(m)}`);
      }
      if ((await this.health(m).catch(() => 0)) === 200) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${m.name} not healthy in ${timeoutMs}ms; log tail:\n${this.logTail(m)}`);
  }

  /** health is the HTTP status of the member's /health (over TLS with the test CA when set). */
  private health(m: ClusterMember): Promise<number> {
    const tls = this.o.clientTls;
    if (tls === undefined) {
      return fetch(`http://127.0.0.1:${m.clientPort}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status);
    }
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port: m.clientPort,
          path: "/health",
          timeout: 1000,
          ca: readFileSync(tls.caFile),
          cert: readFileSync(tls.certFile),
          key: readFileSync(tls.keyFile),
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.end();
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
