import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdFlags, freePort, isRunning, serverCommand, spawnServer, waitHealthy, type HealthTls, type ServerKind } from "@etcd-ts/test-kit";

/** Kind is which server a Member runs: etcd-ts or the real etcd. */
export type Kind = ServerKind;

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
    this.opts = { ...opts };
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.dataDir = dataDir;
    this.logFile = `${dataDir}.log`;
  }

  /** kind is the server the member runs now; switchKind changes it for the next start (a binary swap on the same data dir and flags). */
  get kind(): Kind {
    return this.opts.kind;
  }

  switchKind(kind: Kind): void {
    this.opts.kind = kind;
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
    return etcdFlags({
      name: "default",
      dataDir: this.dataDir,
      clientUrl: this.url,
      listenPeerUrl: peer,
      advertisePeerUrl: peer,
      extraFlags: this.opts.extraArgs ?? [],
    });
  }

  /** start spawns the server and waits until /health answers. */
  async start(): Promise<void> {
    const { proc, exited } = spawnServer(serverCommand(this.opts.kind), this.args(), {
      logFile: this.logFile,
      ...(this.opts.env !== undefined ? { env: this.opts.env } : {}),
    });
    this.proc = proc;
    this.exited = exited;
    await this.waitHealthy(30_000);
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    const proc = this.proc;
    await waitHealthy(this.url, {
      tls: this.healthTls(),
      timeoutMs,
      name: this.opts.kind,
      exited: () => proc !== undefined && !isRunning(proc),
      detail: () => this.logTail(),
    });
  }

  /** healthTls is what /health is asked with: the member's CA and client certificate when it has TLS. */
  private healthTls(): HealthTls {
    const tls = this.opts.tls;
    if (tls === undefined) return {};
    return {
      ...(tls.caFile !== undefined ? { ca: readFileSync(tls.caFile) } : {}),
      ...(tls.certFile !== undefined && tls.keyFile !== undefined ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : {}),
    };
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
