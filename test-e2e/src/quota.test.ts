import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCDCTL_TS_BIN, REAL_ETCDCTL, run, until, type RunResult } from "@etcd-ts/test-kit";
import { TestCluster, type ClusterMember } from "./harness/cluster.js";

/**
 * The backend quota, side by side on a 3-member etcd and etcd-ts cluster with
 * --quota-backend-bytes 1 MiB: filling the backend raises NOSPACE cluster-wide, writes then
 * fail with etcd's error while reads and deletes work, and compact + defrag + alarm disarm
 * bring the cluster back, with every acknowledged write still there.
 */

const QUOTA = 1024 * 1024;
const NOSPACE = "etcdserver: mvcc: database space exceeded";

async function ctl(endpoints: string, ...args: string[]): Promise<RunResult> {
  return run(REAL_ETCDCTL, ["--endpoints", endpoints, "--command-timeout", "10s", ...args]);
}

/** ctlTs runs etcdctl-ts the same way. */
async function ctlTs(endpoints: string, ...args: string[]): Promise<RunResult> {
  return run(process.execPath, [ETCDCTL_TS_BIN, "--endpoints", endpoints, "--command-timeout", "10s", ...args]);
}

describe.each(["etcd", "etcd-ts"] as const)("backend quota on a 3-member %s cluster", (kind) => {
  let c: TestCluster;
  let client: Etcd3;
  /** acked holds every small write the cluster acknowledged while it was being filled. */
  const acked = new Map<string, string>();

  beforeAll(async () => {
    c = await TestCluster.start(kind, 3, { extraArgs: ["--quota-backend-bytes", String(QUOTA)] });
    client = new Etcd3({ hosts: c.members.map((m) => `http://${c.endpoint(m)}`) });
  });
  afterAll(async () => {
    client?.close();
    await c?.destroy();
  });

  it("fills up: a write fails with NOSPACE and every member reports the alarm", async () => {
    const big = "x".repeat(16 * 1024);
    let refused: string | undefined;
    for (let i = 0; i < 2000 && refused === undefined; i++) {
      try {
        await client.put("fill").value(`${i}:${big}`);
        await client.put(`acked/${i}`).value(String(i));
        acked.set(`acked/${i}`, String(i));
      } catch (err) {
        refused = (err as Error).message;
      }
    }
    expect(refused).toContain(NOSPACE);
    expect(acked.size).toBeGreaterThan(10);
    for (const m of c.members) {
      const list = await until(async () => {
        const r = await ctl(c.endpoint(m), "alarm", "list");
        return r.code === 0 && r.stdout.includes("alarm:NOSPACE") ? r : undefined;
      });
      expect(list.stdout).toMatch(/^(memberID:\d+ alarm:NOSPACE \n)+$/);
      // etcdctl-ts prints the raised alarms as etcdctl does. etcd lists them in Go's map order,
      // which changes from call to call: the alarms are compared as sets.
      const [real, ours] = await Promise.all([ctl(c.endpoint(m), "alarm", "list"), ctlTs(c.endpoint(m), "alarm", "list")]);
      const lines = (s: string): string[] => s.split("\n").sort();
      expect({ code: ours.code, lines: lines(ours.stdout) }).toEqual({ code: real.code, lines: lines(real.stdout) });
      const [realJ, oursJ] = await Promise.all([ctl(c.endpoint(m), "alarm", "list", "-w", "json"), ctlTs(c.endpoint(m), "alarm", "list", "-w", "json")]);
      const alarms = (s: string): string[] => s.match(/\{"memberID":\d+,"alarm":\d+\}/g)?.sort() ?? [];
      expect(alarms(oursJ.stdout)).toEqual(alarms(realJ.stdout));
      expect(alarms(oursJ.stdout).length).toBeGreaterThan(0);
      expect(oursJ.stdout.replace(/\[.*\]/, "[]")).toBe(realJ.stdout.replace(/\[.*\]/, "[]"));
      const st = await ctl(c.endpoint(m), "endpoint", "status");
      expect(st.stdout).toContain("alarm:NOSPACE");
    }
  });

  it("refuses puts and txns with puts, and still serves reads and deletes", async () => {
    const put = await ctl(c.endpoints(), "put", "more", "v");
    expect(put.code).not.toBe(0);
    expect(put.stderr).toMatch(new RegExp(`(^|\n)Error: ${NOSPACE}\n$`));
    const txn = client.if("acked/0", "Value", "==", "0").then(client.put("more").value("v")).commit();
    await expect(txn).rejects.toThrow(NOSPACE);
    const readOnlyTxn = await client.if("acked/0", "Value", "==", "0").then(client.get("acked/0")).commit();
    expect(readOnlyTxn.succeeded).toBe(true);
    await expect(client.lease(60).grant()).rejects.toThrow(NOSPACE);
    const get = await ctl(c.endpoints(), "get", "acked/0", "--print-value-only");
    expect(get.stdout).toBe("0\n");
    const del = await ctl(c.endpoints(), "del", "no-such-key");
    expect(del.stdout).toBe("0\n");
  });

  it("recovers with compact, defrag --cluster and alarm disarm, and lost no acknowledged write", async () => {
    const st = await ctl(c.endpoints(), "endpoint", "status", "-w", "json");
    const rev = /"revision":(\d+)/.exec(st.stdout)?.[1];
    expect(rev).toBeDefined();
    expect((await ctl(c.endpoints(), "compact", rev as string)).stdout).toBe(`compacted revision ${rev}\n`);
    // etcdctl-ts's defrag, with the same output as etcdctl's.
    const defrag = await ctlTs(c.endpoint(c.members[0] as ClusterMember), "defrag", "--cluster");
    expect(defrag.code).toBe(0);
    for (const m of c.members) expect(defrag.stdout).toContain(`Finished defragmenting etcd member[${c.clientUrl(m)}]`);
    const disarm = await ctl(c.endpoints(), "alarm", "disarm");
    expect(disarm.stdout).toMatch(/^(memberID:\d+ alarm:NOSPACE \n)+$/);
    expect((await ctl(c.endpoints(), "alarm", "list")).stdout).toBe("");
    expect((await ctl(c.endpoints(), "put", "after", "recovery")).stdout).toBe("OK\n");
    // A fresh client: the first one's circuit breaker may still be open after the refusals.
    const fresh = new Etcd3({ hosts: c.members.map((m) => `http://${c.endpoint(m)}`) });
    try {
      const all = await fresh.getAll().prefix("acked/").strings();
      for (const [k, v] of acked) expect(all[k], k).toBe(v);
    } finally {
      fresh.close();
    }
  });
});
