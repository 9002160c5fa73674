import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdFlags, freePort, serverCommand, spawnServer, stopProcess, waitHealthy, type ServerKind, type Spawned, type TestPki } from "@etcd-ts/test-kit";
import type { TLSOptions } from "../options.js";

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
  /** kind is the server to run: the real etcd (default) or etcd-ts. */
  kind?: ServerKind;
}

/**
 * startEtcd starts the real etcd's (or etcd-ts's, with opts.kind) members on free loopback ports in a temp dir and waits until
 * every member is healthy (/health does a quorum read).
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
  const started: Spawned[] = [];
  const members: EtcdMember[] = plan.map((p) => {
    const clientURL = `${scheme}://127.0.0.1:${p.cport}`;
    const peerURL = `http://127.0.0.1:${p.pport}`;
    const flags = etcdFlags({
      name: p.name,
      dataDir: join(dir, p.name),
      clientUrl: clientURL,
      listenPeerUrl: peerURL,
      advertisePeerUrl: peerURL,
      initialCluster: initial,
      extraFlags: [...tlsFlags, ...(opts.flags ?? [])],
    });
    const s = spawnServer(serverCommand(opts.kind ?? "etcd"), flags);
    started.push(s);
    return { name: p.name, endpoint: `127.0.0.1:${p.cport}`, clientURL, peerURL, stop: () => stopProcess(s.proc) };
  });
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((s) => stopProcess(s.proc)));
    rmSync(dir, { recursive: true, force: true });
  };
  const healthTls = opts.pki !== undefined ? { ca: opts.pki.ca.cert, cert: opts.pki.client.cert, key: opts.pki.client.key } : {};
  try {
    await Promise.all(
      members.map((m) =>
        waitHealthy(m.clientURL, {
          tls: healthTls,
          timeoutMs: 20_000,
          name: `testing: etcd at ${m.clientURL}`,
          exited: () => started.some((s) => s.proc.exitCode !== null),
        }),
      ),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoint: members[0]?.endpoint ?? "", members, clientTLS, stop };
}
