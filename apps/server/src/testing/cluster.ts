import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdserverpb } from "@etcd-ts/proto";
import { freePort } from "@etcd-ts/test-kit";
import { loadConfig } from "../config/config.js";
import { Etcd } from "../embed.js";
import { Logger } from "../log.js";

export { freePort };

/**
 * cluster.ts starts etcd-ts members in the test's own process (each with its own ports and
 * data directory) for the in-process cluster suites.
 */

const b = (s: string) => Buffer.from(s);


/** running holds the members started by this module; stopAll stops them. */
export const running: Etcd[] = [];
/** dirs are the base directories of the clusters started here (each member's data dir is inside). */
export const dirs: string[] = [];

/** stopAll stops every member started here and removes their data directories (an afterEach hook). */
export async function stopAll(): Promise<void> {
  for (const e of running.splice(0)) await e.stop().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface Spec {
  name: string;
  argv: string[];
  peerUrl: string;
  clientUrl?: string;
}

export const specs = new Map<Etcd, Spec>();

export async function startMember(spec: Spec): Promise<Etcd> {
  const r = loadConfig(spec.argv, {});
  if (r.kind !== "run") throw new Error("config");
  const e = await Etcd.start(r.config, new Logger(process.env.CLUSTER_TEST_LOG === "1" ? "info" : "error"), (err) => {
    throw err;
  });
  specs.set(e, spec);
  running.push(e);
  return e;
}

/** restart stops a member and starts it again on the same data dir and ports. */
export async function restart(e: Etcd): Promise<Etcd> {
  const spec = specs.get(e) as Spec;
  await e.stop();
  running.splice(running.indexOf(e), 1);
  return startMember(spec);
}

export const put = (e: Etcd, k: string, v: string) => e.server.put(etcdserverpb.PutRequest.fromPartial({ key: b(k), value: b(v) }));
export const count = async (e: Etcd, prefix: string) =>
  (await e.server.range(etcdserverpb.RangeRequest.fromPartial({ key: b(prefix), rangeEnd: b(`${prefix}\xff`) }))).count;
export const hashOf = async (e: Etcd) => (await e.server.hashKV(etcdserverpb.HashKVRequest.fromPartial({}))).hash;

export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** memberArgs are the flags of member `name` on loopback ports, its data dir under base, then extra. */
export function memberArgs(base: string, name: string, peer: number, client: number, initial: string, extra: string[]): string[] {
  return [
    "--name", name,
    "--data-dir", join(base, name),
    "--listen-peer-urls", `http://127.0.0.1:${peer}`,
    "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`,
    "--listen-client-urls", `http://127.0.0.1:${client}`,
    "--advertise-client-urls", `http://127.0.0.1:${client}`,
    "--initial-cluster", initial,
    "--log-level", "error",
    ...extra,
  ];
}

/** startCluster starts n members in this process (each with its own ports and data dir). */
export async function startCluster(n: number, extra: string[] = []): Promise<Etcd[]> {
  const base = mkdtempSync(join(tmpdir(), "etcd-cluster-test-"));
  dirs.push(base);
  const peers: number[] = [];
  const clients: number[] = [];
  for (let i = 0; i < n; i++) {
    peers.push(await freePort());
    clients.push(await freePort());
  }
  const initial = peers.map((p, i) => `m${i}=http://127.0.0.1:${p}`).join(",");
  const starts = peers.map((p, i) => {
    const argv = memberArgs(base, `m${i}`, p, clients[i] as number, initial, ["--heartbeat-interval", "20", "--election-timeout", "200", ...extra]);
    return startMember({ name: `m${i}`, argv, peerUrl: `http://127.0.0.1:${p}`, clientUrl: `http://127.0.0.1:${clients[i]}` });
  });
  return Promise.all(starts);
}

export function leaderOf(ms: Etcd[]): Etcd {
  const l = ms.find((m) => m.server.leader === m.server.memberId);
  if (l === undefined) throw new Error("no leader");
  return l;
}

