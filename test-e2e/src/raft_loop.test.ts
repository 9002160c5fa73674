import { readFileSync } from "node:fs";
import { REAL_ETCDCTL, run, until, type RunResult } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, type ClusterMember } from "./harness/cluster.js";
import type { Kind } from "./harness/member.js";

/**
 * The raft loop's edges as an operator sees them, side by side on the real etcd 3.4.23 and on
 * etcd-ts: a learner refuses writes with `etcdserver: rpc not supported for learner` and
 * serves serializable reads and endpoint status; a removed member's process stops by itself
 * with exit code 0 and etcd's log line.
 */

async function ctl(endpoints: string, ...args: string[]): Promise<RunResult> {
  return run(REAL_ETCDCTL, ["--endpoints", endpoints, "--command-timeout", "5s", ...args]);
}

const LEARNER_REFUSED = "etcdserver: rpc not supported for learner";

for (const kind of ["etcd", "etcd-ts"] as Kind[]) {
  describe(`${kind}: learners and removed members`, () => {
    let c: TestCluster;
    let learner: ClusterMember;
    let learnerId: string;
    beforeAll(async () => {
      // No strict reconfig check: members may be removed right after the start.
      c = await TestCluster.start(kind, 3, { extraArgs: ["--strict-reconfig-check=false"] });
      expect((await ctl(c.endpoints(), "put", "k", "v")).code).toBe(0);
      learner = await c.define("m3", false, ["--strict-reconfig-check=false"]);
      const add = await ctl(c.endpoints(), "member", "add", "m3", `--peer-urls=${c.peerUrl(learner)}`, "--learner");
      expect(add.code).toBe(0);
      learnerId = (/Member\s+([0-9a-f]+) added/.exec(add.stdout) as RegExpExecArray)[1] as string;
      learner.initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1] as string;
      learner.state = "existing";
      await c.spawn(learner);
      await c.waitHealthy(learner, 30_000);
      await until(async () => {
        const r = await ctl(c.endpoint(learner), "get", "k", "--consistency=s", "--print-value-only");
        return r.stdout === "v\n" ? true : undefined;
      });
    });
    afterAll(async () => {
      await c.destroy();
    });

    it("a learner refuses writes and compaction with etcd's error", async () => {
      const ep = c.endpoint(learner);
      for (const args of [
        ["put", "k", "x"],
        ["del", "k"],
        ["txn"],
        ["compaction", "1"],
      ]) {
        const r = await run(REAL_ETCDCTL, ["--endpoints", ep, "--command-timeout", "5s", ...args], {
          input: args[0] === "txn" ? "\nput k x\n\n\n" : "",
        });
        expect(r.code, `${args.join(" ")}: ${r.stdout}${r.stderr}`).toBe(1);
        expect(r.stderr, args.join(" ")).toContain(LEARNER_REFUSED);
      }
      // Nothing was written.
      expect((await ctl(c.endpoint(c.members[0] as ClusterMember), "get", "k", "--print-value-only")).stdout).toBe("v\n");
    });

    it("a learner refuses linearizable reads and member list", async () => {
      for (const args of [["get", "k"], ["member", "list"]]) {
        const r = await ctl(c.endpoint(learner), ...args);
        expect(r.code, args.join(" ")).toBe(1);
        expect(r.stderr, args.join(" ")).toContain(LEARNER_REFUSED);
      }
    });

    it("a learner serves serializable reads and endpoint status", async () => {
      const ep = c.endpoint(learner);
      const r = await ctl(ep, "get", "k", "--consistency=s", "--print-value-only");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("v\n");
      const st = await ctl(ep, "endpoint", "status");
      expect(st.code).toBe(0);
      expect(st.stdout).toContain(", true, "); // IS LEARNER
      const list = await ctl(c.members.slice(0, 3).map((m) => c.endpoint(m)).join(","), "member", "list");
      expect(list.stdout).toContain(`${learnerId}, started, m3, `);
    });

    it("a removed member stops by itself with exit code 0", async () => {
      const victim = c.members[2] as ClusterMember;
      const st = await ctl(c.endpoint(victim), "endpoint", "status", "-w", "fields");
      const id = BigInt(/"MemberID" : (\d+)/.exec(st.stdout)?.[1] as string).toString(16);
      const rm = await ctl(c.endpoint(c.members[0] as ClusterMember), "member", "remove", id);
      expect(rm.code).toBe(0);
      const code = await Promise.race([victim.exited, new Promise((r) => setTimeout(() => r("still running"), 15_000))]);
      expect(code, readFileSync(victim.logFile, "utf8")).toBe(0);
      expect(readFileSync(victim.logFile, "utf8")).toContain("the member has been permanently removed from the cluster");
      // The rest goes on (after an election, if the removed member was the leader).
      await until(async () => ((await ctl(c.endpoint(c.members[0] as ClusterMember), "put", "after", "removal")).code === 0 ? true : undefined));
    });
  });
}
