import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@etcd-ts/client";

/** ServerArgs are the etcd flags a test server is started with. */
export interface ServerArgs {
  name: string;
  dataDir: string;
  clientUrl: string;
  listenPeerUrl: string;
  /** advertisePeerUrl is never dialled by a single-member cluster; twins share it (and so their IDs). */
  advertisePeerUrl: string;
  /** initialCluster is --initial-cluster (default: this member alone). */
  initialCluster?: string;
  /** initialClusterState is --initial-cluster-state ("existing" to join a running cluster). */
  initialClusterState?: "new" | "existing";
  /** extraFlags are more etcd flags (TLS files, --strict-reconfig-check, ...). */
  extraFlags?: string[];
}

/** SpawnServer starts "some etcd" (the Go etcd, or etcd-ts) with etcd's flags. */
export type SpawnServer = (a: ServerArgs) => ChildProcess;

/** etcdFlags renders ServerArgs as etcd command-line flags. */
export function etcdFlags(a: ServerArgs): string[] {
  return [
    "--name", a.name,
    "--data-dir", a.dataDir,
    "--listen-client-urls", a.clientUrl,
    "--advertise-client-urls", a.clientUrl,
    "--listen-peer-urls", a.listenPeerUrl,
    "--initial-advertise-peer-urls", a.advertisePeerUrl,
    "--initial-cluster", a.initialCluster ?? `${a.name}=${a.advertisePeerUrl}`,
    ...(a.initialClusterState !== undefined ? ["--initial-cluster-state", a.initialClusterState] : []),
    ...(a.extraFlags ?? []),
  ];
}

/** commandSpawner runs argv (binary and leading args) followed by the etcd flags. */
export function commandSpawner(argv: string[]): SpawnServer {
  const [bin, ...pre] = argv;
  if (bin === undefined) throw new Error("testing: empty server command");
  return (a) => spawn(bin, [...pre, ...etcdFlags(a)], { stdio: "ignore" });
}

/**
 * serverFromEnv is the server under comparison: ETCDCTL_TS_COMPARE_SERVER (a command line,
 * e.g. "node /work/main/apps/server/bin/etcd-ts.js") or the Go etcd on PATH.
 */
export function serverFromEnv(): SpawnServer {
  const cmd = process.env["ETCDCTL_TS_COMPARE_SERVER"];
  return commandSpawner(cmd !== undefined && cmd.trim() !== "" ? cmd.trim().split(/\s+/) : ["etcd"]);
}

/** freePort asks the kernel for an unused loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** RunningServer is a started server; endpoint is its "127.0.0.1:port". */
export interface RunningServer {
  endpoint: string;
  stop(): Promise<void>;
}

/** startServer spawns one server in a temp dir and waits until it answers a read. */
export async function startServer(spawnFn: SpawnServer, advertisePeerUrl?: string): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), "etcdctl-cmp-"));
  const cport = await freePort();
  const pport = await freePort();
  const args: ServerArgs = {
    name: "default",
    dataDir: join(dir, "data"),
    clientUrl: `http://127.0.0.1:${cport}`,
    listenPeerUrl: `http://127.0.0.1:${pport}`,
    advertisePeerUrl: advertisePeerUrl ?? `http://127.0.0.1:${pport}`,
  };
  const proc = spawnFn(args);
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const endpoint = `127.0.0.1:${cport}`;
  const c = new Client({ endpoints: [endpoint] });
  try {
    for (let i = 0; ; i++) {
      try {
        await c.range({ key: Buffer.from("ready") }, { timeoutMs: 500 });
        break;
      } catch (e) {
        if (i >= 40 || proc.exitCode !== null) throw new Error(`testing: server did not start: ${String(e)}`);
      }
    }
  } catch (e) {
    await stop();
    throw e;
  } finally {
    c.close();
  }
  return { endpoint, stop };
}

/**
 * startTwins starts two servers with the same advertised peer URL, hence the same cluster and
 * member IDs: the same writes give byte-identical answers on both.
 */
export async function startTwins(spawnFn: SpawnServer): Promise<[RunningServer, RunningServer]> {
  const shared = `http://127.0.0.1:${await freePort()}`;
  const [a, b] = await Promise.all([startServer(spawnFn, shared), startServer(spawnFn, shared)]);
  return [a, b];
}
