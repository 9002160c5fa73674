import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@etcd-ts/client";
import { dropWarnings, ETCDCTL_TS, normalizeStderr, REAL_ETCDCTL, runCtl, type CtlResult } from "./testing/ctl.js";
import { startCluster, type ClusterMember, type TestCluster } from "./testing/cluster.js";
import { freePort } from "@etcd-ts/test-kit";
import { serverFromEnv } from "./testing/server.js";

/**
 * Differential suite on a 3-member cluster: membership, move-leader and the --cluster
 * endpoint commands, through the Go etcdctl and etcdctl-ts against the same cluster, one
 * after the other. Commands that do not change the cluster must print the same bytes. A
 * change made by each CLI in turn (a new member, a leader transfer) differs only in the new
 * member's ID and URL, or in which members lead, and those are masked.
 */

type Out = { code: number | null; stdout: string; stderr: string };

/** maskHealth hides measured durations in `endpoint health` output. */
function maskHealth(s: string): string {
  return s
    .replace(/"took":"[^"]*"/g, '"took":"T"')
    .replace(/"Took" : \S+/g, '"Took" : T')
    .replace(/took = \S+/g, "took = T")
    .replace(/\| +[0-9.]+(ns|\u00c2\u00b5s|µs|ms|s) +\|/g, "| T |"); // latin1-decoded "µs" is "\u00c2\u00b5s"
}

/** squeezeTable collapses table padding, whose widths follow the masked durations. */
function squeezeTable(s: string): string {
  return s.replace(/-+/g, "-").replace(/ +/g, " ");
}

/** sortLines orders lines (results printed in completion order). */
function sortLines(s: string): string {
  const lines = s.split("\n");
  const last = lines.pop();
  return [...lines.sort(), last].join("\n");
}

/** sortJSONArrays orders the elements of every JSON array in each line (64-bit numbers kept exact). */
function sortJSONArrays(s: string): string {
  const sortDeep = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortDeep).map((x) => JSON.stringify(x)).sort().map((x) => JSON.parse(x) as unknown);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sortDeep(x)]));
    }
    return v;
  };
  return s
    .split("\n")
    .map((l) => (l.startsWith("{") || l.startsWith("[") ? JSON.stringify(sortDeep(JSON.parse(l.replace(/:(\d{15,})/g, ':"$1"')))) : l))
    .join("\n");
}

describe("etcdctl-ts prints what etcdctl 3.4 prints, on a 3-member cluster", () => {
  let cl: TestCluster;
  let admin: Client;
  let ids: Map<string, bigint>;
  const all = (): string => cl.members.map((m) => m.endpoint).join(",");
  // With several endpoints the Go client answers from whichever connects first, so commands
  // whose output carries the answering member go to m1 alone (m1 is never stopped).
  const one = (): string => cl.members[0]!.endpoint;

  beforeAll(async () => {
    // Without the strict check etcd does not wait for 5 s of full connectivity before reconfiguring.
    cl = await startCluster(serverFromEnv(), 3, { extraFlags: ["--strict-reconfig-check=false"] });
    admin = new Client({ endpoints: cl.members.map((m) => m.clientURL) });
    ids = new Map((await admin.memberList()).members.map((m) => [m.name, m.ID]));
  }, 60_000);
  afterAll(async () => {
    admin?.close();
    await cl?.stop();
  });

  const run = async (cli: string[], args: string[], opts: { stderr?: "warn"; health?: boolean } = {}): Promise<Out> => {
    const r: CtlResult = await runCtl(cli, args, {});
    let stdout = r.stdout.toString("latin1");
    let stderr = normalizeStderr(r.stderr.toString("latin1"), []);
    if (opts.stderr === "warn") stderr = dropWarnings(stderr);
    if (opts.health === true) {
      stdout = sortJSONArrays(sortLines(squeezeTable(maskHealth(stdout))));
      stderr = sortLines(maskHealth(stderr));
    }
    return { code: r.code, stdout, stderr };
  };
  /** same runs args through both CLIs against the unchanged cluster and expects equal output. */
  const same = async (args: string[], opts: { stderr?: "warn"; health?: boolean } = {}): Promise<Out> => {
    const real = await run(REAL_ETCDCTL, args, opts);
    const ours = await run(ETCDCTL_TS, args, opts);
    expect(ours).toEqual(real);
    return real;
  };
  const hex = (name: string): string => (ids.get(name) as bigint).toString(16);
  const leaderName = async (): Promise<string> => {
    const l = await admin.maintenance.findLeader();
    return [...ids].find(([, id]) => id === l.status.leader)?.[0] as string;
  };

  it("member list in every format", async () => {
    for (const w of ["simple", "json", "table", "fields", "protobuf"]) {
      await same(["--endpoints", one(), "member", "list", "-w", w]);
    }
    expect((await same(["--endpoints", all(), "member", "list"])).stdout.split("\n")).toHaveLength(4);
  });

  it("endpoint status, hashkv and health with --cluster", async () => {
    const first = cl.members[0]!.endpoint;
    for (const w of ["simple", "json", "table", "fields"]) {
      await same(["--endpoints", first, "endpoint", "status", "--cluster", "-w", w]);
    }
    await same(["--endpoints", first, "endpoint", "hashkv", "--cluster", "-w", "table"]);
    for (const w of ["simple", "json", "table"]) {
      await same(["--endpoints", first, "endpoint", "health", "--cluster", "-w", w], { health: true });
    }
  });

  it("refuses bad member and move-leader arguments as etcdctl does", async () => {
    const ep = ["--endpoints", one()];
    const voter = hex("m1");
    for (const args of [
      ["member", "add"],
      ["member", "add", "a", "b", "http://x", "HTTPS://y"],
      ["member", "add", "x"],
      ["member", "add", "x", "--peer-urls=127.0.0.1:1"],
      ["member", "add", "x", "--peer-urls", "http://127.0.0.1:1/path"],
      ["member", "remove"],
      ["member", "remove", "zz"],
      ["member", "remove", "1ffffffffffffffff"],
      ["member", "remove", "1234"],
      ["member", "update", "1"],
      ["member", "update", "1", "--peer-urls=http://h:port"],
      ["member", "update", "1234", "--peer-urls=http://127.0.0.1:1"],
      ["member", "promote", voter],
      ["member", "promote", "1234", "-w", "json"],
      ["member", "list", "-w", "bogus"],
      ["member", "list", "--help"],
      ["member"],
      ["move-leader"],
      ["move-leader", "zz"],
      ["move-leader", "1234"],
      ["move-leader", "--help"],
    ]) {
      await same([...ep, ...args]);
    }
    const follower = cl.members.find((m) => m.name !== "m1") as ClusterMember;
    const lead = await leaderName();
    const notLeader = cl.members.find((m) => m.name !== lead) as ClusterMember;
    await same(["--endpoints", notLeader.endpoint, "move-leader", hex(follower.name)]);
  }, 60_000);

  it("adds, promotes, updates and removes a learner member", async () => {
    const steps = async (cli: string[]): Promise<{ outs: Out[]; id: bigint; port: number; cport: string }> => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const ep = ["--endpoints", one()];
      const outs: Out[] = [];
      const add = await run(cli, [...ep, "member", "add", "learner", `--peer-urls=${url}`, "--learner"]);
      outs.push(add);
      const m = /^Member +([0-9a-f]+) added/.exec(add.stdout);
      expect(m, add.stdout + add.stderr).not.toBeNull();
      const id = BigInt("0x" + (m as RegExpExecArray)[1]);
      const hexId = id.toString(16);
      outs.push(await run(cli, [...ep, "member", "list", "-w", "json"]));
      outs.push(await run(cli, [...ep, "member", "promote", hexId]));
      const initial = /ETCD_INITIAL_CLUSTER="([^"]*)"/.exec(add.stdout)?.[1] as string;
      const learner = await cl.join("learner", url, initial);
      const cport = learner.endpoint.split(":")[1] as string;
      try {
        await waitInSync(admin, learner.clientURL);
        outs.push(await run(cli, [...ep, "member", "list"]));
        outs.push(await run(cli, [...ep, "member", "promote", hexId]));
        outs.push(await run(cli, [...ep, "member", "promote", hexId, "-w", "json"]));
        outs.push(await run(cli, [...ep, "member", "update", hexId, `--peer-urls=${url}`]));
        outs.push(await run(cli, [...ep, "member", "update", hexId, `--peer-urls=${url}`, "-w", "json"]));
        outs.push(await run(cli, [...ep, "member", "list", "-w", "table"]));
        outs.push(await run(cli, [...ep, "member", "remove", hexId]));
      } finally {
        await learner.stop();
      }
      outs.push(await run(cli, [...ep, "member", "remove", hexId]));
      return { outs, id, port, cport };
    };
    const norm = (r: { outs: Out[]; id: bigint; port: number; cport: string }): Out[] =>
      r.outs.map((o) => {
        const mask = (s: string): string =>
          s
            .split(r.id.toString(16).padStart(16, " ")).join("<ID>")
            .split(r.id.toString(16)).join("<ID>")
            .split(r.id.toString()).join("1")
            .split(String(r.port)).join("<PORT>")
            .split(r.cport).join("<CPORT>")
            .replace(/ETCD_INITIAL_CLUSTER="([^"]*)"/, (_, v: string) => `ETCD_INITIAL_CLUSTER="${v.split(",").sort().join(",")}"`);
        // Members are listed by ID, so the new member's place differs.
        const stdout = sortJSONArrays(mask(o.stdout));
        const sorted = o.stdout.includes("|") || /^[0-9a-f]+, /.test(o.stdout) ? sortLines(stdout) : stdout;
        return { code: o.code, stdout: sorted, stderr: dropWarnings(mask(o.stderr)) };
      });
    const real = await steps(REAL_ETCDCTL);
    await same(["--endpoints", one(), "member", "list", "-w", "json"]);
    const ours = await steps(ETCDCTL_TS);
    const realN = norm(real);
    expect(realN[4]?.stdout).toContain("promoted in cluster");
    expect(realN[5]).toMatchObject({ code: 1, stderr: "Error: etcdserver: can only promote a learner member\n" });
    expect(norm(ours)).toEqual(realN);
    await same(["--endpoints", all(), "member", "list"]);
  }, 60_000);

  it("moves the leader", async () => {
    const eps = ["--endpoints", all()];
    const l0 = await leaderName();
    const [f1, f2] = [...ids.keys()].filter((n) => n !== l0) as [string, string];
    const real = await run(REAL_ETCDCTL, [...eps, "move-leader", hex(f1)]);
    expect(real).toEqual({ code: 0, stdout: `Leadership transferred from ${hex(l0)} to ${hex(f1)}\n`, stderr: "" });
    const l1 = await leaderName();
    const ours = await run(ETCDCTL_TS, [...eps, "move-leader", hex(f2)]);
    expect(ours).toEqual({ code: 0, stdout: `Leadership transferred from ${hex(l1)} to ${hex(f2)}\n`, stderr: "" });
    expect(await leaderName()).toBe(f2);
    for (const w of ["json", "protobuf", "fields"]) {
      const r = await run(REAL_ETCDCTL, [...eps, "move-leader", hex(l0), "-w", w]);
      const o = await run(ETCDCTL_TS, [...eps, "move-leader", hex(f2), "-w", w]);
      expect(o).toEqual(r);
    }
    const lead = await leaderName();
    await same([...eps, "move-leader", hex(lead)]);
    await same(["--endpoints", cl.members.map((m) => m.endpoint).join(","), "endpoint", "status", "-w", "table"]);
  }, 60_000);

  it("reports a stopped member and fails over to the others", async () => {
    const lead = await leaderName();
    const down = cl.members.find((m) => m.name !== lead && m.name !== "m1") as ClusterMember;
    await down.stop();
    const live = cl.members.filter((m) => m !== down).map((m) => m.endpoint);
    expect(live[0]).toBe(one());
    const t = "--command-timeout=500ms";
    await same(["--endpoints", live[0] as string, "endpoint", "status", "--cluster", t], { stderr: "warn" });
    await same(["--endpoints", live[0] as string, "endpoint", "status", "--cluster", t, "-w", "json"], { stderr: "warn" });
    await same(["--endpoints", live[0] as string, "endpoint", "hashkv", "--cluster", t], { stderr: "warn" });
    await same(["--endpoints", live[0] as string, "endpoint", "health", "--cluster", t], { stderr: "warn", health: true });
    await same(["--endpoints", live[0] as string, "endpoint", "health", "--cluster", t, "-w", "json"], {
      stderr: "warn",
      health: true,
    });
    await same(["--endpoints", one(), "member", "list", "-w", "fields"]);
    const withDown = [down.endpoint, ...live].join(",");
    await same(["--endpoints", withDown, "put", "failover", "v"]);
    await same(["--endpoints", withDown, "get", "failover"]);
    await same(["--endpoints", withDown, "member", "list"]);
    await same(["--endpoints", withDown, "move-leader", hex(lead), t], { stderr: "warn" });
  }, 60_000);
});

/** waitInSync polls until the learner at url has applied everything the leader had committed. */
async function waitInSync(admin: Client, url: string): Promise<void> {
  const target = (await admin.maintenance.findLeader()).status.raftIndex;
  const c = new Client({ endpoints: [url] });
  try {
    for (let i = 0; i < 100; i++) {
      const st = await c.status(url, { timeoutMs: 1000 }).catch(() => undefined);
      if (st !== undefined && st.raftAppliedIndex >= target) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`testing: learner ${url} did not catch up`);
  } finally {
    c.close();
  }
}
