import type { Socket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  aAnswer,
  freePort,
  isRunning,
  REAL_ETCDCTL,
  resolvConfText,
  run,
  serverCommand,
  spawnServer,
  srvAnswer,
  startDnsServer,
  stopProcess,
  waitHealthy,
  withResolvConf,
  type DnsAnswer,
  type ServerKind,
  type Spawned,
} from "@etcd-ts/test-kit";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";

/**
 * Bootstrap by discovery (issue 13): members started with only --discovery <token URL> find
 * each other through a v2 keys discovery token, members started with only --discovery-srv
 * <domain> through DNS SRV records; no --initial-cluster anywhere.
 *  - etcd-ts members through a token on the real etcd 3.4.23 (--enable-v2), one of them through
 *    --discovery-proxy; a fourth member is refused with etcd's "cluster is full"; a member
 *    restarted with the same flags ignores the token;
 *  - real etcd 3.4.23 members through a token on etcd-ts's v2 API (its Go discovery client
 *    against etcd-ts's /v2/keys);
 *  - etcd-ts members through SRV records of a DNS server of this test (each member resolves
 *    through it in a mount namespace of its own, see test-kit's withResolvConf; needs root).
 */

const base = mkdtempSync(join(tmpdir(), "e2e-discovery-"));
const procs: Spawned[] = [];
const others: Member[] = [];

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => stopProcess(p.proc)));
  await Promise.all(others.splice(0).map((m) => m.destroy()));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

interface Node {
  name: string;
  dataDir: string;
  clientUrl: string;
  peerUrl: string;
  log: string;
}

async function node(name: string, host = "127.0.0.1"): Promise<Node> {
  const dataDir = join(base, `${name}-${Date.now()}`);
  return {
    name,
    dataDir,
    clientUrl: `http://127.0.0.1:${await freePort()}`,
    peerUrl: `http://${host}:${await freePort()}`,
    log: `${dataDir}.log`,
  };
}

/** flags are a member's flags without any --initial-cluster: listen on 127.0.0.1, advertise peerUrl. */
function flags(n: Node, extra: string[]): string[] {
  const listenPeer = n.peerUrl.replace(/\/\/[^:]+:/, "//127.0.0.1:");
  return [
    "--name", n.name,
    "--data-dir", n.dataDir,
    "--listen-client-urls", n.clientUrl,
    "--advertise-client-urls", n.clientUrl,
    "--listen-peer-urls", listenPeer,
    "--initial-advertise-peer-urls", n.peerUrl,
    ...extra,
  ];
}

function start(kind: ServerKind, n: Node, extra: string[], wrap: (cli: string[]) => string[] = (c) => c): Spawned {
  const [bin, ...args] = wrap([...serverCommand(kind), ...flags(n, extra)]);
  const s = spawnServer([bin as string], args, { logFile: n.log });
  procs.push(s);
  return s;
}

const logOf = (n: Node): string => (existsSync(n.log) ? readFileSync(n.log, "utf8") : "");

async function healthy(n: Node, s: Spawned): Promise<void> {
  await waitHealthy(n.clientUrl, { timeoutMs: 30_000, name: n.name, exited: () => !isRunning(s.proc), detail: () => logOf(n).slice(-3000) });
}

function http(url: string, method = "GET", form?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = form === undefined ? {} : { "Content-Type": "application/x-www-form-urlencoded" };
    const req = request(url, { method, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(form);
  });
}

async function ctl(endpoint: string, ...args: string[]): Promise<string> {
  const r = await run(REAL_ETCDCTL, ["--endpoints", endpoint, ...args], { env: { ETCDCTL_API: "3" } });
  expect(r.code, `etcdctl ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** memberNames lists a cluster's member names and peer URLs, sorted. */
async function members(endpoint: string): Promise<string[]> {
  const out = JSON.parse(await ctl(endpoint, "member", "list", "-w", "json")) as { members: { name: string; peerURLs: string[] }[] };
  return out.members.map((m) => `${m.name}=${m.peerURLs.join(",")}`).sort();
}

/**
 * v2MemberCommands runs the real ETCDCTL_API=2 etcdctl's member add, list and remove on a
 * formed cluster and answers their outputs with IDs, URLs and member names masked. Both
 * servers refuse a member add until every member has been connected for 5 s (strict
 * reconfiguration check): it waits that long first.
 */
async function v2MemberCommands(endpoint: string, names: string[]): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 5_500));
  const v2 = async (...args: string[]): Promise<string> => {
    const r = await run(REAL_ETCDCTL, ["--endpoints", endpoint, ...args], { env: { ETCDCTL_API: "2" } });
    return `$ ${args.join(" ")}\n${r.stdout}${r.stderr}[exit ${r.code}]`;
  };
  const out = [await v2("member", "add", "newbie", `http://127.0.0.1:${await freePort()}`), await v2("member", "list")];
  const id = /with ID ([0-9a-f]+) to cluster/.exec(out[0] ?? "")?.[1] ?? "none";
  out.push(await v2("member", "remove", id), await v2("member", "list"), await v2("member", "remove", id));
  const mask = (t: string): string => {
    let m = t.replace(/http:\/\/127\.0\.0\.1:\d+/g, "<url>").replace(/\b[0-9a-f]{12,16}\b/g, "<id>");
    for (const n of names) m = m.split(n).join("<name>");
    m = m.replace(/ETCD_INITIAL_CLUSTER="([^"]*)"/, (_x, list: string) => `ETCD_INITIAL_CLUSTER="${list.split(",").sort().join(",")}"`);
    // Lists are in member ID order, which differs between the clusters.
    return m.split("\n").sort().join("\n");
  };
  return out.map(mask);
}

const memberOutputs = new Map<ServerKind, string[]>();

/** newToken makes a discovery token of `size` on a server with the v2 API. */
async function newToken(serverUrl: string, token: string, size: number): Promise<string> {
  const r = await http(`${serverUrl}/v2/keys/discovery/${token}/_config/size`, "PUT", `value=${size}`);
  expect(r.status).toBe(201);
  return `${serverUrl}/v2/keys/discovery/${token}`;
}

/** startProxy is an HTTP forward proxy (absolute-URI requests) that counts what it forwarded. */
async function startProxy(): Promise<{ server: Server; url: string; forwarded: string[] }> {
  const forwarded: string[] = [];
  const server = createServer((req, res) => {
    forwarded.push(`${req.method ?? ""} ${req.url ?? ""}`);
    const up = request(req.url ?? "", { method: req.method, headers: req.headers, agent: false }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${port}`, forwarded };
}

describe("bootstrap by --discovery", () => {
  it("forms an etcd-ts cluster through a token on the real etcd, refuses a fourth member, ignores the token on restart", async () => {
    const disco = await Member.create({ kind: "etcd", extraArgs: ["--enable-v2"] });
    others.push(disco);
    await disco.start();
    const url = await newToken(disco.url, "etcd-ts-cluster", 3);
    const proxy = await startProxy();
    try {
      const ns = await Promise.all(["m1", "m2", "m3"].map((n) => node(n)));
      const started = ns.map((n, i) => start("etcd-ts", n, ["--discovery", url, "--enable-v2", ...(i === 2 ? ["--discovery-proxy", proxy.url] : [])]));
      await Promise.all(ns.map((n, i) => healthy(n, started[i] as Spawned)));
      const [m1, m2, m3] = ns as [Node, Node, Node];
      const expected = ns.map((n) => `${n.name}=${n.peerUrl}`).sort();
      for (const n of ns) expect(await members(n.clientUrl)).toEqual(expected);
      await ctl(m1.clientUrl, "put", "found", "each-other");
      expect(await ctl(m3.clientUrl, "get", "found", "--print-value-only")).toBe("each-other\n");
      memberOutputs.set("etcd-ts", await v2MemberCommands(m1.clientUrl, ["m1", "m2", "m3"]));
      // m3 reached the token only through the proxy.
      expect(proxy.forwarded.some((f) => f.includes("/v2/keys/discovery/etcd-ts-cluster"))).toBe(true);
      // Every member registered itself under its member ID with its name and peer URL.
      const listed = JSON.parse((await http(`${url}?recursive=true`)).body) as { node: { nodes: { key: string; value: string }[] } };
      expect(listed.node.nodes.filter((x) => !x.key.endsWith("_config")).map((x) => x.value).sort()).toEqual(expected);

      // A fourth member: the token is full. etcd-ts has no proxy mode to fall back to.
      const m4 = await node("m4");
      const fourth = start("etcd-ts", m4, ["--discovery", url]);
      expect(await fourth.exited).toBe(1);
      expect(logOf(m4)).toContain("failed to join discovery cluster (discovery: cluster is full)");
      expect(logOf(m4)).toContain("which etcd-ts does not have");
      const m5 = await node("m5");
      const fifth = start("etcd-ts", m5, ["--discovery", url, "--discovery-fallback", "exit"]);
      expect(await fifth.exited).toBe(1);
      expect(logOf(m5)).toContain("failed to bootstrap; discovery token was already used");

      // A member restarted with the same flags keeps its data and ignores the token.
      await stopProcess((started[1] as Spawned).proc, "SIGTERM");
      const again = start("etcd-ts", m2, ["--discovery", url, "--enable-v2"]);
      await healthy(m2, again);
      expect(logOf(m2)).toContain("discovery token is ignored since cluster already initialized");
      expect(await ctl(m2.clientUrl, "get", "found", "--print-value-only", "--consistency", "l")).toBe("each-other\n");

      // A member that lost its data finds its own registration: etcd's advice, and no start.
      await stopProcess((started[0] as Spawned).proc, "SIGKILL");
      rmSync(m1.dataDir, { recursive: true, force: true });
      const lost = start("etcd-ts", m1, ["--discovery", url]);
      expect(await lost.exited).toBe(1);
      expect(logOf(m1)).toContain("failed to join discovery cluster (discovery: found duplicate id)");
      expect(logOf(m1)).toContain("check data dir if previous bootstrap succeeded");
    } finally {
      proxy.server.close();
    }
  }, 120_000);

  it("lets the real etcd's members bootstrap through a token on etcd-ts's v2 API", async () => {
    const disco = await Member.create({ kind: "etcd-ts", extraArgs: ["--enable-v2"] });
    others.push(disco);
    await disco.start();
    const url = await newToken(disco.url, "go-cluster", 3);
    const ns = await Promise.all(["g1", "g2", "g3"].map((n) => node(n)));
    const started = ns.map((n) => start("etcd", n, ["--discovery", url, "--enable-v2"]));
    await Promise.all(ns.map((n, i) => healthy(n, started[i] as Spawned)));
    const expected = ns.map((n) => `${n.name}=${n.peerUrl}`).sort();
    expect(await members((ns[0] as Node).clientUrl)).toEqual(expected);
    memberOutputs.set("etcd", await v2MemberCommands((ns[0] as Node).clientUrl, ["g1", "g2", "g3"]));
  }, 120_000);

  it("answers the real ETCDCTL_API=2 etcdctl's member add, list and remove alike on both clusters", () => {
    const a = memberOutputs.get("etcd") ?? [];
    expect(a[0]).toContain("Added member named newbie with ID <id> to cluster");
    expect(a[2]).toContain("Removed member <id> from cluster");
    expect(memberOutputs.get("etcd-ts")).toEqual(a);
  });
});

describe("bootstrap by --discovery-srv", () => {
  const DOMAIN = "etcd-ts.test";
  let dns: Socket | undefined;

  afterEach(() => {
    dns?.close();
    dns = undefined;
  });

  it("forms an etcd-ts cluster from _etcd-server._tcp SRV records", async () => {
    const ns = await Promise.all(["s1", "s2", "s3"].map((n) => node(n, `${n}.${DOMAIN}`)));
    const srvName = `_etcd-server._tcp.${DOMAIN}`;
    const records = new Map<string, DnsAnswer[]>([
      [srvName, ns.map((n) => srvAnswer(srvName, `${n.name}.${DOMAIN}`, Number(new URL(n.peerUrl).port)))],
      [`_etcd-server-ssl._tcp.${DOMAIN}`, []],
      ...ns.map((n): [string, DnsAnswer[]] => [`${n.name}.${DOMAIN}`, [aAnswer(`${n.name}.${DOMAIN}`, "127.0.0.1")]]),
    ]);
    dns = await startDnsServer(records);
    const resolv = join(base, "resolv.conf");
    writeFileSync(resolv, resolvConfText());
    const started = ns.map((n) => start("etcd-ts", n, ["--discovery-srv", DOMAIN], (cli) => withResolvConf(resolv, cli)));
    await Promise.all(ns.map((n, i) => healthy(n, started[i] as Spawned)));
    // Each member knows itself by name; the others it first knew by DNS, then by their published names.
    const expected = ns.map((n) => `${n.name}=${n.peerUrl}`).sort();
    for (const n of ns) expect(await members(n.clientUrl)).toEqual(expected);
    await ctl((ns[0] as Node).clientUrl, "put", "srv", "ok");
    expect(await ctl((ns[2] as Node).clientUrl, "get", "srv", "--print-value-only")).toBe("ok\n");
  }, 120_000);
});
