import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { etcdFlags, freePort, isRunning, serverCommand, spawnServer, until, waitHealthy, type Spawned } from "@etcd-ts/test-kit";
import { afterAll, describe, expect, it } from "vitest";

/**
 * A member whose peer port receives nothing (a one-way cut: every byte sent toward it is held
 * back) must still hear its peers, as an etcd member does: it receives their messages on
 * streams it dialed itself, whose answers do not cross the cut. Three spawned members (the
 * built `etcd-ts`, npm test builds first), each behind a TCP proxy on its advertised peer
 * URL; a follower's proxy holds back everything sent toward it for ~3 s while the leader
 * takes writes: the follower keeps up and nobody campaigns.
 */

const bases: string[] = [];
const procs: Spawned[] = [];
const proxies: HoldProxy[] = [];
afterAll(async () => {
  for (const p of procs) if (isRunning(p.proc)) p.proc.kill("SIGKILL");
  for (const p of proxies) await p.close();
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

/**
 * HoldProxy forwards a loopback port to a member's peer port; while holding, every byte sent
 * toward the member is kept back (its connections stay open, nothing is lost), and released
 * in order afterwards: robustness's FaultProxy "blackhole-in", in small.
 */
class HoldProxy {
  private holding = false;
  private readonly links = new Set<{ client: Socket; upstream: Socket; held: Buffer[] }>();

  private constructor(private readonly server: Server) {}

  static async start(port: number, target: number): Promise<HoldProxy> {
    let self: HoldProxy | undefined;
    const server = createServer((client) => self?.accept(client, target));
    self = new HoldProxy(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return self;
  }

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const l of this.links) {
      for (const c of l.held.splice(0)) l.upstream.write(c);
      l.client.resume();
    }
  }

  async close(): Promise<void> {
    for (const l of this.links) {
      l.client.destroy();
      l.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: number): void {
    const upstream = netConnect(target, "127.0.0.1");
    const link = { client, upstream, held: [] as Buffer[] };
    this.links.add(link);
    const end = (): void => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on("error", end);
      s.on("close", end);
    }
    client.on("data", (c: Buffer) => {
      if (this.holding || link.held.length > 0) {
        link.held.push(c);
        client.pause();
        return;
      }
      upstream.write(c);
    });
    upstream.on("data", (c: Buffer) => client.write(c));
  }
}

interface Member {
  name: string;
  clientUrl: string;
  proxy: HoldProxy;
  logFile: string;
  kv: etcdserverpb.KVClient;
  maintenance: etcdserverpb.MaintenanceClient;
}

const b = (s: string): Buffer => Buffer.from(s);
const logOf = (m: Member): string => (existsSync(m.logFile) ? readFileSync(m.logFile, "utf8") : "");

/** startCluster spawns three members, each advertising a HoldProxy in front of its peer port. */
async function startCluster(): Promise<Member[]> {
  const base = mkdtempSync(join(tmpdir(), "etcd-inbound-cut-"));
  bases.push(base);
  const plan = [];
  for (let i = 0; i < 3; i++) {
    plan.push({ name: `m${i}`, peer: await freePort(), proxy: await freePort(), client: await freePort() });
  }
  const initialCluster = plan.map((p) => `${p.name}=http://127.0.0.1:${p.proxy}`).join(",");
  const members: Member[] = [];
  for (const p of plan) {
    const proxy = await HoldProxy.start(p.proxy, p.peer);
    proxies.push(proxy);
    const clientUrl = `http://127.0.0.1:${p.client}`;
    const logFile = join(base, `${p.name}.log`);
    const args = etcdFlags({
      name: p.name,
      dataDir: join(base, p.name),
      clientUrl,
      listenPeerUrl: `http://127.0.0.1:${p.peer}`,
      advertisePeerUrl: `http://127.0.0.1:${p.proxy}`,
      initialCluster,
      extraFlags: ["--initial-cluster-token", "inbound-cut"],
    });
    procs.push(spawnServer(serverCommand("etcd-ts"), args, { logFile }));
    const addr = clientUrl.replace("http://", "");
    members.push({
      name: p.name,
      clientUrl,
      proxy,
      logFile,
      kv: new etcdserverpb.KVClient(addr, credentials.createInsecure()),
      maintenance: new etcdserverpb.MaintenanceClient(addr, credentials.createInsecure()),
    });
  }
  await Promise.all(members.map((m, i) => waitHealthy(m.clientUrl, { exited: () => !isRunning((procs[procs.length - 3 + i] as Spawned).proc), detail: () => logOf(m).slice(-3000) })));
  return members;
}

const deadline = (ms = 2000) => ({ deadline: Date.now() + ms });

function status(m: Member): Promise<etcdserverpb.StatusResponse> {
  return new Promise((resolve, reject) =>
    m.maintenance.status(etcdserverpb.StatusRequest.fromPartial({}), new Metadata(), deadline(), (err, r) => (err || r === undefined ? reject(err) : resolve(r))),
  );
}

function put(m: Member, k: string, v: string): Promise<void> {
  return new Promise((resolve, reject) =>
    m.kv.put(etcdserverpb.PutRequest.fromPartial({ key: b(k), value: b(v) }), new Metadata(), deadline(), (err) => (err ? reject(err) : resolve())),
  );
}

function serializableGet(m: Member, k: string): Promise<string | undefined> {
  return new Promise((resolve, reject) =>
    m.kv.range(etcdserverpb.RangeRequest.fromPartial({ key: b(k), serializable: true }), new Metadata(), deadline(), (err, r) =>
      err ? reject(err) : resolve(r?.kvs[0]?.value.toString()),
    ),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a member deaf on its peer port (one-way cut toward it)", { timeout: 120_000 }, () => {
  it("a follower whose incoming peer traffic is held back for 3 s keeps up with the leader's writes, and no election happens", async () => {
    const ms = await startCluster();
    const statuses = await until(async () => {
      const st = await Promise.all(ms.map(status));
      const leader = st[0]?.leader ?? 0n;
      return leader !== 0n && st.every((s) => s.leader === leader) ? st : undefined;
    });
    const leaderId = statuses[0]?.leader as bigint;
    const leader = ms[statuses.findIndex((s) => s.header?.memberId === leaderId)] as Member;
    const follower = ms.find((m) => m !== leader) as Member;

    await put(leader, "k", "v0");
    await until(async () => ((await Promise.all(ms.map((m) => serializableGet(m, "k")))).every((v) => v === "v0") ? true : undefined));
    // Let every link settle (streams dialed and acknowledged) before the cut.
    await sleep(1500);
    const terms = (await Promise.all(ms.map(status))).map((s) => s.raftTerm);
    const logFrom = ms.map((m) => logOf(m).length);

    follower.proxy.hold();
    const cutAt = Date.now();
    let i = 0;
    try {
      while (Date.now() - cutAt < 3000) {
        i++;
        await put(leader, "k", `v${i}`);
        // The follower applies each write while the cut lasts: its local (serializable) read sees it.
        const want = `v${i}`;
        await until(async () => ((await serializableGet(follower, "k")) === want ? true : undefined), 1500, { intervalMs: 20 });
        await sleep(100);
      }
    } finally {
      follower.proxy.release();
    }
    expect(i).toBeGreaterThan(5);

    const after = await Promise.all(ms.map(status));
    expect(after.map((s) => s.raftTerm)).toEqual(terms);
    expect(after.map((s) => s.leader)).toEqual([leaderId, leaderId, leaderId]);
    // Not even a pre-vote campaign (which leaves terms as they are).
    ms.forEach((m, j) => expect(logOf(m).slice(logFrom[j])).not.toMatch(/became (pre-)?candidate/));
  });
});
