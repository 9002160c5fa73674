import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ETCD_TS_BIN, REAL_ETCD } from "./paths.js";
import { freePort } from "./ports.js";

/** Kind is which server a Member runs: etcd-ts or the real etcd. */
export type Kind = "etcd-ts" | "etcd";

/** MemberOptions start one single-member cluster. */
export interface MemberOptions {
  kind: Kind;
  dataDir?: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * tls, when set, makes the client URLs https:// (the TLS flags go in extraArgs) and is what
   * waitHealthy presents: the CA to verify the server with (none: no verification, as for
   * --auto-tls) and a client certificate when the server requires one.
   */
  tls?: MemberTls;
}

/** MemberTls is the client side of a member's TLS: PEM file paths. */
export interface MemberTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * Member is a spawned single-member server on free loopback ports with its own data dir.
 * Its output goes to a log file in the data dir's parent, printed when a test fails.
 */
export class Member {
  proc: ChildProcess | undefined;
  exited: Promise<number | null> = Promise.resolve(null);
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  private readonly opts: MemberOptions;

  private constructor(opts: MemberOptions, clientPort: number, peerPort: number, dataDir: string) {
    this.opts = opts;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.dataDir = dataDir;
    this.logFile = `${dataDir}.log`;
  }

  static async create(opts: MemberOptions): Promise<Member> {
    const base = mkdtempSync(join(tmpdir(), `e2e-${opts.kind}-`));
    return new Member(opts, await freePort(), await freePort(), opts.dataDir ?? join(base, "data"));
  }

  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get url(): string {
    return `${this.opts.tls !== undefined ? "https" : "http"}://127.0.0.1:${this.clientPort}`;
  }

  args(): string[] {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    return [
      "--name",
      "default",
      "--data-dir",
      this.dataDir,
      "--listen-client-urls",
      this.url,
      "--advertise-client-urls",
      this.url,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      `default=${peer}`,
      ...(this.opts.extraArgs ?? []),
    ];
  }

  /** start spawns the server and waits until /health answers. */
  async start(): Promise<void> {
    const cmd = this.opts.kind === "etcd" ? REAL_ETCD : process.execPath;
    const argv = this.opts.kind === "etcd" ? this.args() : [ETCD_TS_BIN, ...this.args()];
    const log = createWriteStream(this.logFile, { flags: "a" });
    const proc = spawn(cmd, argv, { env: { ...process.env, ...this.opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
    await this.waitHealthy(30_000);
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${this.opts.kind} exited during start; log tail:\n${this.logTail()}`);
      try {
        if ((await this.healthStatus()) === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.opts.kind} did not become healthy in ${timeoutMs}ms; log tail:\n${this.logTail()}`);
  }

  /** healthStatus GETs /health (over TLS with the member's CA and client certificate when it has TLS) and returns the HTTP status. */
  private async healthStatus(): Promise<number> {
    const tls = this.opts.tls;
    if (tls === undefined) return (await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) })).status;
    return new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        `${this.url}/health`,
        {
          timeout: 1000,
          agent: false,
          rejectUnauthorized: tls.caFile !== undefined,
          ...(tls.caFile !== undefined ? { ca: readFileSync(tls.caFile) } : {}),
          ...(tls.certFile !== undefined && tls.keyFile !== undefined ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {}),
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end();
    });
  }

  /** logTail is the end of the server's log, for failure messages. */
  logTail(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, "utf8").slice(-3000) : "(no log)";
  }

  /** kill sends a signal and waits for the exit. */
  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.proc === undefined || this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc?.exitCode ?? null;
    this.proc.kill(signal);
    return this.exited;
  }

  /** destroy kills the process and removes the data dir. */
  async destroy(): Promise<void> {
    await this.kill("SIGKILL");
    rmSync(join(this.dataDir, ".."), { recursive: true, force: true });
  }
}
