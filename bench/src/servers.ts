import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { request } from "node:http";
import { isAbsolute, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { openConnection, unaryOnce } from "./grpc-caller.js";
import { freePorts } from "./ports.js";
import { processCpuSeconds, processRssBytes } from "./procstat.js";
import { cpuProfileArgv, isNodeCommand, PROFILE_STOP_GRACE_MS, waitCpuProfile } from "./profile.js";
import { RANGE_PATH } from "./requests.js";

/** ServerKind is which implementation a server entry runs. */
export type ServerKind = "etcd" | "etcd-ts";

/**
 * ServerEntry is one entry of --servers: which implementation, and whether the bench turns
 * authentication on in it ("etcd+auth", or every entry under --auth).
 */
export interface ServerEntry {
  kind: ServerKind;
  auth: boolean;
}

/** ServerSpec is one server to benchmark: a label for the table and the command to run. */
export interface ServerSpec extends ServerEntry {
  /** label names the server in the report ("etcd", "etcd-ts+auth", "etcd#2" for a repeat). */
  label: string;
  /** argv is the command and its leading arguments; etcd's flags are appended. */
  argv: string[];
}

/** MemberAddr is where one member listens and keeps its data. */
export interface MemberAddr {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
}

/**
 * memberNames returns the member names of a cluster of `size`: "default" for a single
 * member (etcd's default name), "infra1".."infraN" otherwise.
 */
export function memberNames(size: number): string[] {
  if (size === 1) return ["default"];
  return Array.from({ length: size }, (_, i) => `infra${i + 1}`);
}

/**
 * memberFlags returns the etcd flags that start member m of cluster `all` on loopback:
 * the same flags are given to etcd and etcd-ts.
 */
export function memberFlags(m: MemberAddr, all: readonly MemberAddr[]): string[] {
  const client = `http://127.0.0.1:${m.clientPort}`;
  const peer = `http://127.0.0.1:${m.peerPort}`;
  return [
    "--name",
    m.name,
    "--data-dir",
    m.dataDir,
    "--listen-client-urls",
    client,
    "--advertise-client-urls",
    client,
    "--listen-peer-urls",
    peer,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster",
    all.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(","),
  ];
}

/** ServerUnavailable says a server could not be started or did not answer; reason is for the report. */
export class ServerUnavailable extends Error {
  constructor(readonly reason: string) {
    super(`bench: server not available: ${reason}`);
  }
}

/** Children and directories to clean up if the bench is interrupted. */
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();

/**
 * killAllSync sends SIGKILL to every server process still running and removes every data
 * directory still present. It is safe to call from an exit or signal handler.
 */
export function killAllSync(): void {
  for (const c of liveChildren) {
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const d of liveDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveDirs.clear();
}

/** missingPath returns the first path in argv that should exist but does not, if any. */
export function missingPath(argv: readonly string[]): string | undefined {
  const first = argv[0];
  if (first === undefined) return "(empty command)";
  if (first.includes("/") && !existsSync(first)) return first;
  for (const a of argv.slice(1)) {
    if (isAbsolute(a) && /\.(c|m)?js$/.test(a) && !existsSync(a)) return a;
  }
  return undefined;
}

/** serverEnv is the environment for a server: ours without ETCD_* / ETCDCTL_* variables. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("ETCD_") && !k.startsWith("ETCDCTL_")) env[k] = v;
  }
  return env;
}

/** ERROR_LINE matches a log line that states an error: Node's "Error: ...", zap's error levels, capnslog's C/E. */
const ERROR_LINE = /(\b[A-Za-z]*Error\b|\berror:|\bpanic\b|"level":"(error|fatal|panic)"|\s[CE] \| )/;

/**
 * logTail summarises a log file for an error message: the last line that states an error
 * (not a stack frame) if there is one, else the last few non-empty lines; shortened to
 * maxChars.
 */
export function logTail(path: string, lines = 3, maxChars = 400): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return "";
  }
  const all = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const errorLine = all.filter((l) => !l.startsWith("at ") && ERROR_LINE.test(l)).at(-1);
  const tail = errorLine ?? all.slice(-lines).join(" | ");
  return tail.length > maxChars ? `...${tail.slice(-maxChars)}` : tail;
}

/** Member is one running server process. */
interface Member {
  addr: MemberAddr;
  logPath: string;
  /** argv is the command the member runs, without memberFlags (spec.argv, with node's --cpu-prof flags under StartOptions.cpuProfile). */
  argv: readonly string[];
  /** profileDir is the member's --cpu-prof-dir under StartOptions.cpuProfile. */
  profileDir: string | undefined;
  child: ChildProcess;
  exited: boolean;
  exitDescription: string;
  exitedPromise: Promise<void>;
}

/** StartOptions configures startCluster. */
export interface StartOptions {
  size: number;
  /** dataRoot is the directory under which a fresh temporary data directory is made. */
  dataRoot: string;
  /** logDir receives one log file per member. */
  logDir: string;
  startTimeoutMs: number;
  /**
   * cpuProfile starts every member under `node --cpu-prof`, each with a fresh profile
   * directory of its own (the command must start with node); collectCpuProfiles gets the
   * profiles once the members are stopped.
   */
  cpuProfile?: boolean;
}

/** CpuProfileFile is where one member's CPU profile was kept, or why there is none. */
export interface CpuProfileFile {
  member: string;
  path: string | undefined;
  error: string | undefined;
}

/** fileLabel is a server label made safe for a file name ("etcd-ts+auth" -> "etcd-ts-auth"). */
function fileLabel(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]/g, "-");
}

/**
 * RunningCluster is a started set of members of one server kind. stop() must be called;
 * it terminates the processes and removes the data directory.
 */
export class RunningCluster {
  private stopped = false;

  constructor(
    readonly spec: ServerSpec,
    private readonly root: string,
    private readonly members: Member[],
    private readonly probes: grpc.Client[],
  ) {}

  /** endpoints are the members' client addresses, "127.0.0.1:PORT". */
  endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.addr.clientPort}`);
  }

  /** logPaths are the members' log files. */
  logPaths(): string[] {
    return this.members.map((m) => m.logPath);
  }

  /** commandLine is member 0's full command line, for the report. */
  commandLine(): string {
    const m = this.members[0];
    return m === undefined ? "" : [...m.argv, ...memberFlags(m.addr, this.members.map((x) => x.addr))].join(" ");
  }

  /** exitedMember describes the first member that has exited, if any. */
  exitedMember(): string | undefined {
    const m = this.members.find((x) => x.exited);
    return m === undefined ? undefined : `${m.addr.name} ${m.exitDescription}: ${logTail(m.logPath)}`;
  }

  /** cpuSeconds is the CPU time all members have used so far (members that exited count 0). */
  cpuSeconds(): number {
    let s = 0;
    for (const m of this.members) {
      const pid = m.child.pid;
      if (pid !== undefined && !m.exited) s += processCpuSeconds(pid) ?? 0;
    }
    return s;
  }

  /** pids are the process ids of the members still running. */
  pids(): number[] {
    const out: number[] = [];
    for (const m of this.members) {
      const pid = m.child.pid;
      if (pid !== undefined && !m.exited) out.push(pid);
    }
    return out;
  }

  /**
   * rssBytes is the resident set size of all members now (VmRSS summed; members that exited
   * count 0), in bytes, or undefined when no member's can be read.
   */
  rssBytes(): number | undefined {
    let sum: number | undefined;
    for (const m of this.members) {
      const pid = m.child.pid;
      const rss = pid !== undefined && !m.exited ? processRssBytes(pid) : undefined;
      if (rss !== undefined) sum = (sum ?? 0) + rss;
    }
    return sum;
  }

  /**
   * collectCpuProfiles, after stop() under StartOptions.cpuProfile, waits up to waitMs for
   * each member's main-thread .cpuprofile (written as the process exits), moves it to
   * destDir as <label>-<member>.cpuprofile, and removes the member's profile directory
   * (worker threads' profiles with it). Members started without a profile directory are
   * left out.
   */
  async collectCpuProfiles(destDir: string, waitMs: number): Promise<CpuProfileFile[]> {
    const out: CpuProfileFile[] = [];
    for (const m of this.members) {
      const dir = m.profileDir;
      if (dir === undefined) continue;
      const name = m.addr.name;
      try {
        const found = await waitCpuProfile(dir, waitMs);
        if (found === undefined) {
          const how = m.exited ? m.exitDescription : "still running";
          out.push({ member: name, path: undefined, error: `no .cpuprofile in ${dir} within ${waitMs} ms (the member ${how})` });
          continue;
        }
        mkdirSync(destDir, { recursive: true });
        const dest = join(destDir, `${fileLabel(this.spec.label)}-${name}.cpuprofile`);
        try {
          renameSync(found, dest);
        } catch {
          copyFileSync(found, dest); // another file system
        }
        out.push({ member: name, path: dest, error: undefined });
      } catch (err) {
        out.push({ member: name, path: undefined, error: err instanceof Error ? err.message : String(err) });
      }
    }
    this.removeProfileDirs();
    return out;
  }

  /** removeProfileDirs removes the members' profile directories. */
  removeProfileDirs(): void {
    for (const m of this.members) {
      if (m.profileDir === undefined) continue;
      rmSync(m.profileDir, { recursive: true, force: true });
      liveDirs.delete(m.profileDir);
    }
  }

  /** version asks member 0's /version endpoint for the server version ("" if it does not answer). */
  async version(): Promise<string> {
    const m = this.members[0];
    if (m === undefined) return "";
    try {
      const body = await httpGet(`http://127.0.0.1:${m.addr.clientPort}/version`, 2000);
      const v = JSON.parse(body) as { etcdserver?: unknown };
      return typeof v.etcdserver === "string" ? v.etcdserver : "";
    } catch {
      return "";
    }
  }

  /**
   * stop sends SIGTERM, then SIGKILL after 5 s (PROFILE_STOP_GRACE_MS for a member writing a
   * CPU profile), to every member, and removes the data directory.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.probes) p.close();
    await Promise.all(this.members.map((m) => stopMember(m)));
    rmSync(this.root, { recursive: true, force: true });
    liveDirs.delete(this.root);
  }
}

async function stopMember(m: Member): Promise<void> {
  if (!m.exited) {
    m.child.kill("SIGTERM");
    await Promise.race([m.exitedPromise, sleep(m.profileDir !== undefined ? PROFILE_STOP_GRACE_MS : 5000)]);
  }
  if (!m.exited) {
    m.child.kill("SIGKILL");
    await Promise.race([m.exitedPromise, sleep(2000)]);
  }
  liveChildren.delete(m.child);
}

function spawnMember(
  argv: readonly string[],
  addr: MemberAddr,
  all: MemberAddr[],
  logPath: string,
  profileDir: string | undefined,
): Member {
  const fd = openSync(logPath, "w");
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, [...argv.slice(1), ...memberFlags(addr, all)], {
      stdio: ["ignore", fd, fd],
      env: serverEnv(),
    });
  } finally {
    closeSync(fd);
  }
  const m: Member = { addr, logPath, argv, profileDir, child, exited: false, exitDescription: "", exitedPromise: Promise.resolve() };
  m.exitedPromise = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      m.exited = true;
      m.exitDescription = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
    child.once("error", (err) => {
      m.exited = true;
      m.exitDescription = `could not start (${err.message})`;
      resolve();
    });
  });
  liveChildren.add(child);
  return m;
}

/**
 * startCluster starts `size` members of spec on fresh loopback ports with a fresh data
 * directory and waits until every member answers a linearizable Range and they report one
 * cluster of `size` members. On any failure it stops what it started and throws
 * ServerUnavailable.
 */
export async function startCluster(spec: ServerSpec, opts: StartOptions): Promise<RunningCluster> {
  const missing = missingPath(spec.argv);
  if (missing !== undefined) throw new ServerUnavailable(`${missing} not found`);
  if (opts.cpuProfile === true && !isNodeCommand(spec.argv)) {
    throw new ServerUnavailable(`--profile needs a command that starts with node, not "${spec.argv.join(" ")}"`);
  }
  mkdirSync(opts.logDir, { recursive: true });
  mkdirSync(opts.dataRoot, { recursive: true });
  const root = mkdtempSync(join(opts.dataRoot, `etcd-bench-${spec.kind}-`));
  liveDirs.add(root);
  const ports = await freePorts(opts.size * 2);
  const addrs: MemberAddr[] = memberNames(opts.size).map((name, i) => ({
    name,
    clientPort: ports[2 * i]!,
    peerPort: ports[2 * i + 1]!,
    dataDir: join(root, `${name}.etcd`),
  }));
  const label = fileLabel(spec.label);
  const members: Member[] = [];
  for (const a of addrs) {
    let argv = spec.argv;
    let profileDir: string | undefined;
    if (opts.cpuProfile === true) {
      profileDir = mkdtempSync(join(opts.dataRoot, `etcd-bench-profile-${label}-${a.name}-`));
      liveDirs.add(profileDir);
      argv = cpuProfileArgv(spec.argv, profileDir);
    }
    members.push(spawnMember(argv, a, addrs, join(opts.logDir, `${label}-${a.name}.log`), profileDir));
  }
  const probes = addrs.map((a) => openConnection(`127.0.0.1:${a.clientPort}`));
  const cluster = new RunningCluster(spec, root, members, probes);
  try {
    await waitClusterReady(cluster, members, probes, opts);
    return cluster;
  } catch (err) {
    await cluster.stop();
    cluster.removeProfileDirs();
    if (err instanceof ServerUnavailable) throw err;
    throw new ServerUnavailable(err instanceof Error ? err.message : String(err));
  }
}

const PROBE_REQUEST = Buffer.from(
  etcdserverpb.RangeRequest.encode(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("bench/probe") })).finish(),
);
const MEMBER_LIST_PATH = "/etcdserverpb.Cluster/MemberList";
const MEMBER_LIST_REQUEST = Buffer.from(
  etcdserverpb.MemberListRequest.encode(etcdserverpb.MemberListRequest.fromPartial({})).finish(),
);

async function waitClusterReady(
  cluster: RunningCluster,
  members: Member[],
  probes: grpc.Client[],
  opts: StartOptions,
): Promise<void> {
  const deadline = Date.now() + opts.startTimeoutMs;
  const clusterIds = new Set<bigint>();
  for (let i = 0; i < members.length; i++) {
    let lastError = "no answer";
    for (;;) {
      const exited = cluster.exitedMember();
      if (exited !== undefined) throw new ServerUnavailable(exited);
      if (Date.now() >= deadline) {
        const m = members[i]!;
        throw new ServerUnavailable(
          `${m.addr.name} did not answer within ${opts.startTimeoutMs} ms (${lastError}); log: ${logTail(m.logPath)}`,
        );
      }
      try {
        const res = await unaryOnce(probes[i]!, RANGE_PATH, PROBE_REQUEST, 1000);
        const header = etcdserverpb.RangeResponse.decode(res).header;
        if (header !== undefined) clusterIds.add(header.clusterId);
        break;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        await sleep(200);
      }
    }
  }
  if (clusterIds.size > 1) {
    throw new ServerUnavailable(`members report ${clusterIds.size} different cluster IDs: they did not form one cluster`);
  }
  if (members.length > 1) {
    const res = await unaryOnce(probes[0]!, MEMBER_LIST_PATH, MEMBER_LIST_REQUEST, 2000);
    const list = etcdserverpb.MemberListResponse.decode(res);
    if (list.members.length !== members.length) {
      throw new ServerUnavailable(`member list has ${list.members.length} members, want ${members.length}`);
    }
  }
}

function httpGet(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve(body));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`bench: GET ${url} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

