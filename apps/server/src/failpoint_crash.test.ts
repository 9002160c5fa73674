import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { etcdFlags, freePort, isRunning, run, serverCommand, spawnServer, until, waitHealthy, type Spawned } from "@etcd-ts/test-kit";
import { afterAll, describe, expect, it } from "vitest";

/**
 * Failpoints end to end, on the built `etcd-ts` (npm test builds first): a member started with
 * ETCD_TS_FAILPOINTS_HTTP is told over HTTP to crash right after (or right before) a WAL
 * write, dies by SIGKILL during a put, and after a restart on the same data dir holds every
 * acknowledged write, plus the unacknowledged put exactly when its WAL write had completed.
 */

const bases: string[] = [];
const procs: Spawned[] = [];
afterAll(() => {
  for (const p of procs) if (isRunning(p.proc)) p.proc.kill("SIGKILL");
  for (const b of bases) rmSync(b, { recursive: true, force: true });
});

const b = (s: string): Buffer => Buffer.from(s);

interface Node {
  clientUrl: string;
  fpAddr: string;
  dataDir: string;
  logFile: string;
  args: string[];
}

async function newNode(): Promise<Node> {
  const base = mkdtempSync(join(tmpdir(), "etcd-failpoint-"));
  bases.push(base);
  const clientUrl = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const dataDir = join(base, "data");
  return {
    clientUrl,
    fpAddr: `127.0.0.1:${await freePort()}`,
    dataDir,
    logFile: join(base, "member.log"),
    args: etcdFlags({ name: "fp", dataDir, clientUrl, listenPeerUrl: peer, advertisePeerUrl: peer }),
  };
}

const logOf = (n: Node): string => (existsSync(n.logFile) ? readFileSync(n.logFile, "utf8") : "");
const published = (n: Node): number => logOf(n).split("\n").filter((l) => l.includes("published local member to cluster through raft")).length;

/** start spawns the member with the failpoint endpoint and waits until it serves and has nothing of its own left to propose. */
async function start(n: Node, starts: number): Promise<Spawned> {
  const sp = spawnServer(serverCommand("etcd-ts"), n.args, { env: { ETCD_TS_FAILPOINTS_HTTP: n.fpAddr }, logFile: n.logFile });
  procs.push(sp);
  await waitHealthy(n.clientUrl, { exited: () => !isRunning(sp.proc), detail: () => logOf(n).slice(-3000) });
  // Background proposals would reach the failpoint before the test's put: wait for this
  // start's member publication and for the cluster version (proposed once, ~4 s after the first start).
  await until(async () => (published(n) >= starts ? true : undefined), 20_000);
  await until(async () => ((await httpCall("GET", `${n.clientUrl}/version`)).body.includes('"etcdcluster":"3.4.0"') ? true : undefined), 20_000);
  return sp;
}

function httpCall(method: string, url: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, timeout: 5000 }, (res) => {
      let s = "";
      res.on("data", (c: Buffer) => (s += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: s }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

function kvOf(n: Node): etcdserverpb.KVClient {
  return new etcdserverpb.KVClient(n.clientUrl.replace("http://", ""), credentials.createInsecure());
}

function put(kv: etcdserverpb.KVClient, k: string, v: string): Promise<void> {
  return new Promise((resolve, reject) =>
    kv.put(etcdserverpb.PutRequest.fromPartial({ key: b(k), value: b(v) }), new Metadata(), { deadline: Date.now() + 5000 }, (err) => (err ? reject(err) : resolve())),
  );
}

async function get(kv: etcdserverpb.KVClient, k: string): Promise<string | undefined> {
  return new Promise((resolve, reject) =>
    kv.range(etcdserverpb.RangeRequest.fromPartial({ key: b(k) }), new Metadata(), { deadline: Date.now() + 5000 }, (err, r) =>
      err ? reject(err) : resolve(r?.kvs[0]?.value.toString()),
    ),
  );
}

/** crashDuringPut arms `failpoint=panic` over HTTP, puts `key` and expects the put to fail with the process killed by SIGKILL. */
async function crashDuringPut(n: Node, sp: Spawned, kv: etcdserverpb.KVClient, failpoint: string, key: string): Promise<void> {
  expect(await httpCall("PUT", `http://${n.fpAddr}/${failpoint}`, "panic")).toEqual({ status: 204, body: "" });
  expect((await httpCall("GET", `http://${n.fpAddr}/${failpoint}`)).body).toBe("panic\n");
  const err = await put(kv, key, "unacknowledged").then(
    () => undefined,
    (e: ServiceError) => e,
  );
  expect(err?.code, `the put of ${key} was acknowledged`).toBe(status.UNAVAILABLE);
  await sp.exited;
  expect(sp.proc.signalCode).toBe("SIGKILL");
  expect(logOf(n)).toContain(`"msg":"failpoint panic: ${failpoint}"`);
}

describe("failpoints in a spawned member", { timeout: 90_000 }, () => {
  it("crashes at raftAfterSave / raftBeforeSave on request and keeps exactly what the WAL held", async () => {
    const n = await newNode();
    let sp = await start(n, 1);
    expect(logOf(n)).toContain('"msg":"failpoints enabled; this member may crash on purpose"');
    const list = (await httpCall("GET", `http://${n.fpAddr}/`)).body;
    expect(list).toContain("raftAfterSave=\n");
    expect(list).toContain("raftBeforeSave=\n");

    // Round 1: crash right after the WAL write (and fdatasync) of a put, before its apply and answer.
    let kv = kvOf(n);
    for (let i = 0; i < 5; i++) await put(kv, `a${i}`, `v${i}`);
    await crashDuringPut(n, sp, kv, "raftAfterSave", "after-save");
    kv.close();

    sp = await start(n, 2);
    kv = kvOf(n);
    for (let i = 0; i < 5; i++) expect(await get(kv, `a${i}`)).toBe(`v${i}`);
    // Never acknowledged, but durable and committed (a single voter commits at append): replayed.
    expect(await get(kv, "after-save")).toBe("unacknowledged");

    // Round 2: crash right before the WAL write of a put.
    for (let i = 0; i < 3; i++) await put(kv, `b${i}`, `w${i}`);
    await crashDuringPut(n, sp, kv, "raftBeforeSave", "before-save");
    kv.close();

    sp = await start(n, 3);
    kv = kvOf(n);
    for (let i = 0; i < 5; i++) expect(await get(kv, `a${i}`)).toBe(`v${i}`);
    for (let i = 0; i < 3; i++) expect(await get(kv, `b${i}`)).toBe(`w${i}`);
    expect(await get(kv, "after-save")).toBe("unacknowledged");
    expect(await get(kv, "before-save")).toBeUndefined();
    kv.close();
    sp.proc.kill("SIGTERM");
    expect(await sp.exited).toBe(0);
  });

  it("arms failpoints from ETCD_TS_FAILPOINTS at start, and refuses bad values and unsafe stale reads in production", async () => {
    const n = await newNode();
    const [bin, ...pre] = serverCommand("etcd-ts") as [string, ...string[]];
    // The very first WAL write (the bootstrap's conf changes) crashes the member.
    const sp = spawnServer([bin, ...pre], n.args, { env: { ETCD_TS_FAILPOINTS: "raftBeforeSave=panic" }, logFile: n.logFile });
    procs.push(sp);
    await sp.exited;
    expect(sp.proc.signalCode).toBe("SIGKILL");
    expect(logOf(n)).toContain('"msg":"failpoint panic: raftBeforeSave"');

    const bad = await run(bin, [...pre, ...n.args], { env: { ETCD_TS_FAILPOINTS: "raftBeforeSave=explode" }, timeoutMs: 20_000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unsupported action");
    const unknown = await run(bin, [...pre, ...n.args], { env: { ETCD_TS_FAILPOINTS: "nosuch=panic" }, timeoutMs: 20_000 });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no failpoint named \\"nosuch\\"');
    const prod = await run(bin, [...pre, ...n.args], { env: { ETCD_TS_UNSAFE_STALE_READS: "1", NODE_ENV: "production" }, timeoutMs: 20_000 });
    expect(prod.code).toBe(1);
    expect(prod.stderr).toContain("ETCD_TS_UNSAFE_STALE_READS is refused with NODE_ENV=production");
  });
});
