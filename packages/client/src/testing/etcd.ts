import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../client.js";
import type { TLSOptions } from "../options.js";
import type { TestPki } from "./certs.js";

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

/** EtcdMember is one started etcd member; endpoint is its client URL's host:port. */
export interface EtcdMember {
  name: string;
  endpoint: string;
  clientURL: string;
  peerURL: string;
  stop(): Promise<void>;
}

/** RunningEtcd is a cluster started for a test; endpoint is the first member's. */
export interface RunningEtcd {
  endpoint: string;
  members: EtcdMember[];
  /** clientTLS is what a client needs to talk to it (client certificate included). */
  clientTLS: TLSOptions | undefined;
  stop(): Promise<void>;
}

/**
 * EtcdOptions: cluster size (default 1), a PKI to serve https with client-cert-auth, and
 * more etcd flags for every member.
 */
export interface EtcdOptions {
  size?: number;
  pki?: TestPki;
  flags?: string[];
}

/**
 * startEtcd starts /usr/bin/etcd members on free loopback ports in a temp dir and waits until
 * every member serves a linearizable read.
 */
export async function startEtcd(opts: EtcdOptions = {}): Promise<RunningEtcd> {
  const size = opts.size ?? 1;
  const dir = mkdtempSync(join(tmpdir(), "client-etcd-"));
  const scheme = opts.pki !== undefined ? "https" : "http";
  const tlsFlags: string[] = [];
  let clientTLS: TLSOptions | undefined;
  if (opts.pki !== undefined) {
    const f = (n: string, data: string): string => {
      const p = join(dir, n);
      writeFileSync(p, data);
      return p;
    };
    tlsFlags.push(
      "--cert-file", f("server.crt", opts.pki.server.cert),
      "--key-file", f("server.key", opts.pki.server.key),
      "--trusted-ca-file", f("ca.crt", opts.pki.ca.cert),
      "--client-cert-auth",
    );
    clientTLS = {
      ca: Buffer.from(opts.pki.ca.cert),
      cert: Buffer.from(opts.pki.client.cert),
      key: Buffer.from(opts.pki.client.key),
    };
  }
  const plan: Array<{ name: string; cport: number; pport: number }> = [];
  for (let i = 1; i <= size; i++) plan.push({ name: `m${i}`, cport: await freePort(), pport: await freePort() });
  const initial = plan.map((p) => `${p.name}=http://127.0.0.1:${p.pport}`).join(",");
  const procs: ChildProcess[] = [];
  const members: EtcdMember[] = plan.map((p) => {
    const clientURL = `${scheme}://127.0.0.1:${p.cport}`;
    const peerURL = `http://127.0.0.1:${p.pport}`;
    const proc = spawn(
      "etcd",
      [
        "--name", p.name,
        "--data-dir", join(dir, p.name),
        "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
        "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
        "--initial-cluster", initial,
        ...tlsFlags,
        ...(opts.flags ?? []),
      ],
      { stdio: "ignore" },
    );
    procs.push(proc);
    return { name: p.name, endpoint: `127.0.0.1:${p.cport}`, clientURL, peerURL, stop: () => kill(proc) };
  });
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(members.map((m) => waitServing(m.clientURL, clientTLS, () => procs.some((p) => p.exitCode !== null))));
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoint: members[0]?.endpoint ?? "", members, clientTLS, stop };
}

async function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  }
}

async function waitServing(url: string, tls: TLSOptions | undefined, died: () => boolean): Promise<void> {
  const c = new Client(tls === undefined ? { endpoints: [url] } : { endpoints: [url], tls });
  try {
    for (let i = 0; ; i++) {
      try {
        await c.range({ key: Buffer.from("ready") }, { timeoutMs: 500 });
        return;
      } catch (e) {
        if (i >= 40 || died()) throw new Error(`testing: etcd at ${url} did not start: ${String(e)}`);
      }
    }
  } finally {
    c.close();
  }
}
