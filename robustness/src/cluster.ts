import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { etcdFlags, freePort, isRunning, serverCommand, spawnServer, waitHealthy, type ServerKind } from "@etcd-ts/test-kit";
import { NetNs } from "./netns.js";
import { FaultProxy } from "./proxy.js";

/** ClusterOptions shape a robustness cluster. Times are milliseconds. */
export interface ClusterOptions {
  kind: ServerKind;
  size: number;
  /** dir holds every member's data directory and log; the caller removes it (or keeps it for a failed run). */
  dir: string;
  heartbeatMs: number;
  electionMs: number;
  extraArgs?: readonly string[];
  /** env is added to every member's environment (failpoints, the planted stale-read switch). */
  env?: NodeJS.ProcessEnv;
  /** snapshotCount is --snapshot-count (small values make snapshots happen within a run). */
  snapshotCount?: number;
  /**
   * netns puts every member in a network namespace of its own (see NetNs) instead of behind
   * peer-port proxies, for the packet-level faults; it needs root.
   */
  netns?: boolean;
}

/** Member is one member process: ports, the proxy in front of its peer port, files. */
export interface Member {
  index: number;
  name: string;
  /** host is the address the member listens on: 127.0.0.1, or its namespace's address. */
  host: string;
  clientPort: number;
  peerPort: number;
  /** proxy is in front of its peer port (absent in netns mode). */
  proxy: FaultProxy | undefined;
  /** failpointPort serves etcd-ts's failpoint HTTP API (ETCD_TS_FAILPOINTS_HTTP), 0 for etcd. */
  failpointPort: number;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | undefined;
  exited: Promise<number | null>;
  paused: boolean;
  /** clusterState is --initial-cluster-state: "existing" once the member was replaced (removed, then added back empty). */
  clusterState: "new" | "existing";
}

/**
 * Cluster runs N members of one kind (etcd-ts or the real etcd) on loopback; every member's
 * advertised peer URL is a FaultProxy in front of its real peer port, so faults can be put on
 * the traffic its peers send it. Processes can be killed, restarted, paused and resumed.
 */
export class Cluster {
  readonly members: Member[] = [];
  /** net is the namespaces in netns mode. */
  net: NetNs | undefined;
  private readonly maint = new Map<number, etcdserverpb.MaintenanceClient>();
  private readonly clusterClients = new Map<number, etcdserverpb.ClusterClient>();

  private constructor(readonly o: ClusterOptions) {}

  static async start(o: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(o);
    mkdirSync(o.dir, { recursive: true });
    if (o.netns === true) c.net = NetNs.create(o.size);
    for (let i = 0; i < o.size; i++) {
      const peerPort = await freePort();
      c.members.push({
        index: i,
        name: `m${i}`,
        host: c.net?.ip(i) ?? "127.0.0.1",
        clientPort: await freePort(),
        peerPort,
        proxy: c.net === undefined ? await FaultProxy.start(await freePort(), peerPort) : undefined,
        failpointPort: o.kind === "etcd-ts" ? await freePort() : 0,
        dataDir: join(o.dir, `m${i}.etcd`),
        logFile: join(o.dir, `m${i}.log`),
        proc: undefined,
        exited: Promise.resolve(null),
        paused: false,
        clusterState: "new",
      });
    }
    for (const m of c.members) c.spawn(m);
    await Promise.all(c.members.map((m) => c.waitHealthy(m, 30_000)));
    return c;
  }

  endpoint(m: Member): string {
    return `${m.host}:${m.clientPort}`;
  }

  /** peerUrl is what a member advertises: its proxy, or its own address in netns mode. */
  peerUrl(m: Member): string {
    return m.proxy !== undefined ? `http://127.0.0.1:${m.proxy.port}` : `http://${m.host}:${m.peerPort}`;
  }

  private args(m: Member): string[] {
    const initial = this.members.map((x) => `${x.name}=${this.peerUrl(x)}`).join(",");
    return etcdFlags({
      name: m.name,
      dataDir: m.dataDir,
      clientUrl: `http://${m.host}:${m.clientPort}`,
      listenPeerUrl: `http://${m.host}:${m.peerPort}`,
      advertisePeerUrl: this.peerUrl(m),
      initialCluster: initial,
      initialClusterState: m.clusterState,
      extraFlags: [
        "--initial-cluster-token", "robustness",
        "--heartbeat-interval", String(this.o.heartbeatMs),
        "--election-timeout", String(this.o.electionMs),
        ...(this.o.snapshotCount !== undefined ? ["--snapshot-count", String(this.o.snapshotCount)] : []),
        ...(this.o.extraArgs ?? []),
      ],
    });
  }

  /** spawn starts (or restarts, on the same data directory) a member's process. */
  spawn(m: Member): void {
    const env: NodeJS.ProcessEnv = { ...this.o.env };
    if (m.failpointPort !== 0) env["ETCD_TS_FAILPOINTS_HTTP"] = `${m.host}:${m.failpointPort}`;
    // `ip netns exec` execs the server in place: the child is the server (signals reach it).
    const command = [...(this.net?.exec(m.index) ?? []), ...serverCommand(this.o.kind)];
    const { proc, exited } = spawnServer(command, this.args(m), { logFile: m.logFile, env });
    m.proc = proc;
    m.exited = exited;
    m.paused = false;
  }

  running(m: Member): boolean {
    return m.proc !== undefined && isRunning(m.proc);
  }

  async waitHealthy(m: Member, timeoutMs: number): Promise<void> {
    const proc = m.proc;
    await waitHealthy(`http://${m.host}:${m.clientPort}`, {
      timeoutMs,
      name: m.name,
      exited: () => proc !== undefined && !isRunning(proc),
      detail: () => (existsSync(m.logFile) ? readFileSync(m.logFile, "utf8").slice(-3000) : "(no log)"),
    });
  }

  /** kill ends a member with a signal (SIGKILL: a crash) and waits for its exit. */
  async kill(m: Member, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = m.proc;
    if (p === undefined || !isRunning(p)) return;
    if (m.paused) p.kill("SIGCONT");
    p.kill(signal);
    await m.exited;
    m.paused = false;
  }

  /** pause stops a member's process (SIGSTOP): it keeps its sockets but answers nothing. */
  pause(m: Member): void {
    if (!this.running(m) || m.paused) return;
    m.proc?.kill("SIGSTOP");
    m.paused = true;
  }

  resume(m: Member): void {
    if (!m.paused) return;
    m.proc?.kill("SIGCONT");
    m.paused = false;
  }

  private maintenance(m: Member): etcdserverpb.MaintenanceClient {
    let c = this.maint.get(m.index);
    if (c === undefined) {
      c = new etcdserverpb.MaintenanceClient(`ipv4:${this.endpoint(m)}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
      this.maint.set(m.index, c);
    }
    return c;
  }

  /** status asks a member for its Status (raft term, leader, revision), or undefined when it does not answer within timeoutMs. */
  status(m: Member, timeoutMs = 1000): Promise<etcdserverpb.StatusResponse | undefined> {
    if (!this.running(m) || m.paused) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.maintenance(m).status({}, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => resolve(err ? undefined : res));
    });
  }

  /** defragment asks a member to defragment its backend; true when it answered OK within timeoutMs. */
  defragment(m: Member, timeoutMs = 10_000): Promise<boolean> {
    if (!this.running(m) || m.paused) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.maintenance(m).defragment({}, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err) => resolve(err === null));
    });
  }

  /** leader is the index of the member the answering members agree leads, if any. */
  async leader(): Promise<number | undefined> {
    const all = await Promise.all(this.members.map((m) => this.status(m)));
    for (const s of all) {
      if (s === undefined || s.leader === 0n) continue;
      const i = all.findIndex((x) => x?.header?.memberId === s.leader);
      if (i >= 0) return i;
    }
    return undefined;
  }

  private clusterClient(m: Member): etcdserverpb.ClusterClient {
    let c = this.clusterClients.get(m.index);
    if (c === undefined) {
      c = new etcdserverpb.ClusterClient(`ipv4:${this.endpoint(m)}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
      this.clusterClients.set(m.index, c);
    }
    return c;
  }

  /**
   * replace removes member m from the cluster (MemberRemove through another member), stops it,
   * wipes its data directory, adds it back as a new member with the same peer URL (MemberAdd)
   * and starts it with --initial-cluster-state existing: etcd's member replacement. Returns
   * false when no other member accepted the change in time (the cluster was not changed, or
   * the removal happened and the add did not: then the member stays out).
   */
  async replace(m: Member, timeoutMs = 10_000): Promise<boolean> {
    const st = await this.status(m);
    const id = st?.header?.memberId;
    if (id === undefined) return false;
    const others = this.members.filter((x) => x !== m && this.running(x) && !x.paused);
    const call = <T>(f: (c: etcdserverpb.ClusterClient, cb: (err: grpc.ServiceError | null, r: T) => void) => void): Promise<T | undefined> =>
      new Promise((resolve) => {
        const x = others[Math.floor(Math.random() * others.length)];
        if (x === undefined) return resolve(undefined);
        f(this.clusterClient(x), (err, r) => resolve(err ? undefined : r));
      });
    const deadline = Date.now() + timeoutMs;
    const opts = (): { deadline: number } => ({ deadline: Math.min(deadline, Date.now() + 3000) });
    let removed = false;
    while (!removed && Date.now() < deadline) {
      removed = (await call<etcdserverpb.MemberRemoveResponse>((c, cb) => c.memberRemove({ ID: id }, new grpc.Metadata(), opts(), cb))) !== undefined;
      if (!removed) await new Promise((r) => setTimeout(r, 300));
    }
    if (!removed) return false;
    await this.kill(m);
    rmSync(m.dataDir, { recursive: true, force: true });
    let added = false;
    while (!added && Date.now() < deadline + timeoutMs) {
      added = (await call<etcdserverpb.MemberAddResponse>((c, cb) => c.memberAdd({ peerURLs: [this.peerUrl(m)], isLearner: false }, new grpc.Metadata(), opts(), cb))) !== undefined;
      if (!added) await new Promise((r) => setTimeout(r, 300));
    }
    if (!added) throw new Error(`robustness: ${m.name} was removed but could not be added back`);
    m.clusterState = "existing";
    this.spawn(m);
    return true;
  }

  /** failpoint sets (term) or clears (undefined) an etcd-ts failpoint on a member through its HTTP API. */
  async failpoint(m: Member, name: string, term: string | undefined): Promise<void> {
    if (m.failpointPort === 0) throw new Error(`robustness: ${this.o.kind} has no failpoints`);
    // A member restarted a moment ago may not serve its failpoint endpoint yet: retry a while.
    const deadline = Date.now() + 10_000;
    for (;;) {
      let res: Response;
      try {
        res = await fetch(`http://${m.host}:${m.failpointPort}/${name}`, term === undefined ? { method: "DELETE" } : { method: "PUT", body: term });
      } catch (err) {
        if (Date.now() > deadline || !this.running(m)) throw new Error(`robustness: failpoint ${name} on ${m.name}: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (!res.ok) throw new Error(`robustness: failpoint ${name} on ${m.name}: HTTP ${res.status} ${await res.text()}`);
      return;
    }
  }

  async stop(): Promise<void> {
    for (const c of [...this.maint.values(), ...this.clusterClients.values()]) c.close();
    this.maint.clear();
    this.clusterClients.clear();
    for (const m of this.members) {
      await this.kill(m);
      await m.proxy?.close();
    }
    this.net?.cleanup();
    this.net = undefined;
  }
}
