import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Etcd } from "./etcd.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Etcdctl is a running `etcdctl` (the real one, 3.4) whose output is collected. */
interface Etcdctl {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function etcdctl(endpoint: string, args: string[]): Etcdctl {
  const proc = spawn("etcdctl", ["--endpoints", endpoint, ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return { proc, out: () => out, exited: new Promise((r) => proc.on("exit", (code) => r(code))) };
}

async function waitFor(cond: () => boolean, what: string, out: () => string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output: ${JSON.stringify(out())}`);
    await sleep(25);
  }
}

// The library's lock and election against the real etcdctl's `lock` and `elect` on the same
// names, on both servers: they share one queue, so neither ever holds beside the other.
describe.each(["etcd", "etcd-ts"] as const)("lock and election interoperate with etcdctl 3.4 against %s", (kind) => {
  let server: RunningEtcd;
  let etcd: Etcd;
  const running: Etcdctl[] = [];
  const run = (args: string[]): Etcdctl => {
    const c = etcdctl(server.endpoint, args);
    running.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await startEtcd({ kind });
    etcd = new Etcd({ endpoints: [server.endpoint] });
  }, 30_000);
  afterAll(async () => {
    for (const c of running) c.proc.kill("SIGKILL");
    etcd?.close();
    await server?.stop();
  });

  it("etcdctl lock waits for the library's holder, and the library waits for etcdctl's", async () => {
    let release = (): void => undefined;
    let held!: () => void;
    const holding = new Promise<void>((r) => (held = r));
    const libHolds = etcd.lock("L", async () => {
      held();
      await new Promise<void>((r) => (release = r));
    });
    await holding;
    const ctl = run(["lock", "L"]);
    await sleep(700);
    expect(ctl.out()).toBe("");
    release();
    await libHolds;
    await waitFor(() => /^L\/[0-9a-f]+\n/.test(ctl.out()), "etcdctl to print its lock key", ctl.out);

    // Now etcdctl holds: the library must wait.
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 700);
    await expect(etcd.lock("L", async () => "held", { signal: ac.signal })).rejects.toMatchObject({ code: 1 /* CANCELLED */ });
    ctl.proc.kill("SIGINT"); // etcdctl unlocks and exits
    await ctl.exited;
    expect(await etcd.lock("L", async () => "held")).toBe("held");
    expect(await etcd.keys("L/")).toEqual([]);
  }, 30_000);

  it("etcdctl elect and the library's election see one leader at a time", async () => {
    const ctl = run(["elect", "E", "from-etcdctl"]);
    await waitFor(() => ctl.out().includes("from-etcdctl"), "etcdctl to be elected", ctl.out);
    const el = etcd.election("E", { ttl: 5 });
    expect((await el.leader())?.string()).toBe("from-etcdctl");
    let leads = false;
    const campaign = el.campaign("from-library").then(() => (leads = true));
    await sleep(700);
    expect(leads).toBe(false);
    ctl.proc.kill("SIGINT"); // etcdctl resigns and exits
    await ctl.exited;
    await campaign;
    const listen = run(["elect", "--listen", "E"]);
    await waitFor(() => listen.out().includes("from-library"), "etcdctl elect --listen to see the library's leader", listen.out);
    await el.close();
  }, 30_000);
});
