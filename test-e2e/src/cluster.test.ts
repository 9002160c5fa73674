import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, type ClusterMember } from "./harness/cluster.js";
import { ETCDCTL_TS_BIN, REAL_ETCDCTL, run, type RunResult, until } from "@etcd-ts/test-kit";

/** A 3-member etcd-ts cluster driven by the real etcdctl and the npm etcd3 client. */

async function ctl(endpoints: string, ...args: string[]): Promise<RunResult> {
  return run(REAL_ETCDCTL, ["--endpoints", endpoints, "--command-timeout", "3s", ...args]);
}


interface Status {
  Endpoint: string;
  Status: { header: { member_id: number | bigint }; leader: number | bigint };
}

/** leaderOf returns the member that the live members agree is the leader. */
async function leaderOf(c: TestCluster, live = c.members): Promise<ClusterMember> {
  return until(async () => {
    const r = await ctl(live.map((m) => c.endpoint(m)).join(","), "endpoint", "status", "-w", "json");
    const sts = JSON.parse(r.stdout.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"')) as Status[];
    const leaders = new Set(sts.map((s) => String(s.Status.leader)));
    if (leaders.size !== 1 || leaders.has("0")) return undefined;
    const lead = [...leaders][0];
    const st = sts.find((s) => String(s.Status.header.member_id) === lead);
    return live.find((m) => st !== undefined && st.Endpoint === c.endpoint(m));
  });
}

/** hashes is the set of HashKV values the live members report; it throws unless every member answered. */
async function hashes(c: TestCluster, live = c.members): Promise<Set<string>> {
  const r = await ctl(live.map((m) => c.endpoint(m)).join(","), "endpoint", "hashkv");
  const values = [...r.stdout.matchAll(/^\S+, (\d+)$/gm)].map((m) => m[1] as string);
  if (r.code !== 0 || values.length !== live.length) throw new Error(`endpoint hashkv: ${r.stdout}${r.stderr}`);
  return new Set(values);
}

describe("3-member etcd-ts cluster", () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start("etcd-ts", 3, { proxied: true, extraArgs: ["--snapshot-count", "200"] });
  });
  afterAll(async () => {
    if (process.env.E2E_KEEP === "1") {
      for (const m of c.members) await c.kill(m);
      process.stderr.write(`kept cluster logs: ${c.members.map((m) => m.logFile).join(" ")}\n`);
      return;
    }
    await c.destroy();
  });

  it("bootstraps: three members, one leader, listed by etcdctl", async () => {
    const list = await ctl(c.endpoints(), "member", "list");
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    for (const m of c.members) expect(list.stdout).toContain(`, started, ${m.name}, ${c.peerUrl(m)}, ${c.clientUrl(m)}, false`);
    await leaderOf(c);
  });

  it("etcdctl-ts reports every member with endpoint status --cluster", async () => {
    const r = await run(process.execPath, [ETCDCTL_TS_BIN, "--endpoints", c.endpoint(c.members[0] as ClusterMember), "endpoint", "status", "--cluster"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    for (const m of c.members) expect(r.stdout).toContain(`${c.clientUrl(m)}, `);
    expect(lines.filter((l) => l.includes(", true, false, ")).length).toBe(1); // one leader, no learner
  });

  it("writes on each member and reads every write on each member", async () => {
    for (const m of c.members) expect((await ctl(c.endpoint(m), "put", `from-${m.name}`, m.name)).stdout).toBe("OK\n");
    for (const m of c.members) {
      const r = await ctl(c.endpoint(m), "get", "from-", "--prefix", "--print-value-only");
      expect(r.stdout).toBe("m0\nm1\nm2\n");
    }
  });

  it("loses no acknowledged write when the leader is killed, elects a new one, and the old leader catches up", async () => {
    const leader = await leaderOf(c);
    const client = new Etcd3({ hosts: c.members.map((m) => c.clientUrl(m)), dialTimeout: 1000 });
    const acked = new Map<string, string>();
    // Acknowledged puts, counted: acked holds at most 1,600 keys, which fast writers can fill before the kill.
    let ackedPuts = 0;
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop && i < 50_000; i++) {
        const key = `kl/w${w}/k${i % 200}`;
        try {
          await client.put(key).value(`${i}`);
          acked.set(key, `${i}`);
          ackedPuts++;
        } catch {
          await new Promise((r) => setTimeout(r, 50)); // unavailable during the election; try on
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    await new Promise((r) => setTimeout(r, 1000));
    await c.kill(leader, "SIGKILL");
    const live = c.members.filter((m) => m !== leader);
    const before = ackedPuts;
    await leaderOf(c, live);
    await until(async () => (ackedPuts > before + 50 ? true : undefined));
    stop = true;
    await Promise.all(writers);
    client.close();
    const check = new Etcd3({ hosts: live.map((m) => c.clientUrl(m)) });
    const all = await check.getAll().prefix("kl/").strings();
    for (const [k, v] of acked) expect(Number(all[k]), k).toBeGreaterThanOrEqual(Number(v));
    check.close();

    await c.spawn(leader);
    await c.waitHealthy(leader, 30_000);
    await until(async () => ((await hashes(c)).size === 1 ? true : undefined));
  });

  // A member receives its peers' messages on streams it dials itself (as etcd does), so the
  // proxy in front of its own peer port no longer cuts it off; packet-level partitions (with
  // the majority serving meanwhile) are in the robustness suite's net-partition runs. Here the
  // member is cut off by stopping (SIGSTOP) both of its peers.
  it("a member cut off from its peers refuses writes and linearizable reads, serves serializable reads, and converges after", async () => {
    const leader = await leaderOf(c);
    const victim = c.members.find((m) => m !== leader) as ClusterMember;
    const others = c.members.filter((m) => m !== victim);
    await ctl(c.endpoint(leader), "put", "before-partition", "1");
    await until(async () => ((await ctl(c.endpoint(victim), "get", "before-partition", "--consistency", "s")).stdout.includes("1") ? true : undefined));
    for (const m of others) m.proc?.kill("SIGSTOP");
    try {
      await new Promise((r) => setTimeout(r, 1500)); // several election timeouts
      const w = await ctl(c.endpoint(victim), "put", "in-partition", "x");
      expect(w.code).not.toBe(0);
      const lin = await ctl(c.endpoint(victim), "get", "before-partition");
      expect(lin.code).not.toBe(0);
      const ser = await ctl(c.endpoint(victim), "get", "before-partition", "--consistency", "s", "--print-value-only");
      expect(ser.stdout).toBe("1\n");
    } finally {
      for (const m of others) m.proc?.kill("SIGCONT");
    }
    // The others lead and write again, and the member catches up.
    await until(async () => ((await ctl(c.endpoint(leader), "put", "during-partition", "2")).code === 0 ? true : undefined));
    await until(async () => ((await ctl(c.endpoint(victim), "get", "during-partition", "--print-value-only")).stdout === "2\n" ? true : undefined));
    await until(async () => ((await hashes(c)).size === 1 ? true : undefined));
  });

  it("catches up a member that was down while more than --snapshot-count entries were written", async () => {
    const leader = await leaderOf(c);
    const victim = c.members.find((m) => m !== leader) as ClusterMember;
    await c.kill(victim, "SIGTERM");
    const client = new Etcd3({ hosts: c.clientUrl(leader) });
    for (let i = 0; i < 600; i++) await client.put(`snap/${i}`).value("v".repeat(50));
    client.close();
    await c.spawn(victim);
    await c.waitHealthy(victim, 30_000);
    await until(async () => ((await ctl(c.endpoint(victim), "get", "snap/", "--prefix", "--keys-only", "-w", "json")).stdout.includes('"count":600') ? true : undefined));
    await until(async () => ((await hashes(c)).size === 1 ? true : undefined));
    expect(c.logTail(victim) + c.logTail(leader)).toMatch(/snapshot/);
  });

  it("adds a learner with etcdctl, starts it, promotes it and removes a member", async () => {
    const m3 = await c.define("m3", false, ["--snapshot-count", "200"]);
    // As etcd, the cluster refuses membership changes ("unhealthy cluster") until every voter's
    // peer link has been up for 5 s: the member restarted by the test before is younger.
    const add = await until(async () => {
      const r = await ctl(c.endpoints(), "member", "add", "m3", `--peer-urls=${c.peerUrl(m3)}`, "--learner");
      return r.stderr.includes("etcdserver: unhealthy cluster") ? undefined : r;
    }, 30_000);
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/Member\s+[0-9a-f]+ added to cluster\s+[0-9a-f]+/);
    const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1];
    expect(initial).toContain(`m3=${c.peerUrl(m3)}`);
    expect(add.stdout).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    m3.initialCluster = initial as string;
    m3.state = "existing";
    await c.spawn(m3);
    await c.waitHealthy(m3, 30_000);
    const id = (/Member\s+([0-9a-f]+) added/.exec(add.stdout) as RegExpExecArray)[1] as string;
    const listed = await ctl(c.endpoints(), "member", "list");
    expect(listed.stdout).toContain(`${id}, started, m3, ${c.peerUrl(m3)}, ${c.clientUrl(m3)}, true`);
    await until(async () => {
      const p = await ctl(c.endpoints(), "member", "promote", id);
      return p.code === 0 ? p : undefined;
    });
    // MemberList answers from the member asked, which may apply the promotion a moment later (as in etcd).
    const promoted = `${id}, started, m3, ${c.peerUrl(m3)}, ${c.clientUrl(m3)}, false`;
    await until(async () => ((await ctl(c.endpoints(), "member", "list")).stdout.includes(promoted) ? true : undefined), 10_000);
    expect((await ctl(c.endpoints(), "member", "list")).stdout).toContain(promoted);
    // Remove a follower that is not m3.
    const leader = await leaderOf(c);
    const victim = c.members.find((m) => m !== leader && m !== m3) as ClusterMember;
    const vid = (await ctl(c.endpoint(victim), "endpoint", "status", "-w", "fields")).stdout.match(/"MemberID" : (\d+)/)?.[1];
    const rm = await ctl(c.endpoint(leader), "member", "remove", BigInt(vid as string).toString(16));
    expect(rm.stdout).toMatch(/Member\s+[0-9a-f]+ removed from cluster/);
    await c.kill(victim);
    const live = c.members.filter((m) => m !== victim);
    // As with the promotion: each member answers from its own state, and may apply the removal
    // a moment after the leader answered; every live member must list three.
    const listed3 = async (): Promise<boolean> => {
      for (const m of live) if ((await ctl(c.endpoint(m), "member", "list")).stdout.trim().split("\n").length !== 3) return false;
      return true;
    };
    await until(async () => ((await listed3()) ? true : undefined), 10_000);
    expect((await ctl(c.endpoint(m3), "put", "after-remove", "ok")).code).toBe(0);
    await until(async () => ((await hashes(c, live)).size === 1 ? true : undefined));
  });

  it("moves the leader with etcdctl move-leader", async () => {
    const live = c.members.filter((m) => m.proc !== undefined && m.proc.exitCode === null && m.proc.signalCode === null);
    const leader = await leaderOf(c, live);
    const target = live.find((m) => m !== leader) as ClusterMember;
    const tid = (await ctl(c.endpoint(target), "endpoint", "status", "-w", "fields")).stdout.match(/"MemberID" : (\d+)/)?.[1];
    const hex = BigInt(tid as string).toString(16);
    const r = await ctl(live.map((m) => c.endpoint(m)).join(","), "move-leader", hex);
    expect(r.stdout).toContain(`Leadership transferred from`);
    expect((await leaderOf(c, live)).name).toBe(target.name);
  });
});
