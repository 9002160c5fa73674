import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../client.js";

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

/** RunningEtcd is a single-member etcd started for a test. */
export interface RunningEtcd {
  endpoint: string;
  stop(): Promise<void>;
}

/** startEtcd starts /usr/bin/etcd on free loopback ports in a temp data dir and waits until it serves. */
export async function startEtcd(): Promise<RunningEtcd> {
  const dir = mkdtempSync(join(tmpdir(), "client-etcd-"));
  const cport = await freePort();
  const pport = await freePort();
  const client = `http://127.0.0.1:${cport}`;
  const peer = `http://127.0.0.1:${pport}`;
  const proc: ChildProcess = spawn(
    "etcd",
    [
      "--data-dir", join(dir, "data"),
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `default=${peer}`,
    ],
    { stdio: "ignore" },
  );
  const endpoint = `127.0.0.1:${cport}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const c = new Client({ endpoints: [endpoint] });
  try {
    for (let i = 0; ; i++) {
      try {
        await c.range({ key: Buffer.from("ready") }, { timeoutMs: 500 });
        break;
      } catch (e) {
        if (i >= 40 || proc.exitCode !== null) throw e;
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
