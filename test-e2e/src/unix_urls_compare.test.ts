import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, REAL_ETCDCTL, run, serverCommand, spawnServer, stopProcess, until, type RunResult, type ServerKind } from "@etcd-ts/test-kit";

/**
 * unix:// and unixs:// URLs side by side: the real etcd 3.4 and etcd-ts each run in their own
 * working directory with the same flags, where `unix://localhost:N` is the socket file
 * `localhost:N`; the real etcdctl, run in that directory, and curl talk to them over the
 * sockets. Socket names are the same for both kinds, so member IDs and outputs match byte
 * for byte.
 */

const KINDS: ServerKind[] = ["etcd", "etcd-ts"];

/** Proc is a server process running in `cwd`. */
interface Proc {
  proc: ChildProcess;
  cwd: string;
  log: string;
}

const procs: Proc[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) await stopProcess(p.proc);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** startIn spawns a server of `kind` with `args` in the working directory `cwd`, logging to <cwd>/<name>.log. */
function startIn(kind: ServerKind, cwd: string, name: string, args: string[]): Proc {
  const log = join(cwd, `${name}.log`);
  const p = { proc: spawnServer(serverCommand(kind), args, { cwd, logFile: log }).proc, cwd, log };
  procs.push(p);
  return p;
}

/** ctl runs the real etcdctl in `cwd` (so unix:// endpoints resolve there). */
function ctl(cwd: string, args: string[]): Promise<RunResult> {
  return run(REAL_ETCDCTL, ["--dial-timeout", "2s", "--command-timeout", "5s", ...args], { cwd, env: { ETCDCTL_API: "3" } });
}

/** curlUnix GETs a path over the unix socket file `sock` in `cwd`. */
function curlUnix(cwd: string, sock: string, path: string): Promise<RunResult> {
  return run("curl", ["-s", "--max-time", "5", "--unix-socket", sock, `http://localhost${path}`], { cwd });
}

/** ready waits until the server logged that it serves clients (it has no TCP port to poll). */
async function ready(p: Proc): Promise<void> {
  await until(async () => (existsSync(p.log) && readFileSync(p.log, "utf8").includes("ready to serve client requests") ? true : undefined), 30_000, {
    giveUp: () => (p.proc.exitCode !== null ? `exited:\n${readFileSync(p.log, "utf8").slice(-2000)}` : undefined),
  });
}

const isSocket = (path: string): boolean => existsSync(path) && statSync(path).isSocket();

describe("unix:// URLs: etcd 3.4 and etcd-ts side by side", () => {
  it("serves clients and peers on socket files named host:port in the working directory, to the real etcdctl and curl", async () => {
    const seen: Record<string, unknown> = {};
    for (const kind of KINDS) {
      const cwd = mkdtempSync(join(tmpdir(), `e2e-unix-${kind}-`));
      dirs.push(cwd);
      const tcp = `http://127.0.0.1:${await freePort()}`;
      const p = startIn(kind, cwd, "u", [
        "--name", "u",
        "--data-dir", "data",
        "--listen-client-urls", `unix://localhost:23790,${tcp}`,
        "--advertise-client-urls", "unix://localhost:23790",
        "--listen-peer-urls", "unix://localhost:23800",
        "--initial-advertise-peer-urls", "unix://localhost:23800",
        "--initial-cluster", "u=unix://localhost:23800",
        "--initial-cluster-token", "unix-e2e",
      ]);
      await ready(p);
      const sockets = [isSocket(join(cwd, "localhost:23790")), isSocket(join(cwd, "localhost:23800"))];
      const ep = ["--endpoints", "unix://localhost:23790"];
      const put = await ctl(cwd, [...ep, "put", "unix-key", "unix-value"]);
      const get = await ctl(cwd, [...ep, "get", "unix-key"]);
      const members = await ctl(cwd, [...ep, "member", "list", "-w", "table"]);
      const health = await ctl(cwd, [...ep, "endpoint", "health"]);
      const httpHealth = await curlUnix(cwd, "localhost:23790", "/health");
      const version = await curlUnix(cwd, "localhost:23790", "/version");
      await stopProcess(p.proc, "SIGTERM");
      seen[kind] = {
        sockets,
        put: put.stdout,
        get: get.stdout,
        members: members.stdout,
        health: health.code === 0 && /^unix:\/\/localhost:23790 is healthy: successfully committed proposal: took = /.test(health.stdout + health.stderr),
        httpHealth: (JSON.parse(httpHealth.stdout) as { health: string }).health,
        version: version.stdout,
        // Both remove their socket files when they stop.
        socketsAfterStop: [existsSync(join(cwd, "localhost:23790")), existsSync(join(cwd, "localhost:23800"))],
      };
    }
    expect(seen.etcd).toMatchObject({
      sockets: [true, true],
      put: "OK\n",
      get: "unix-key\nunix-value\n",
      health: true,
      httpHealth: "true",
      socketsAfterStop: [false, false],
    });
    expect((seen.etcd as { members: string }).members).toContain("| unix://localhost:23800 | unix://localhost:23790 |");
    expect(seen["etcd-ts"]).toEqual(seen.etcd);
  });

  it("runs a 3-member cluster whose members talk over unix:// peer sockets", async () => {
    const seen: Record<string, unknown> = {};
    for (const kind of KINDS) {
      const cwd = mkdtempSync(join(tmpdir(), `e2e-unix3-${kind}-`));
      dirs.push(cwd);
      const initial = [0, 1, 2].map((i) => `m${i}=unix://localhost:2381${i}`).join(",");
      const ps = [0, 1, 2].map((i) =>
        startIn(kind, cwd, `m${i}`, [
          "--name", `m${i}`,
          "--data-dir", `m${i}.data`,
          "--listen-client-urls", `unix://localhost:2379${i}`,
          "--advertise-client-urls", `unix://localhost:2379${i}`,
          "--listen-peer-urls", `unix://localhost:2381${i}`,
          "--initial-advertise-peer-urls", `unix://localhost:2381${i}`,
          "--initial-cluster", initial,
          "--initial-cluster-token", "unix3-e2e",
          "--heartbeat-interval", "50",
          "--election-timeout", "500",
        ]),
      );
      await Promise.all(ps.map(ready));
      const put = await ctl(cwd, ["--endpoints", "unix://localhost:23790", "put", "across", "peers"]);
      // A linearizable read on another member goes through the leader over the peer sockets.
      const get = await until(async () => {
        const r = await ctl(cwd, ["--endpoints", "unix://localhost:23792", "get", "across", "--print-value-only"]);
        return r.stdout === "peers\n" ? r.stdout : undefined;
      });
      const members = await ctl(cwd, ["--endpoints", "unix://localhost:23791", "member", "list"]);
      seen[kind] = { put: put.stdout, get, members: members.stdout.split("\n").sort().join("\n") };
      for (const p of ps) await stopProcess(p.proc, "SIGTERM");
    }
    expect(seen.etcd).toMatchObject({ put: "OK\n", get: "peers\n" });
    expect((seen.etcd as { members: string }).members).toContain("started, m2, unix://localhost:23812, unix://localhost:23792, false");
    expect(seen["etcd-ts"]).toEqual(seen.etcd);
  });
});
