import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdFlags, freePort, serverCommand, spawnServer, stopProcess, waitHealthy, type ServerArgs } from "@etcd-ts/test-kit";

export type { ServerArgs };

/** SpawnServer starts "some etcd" (the Go etcd, or etcd-ts) with etcd's flags. */
export type SpawnServer = (a: ServerArgs) => ChildProcess;

/** commandSpawner runs argv (binary and leading args) followed by the etcd flags. */
export function commandSpawner(argv: string[]): SpawnServer {
  return (a) => spawnServer(argv, etcdFlags(a)).proc;
}

/**
 * serverFromEnv is the server under comparison: ETCDCTL_TS_COMPARE_SERVER (a command line,
 * e.g. "node /work/main/apps/server/bin/etcd-ts.js") or the real etcd.
 */
export function serverFromEnv(): SpawnServer {
  const cmd = process.env["ETCDCTL_TS_COMPARE_SERVER"];
  return commandSpawner(cmd !== undefined && cmd.trim() !== "" ? cmd.trim().split(/\s+/) : serverCommand("etcd"));
}

/** RunningServer is a started server; endpoint is its "127.0.0.1:port". */
export interface RunningServer {
  endpoint: string;
  stop(): Promise<void>;
}

/** startServer spawns one server in a temp dir and waits until it is healthy. */
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
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitHealthy(args.clientUrl, { timeoutMs: 20_000, name: "testing: server", exited: () => proc.exitCode !== null });
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoint: `127.0.0.1:${cport}`, stop };
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
