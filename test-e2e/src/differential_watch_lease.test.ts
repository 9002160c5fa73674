import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memberIds } from "./harness/ids.js";
import { Member } from "./harness/member.js";
import { normalize } from "./harness/normalize.js";
import { REAL_ETCDCTL, run } from "@etcd-ts/test-kit";

/**
 * The differential test of the watch, lease, lock, elect and make-mirror commands: the same
 * real-etcdctl steps against the real etcd 3.4 and against etcd-ts (each a fresh member)
 * must print the same and exit with the same code. Besides member and cluster IDs, what
 * legitimately differs is masked: lease IDs (chosen by each server) and the seconds a lease
 * has left (they tick while the steps run). Commands that run until stopped (watch, elect
 * -l, make-mirror) are stopped after a fixed time, the same for both servers.
 */

type Step = { args: string[]; input?: string; stopAfterMs?: number; env?: NodeJS.ProcessEnv; withCandidate?: boolean };

/** LEASE marks where a step uses the lease ID granted by the last `lease grant` step. */
const LEASE = "<LEASE>";

const STEPS: Step[] = [
  // Watch history, in every form the command has.
  { args: ["put", "wa", "1"] },
  { args: ["put", "wa", "2"] },
  { args: ["put", "wb", "3"] },
  { args: ["del", "wa"] },
  { args: ["watch", "wa", "--rev", "1"], stopAfterMs: 1500 },
  { args: ["watch", "wa", "--rev", "1", "--prev-kv"], stopAfterMs: 1500 },
  { args: ["watch", "w", "--prefix", "--rev", "2"], stopAfterMs: 1500 },
  { args: ["watch", "wa", "wz", "--rev", "1", "-w", "json"], stopAfterMs: 1500 },
  { args: ["watch", "w", "--prefix", "--rev", "1", "-w", "fields"], stopAfterMs: 1500 },
  { args: ["watch", "w", "--prefix", "--rev", "1", "--hex"], stopAfterMs: 1500 },
  { args: ["watch", "wa", "--rev", "1", "--", "sh", "-c", 'echo "$ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'], stopAfterMs: 1500 },
  // One watch per interactive session: etcd orders the responses of two watchers of a stream arbitrarily.
  { args: ["watch", "-i"], input: "watch wa --rev 1 --prev-kv\n", stopAfterMs: 1500 },
  { args: ["compaction", "3"] },
  { args: ["watch", "wa", "--rev", "1"], stopAfterMs: 1500 },
  { args: ["watch", "wa", "--rev", "3"], stopAfterMs: 1500 },
  // Leases.
  { args: ["lease", "grant", "100"] },
  { args: ["put", "lk1", "v", "--lease", LEASE] },
  { args: ["put", "lk2", "v", `--lease=${LEASE}`] },
  { args: ["put", "lk1", "v2", "--ignore-lease"] },
  { args: ["get", "lk1", "-w", "json"] },
  { args: ["lease", "timetolive", LEASE] },
  { args: ["lease", "timetolive", LEASE, "--keys"] },
  { args: ["lease", "timetolive", LEASE, "--keys", "-w", "json"] },
  { args: ["lease", "list"] },
  { args: ["lease", "list", "-w", "json"] },
  { args: ["lease", "keep-alive", "--once", LEASE] },
  { args: ["lease", "keep-alive", "--once", LEASE, "-w", "json"] },
  { args: ["lease", "revoke", LEASE] },
  { args: ["get", "lk", "--prefix"] },
  { args: ["lease", "revoke", LEASE] },
  { args: ["lease", "timetolive", LEASE] },
  { args: ["lease", "keep-alive", "--once", LEASE] },
  { args: ["put", "lk3", "v", "--lease", LEASE] },
  { args: ["lease", "timetolive", "1234"] },
  { args: ["lease", "revoke", "1234"] },
  { args: ["lease", "grant", "9000000001"] },
  { args: ["lease", "grant", "1"] },
  { args: ["lease", "timetolive", LEASE] },
  { args: ["lease", "grant", "100", "-w", "json"] },
  // Locks and elections (leases + txn + watch).
  { args: ["lock", "mylock", "sh", "-c", 'echo "locked $ETCD_LOCK_KEY"'] },
  { args: ["lock", "mylock", "--ttl", "5", "echo", "again"] },
  { args: ["elect", "-l", "myelection"], stopAfterMs: 1000, withCandidate: true },
  // make-mirror onto the same server, under another prefix.
  { args: ["put", "src/a", "1"] },
  { args: ["put", "src/b", "2"] },
  { args: ["make-mirror", "--prefix", "src/", "--dest-prefix", "dst/", "<SELF>"], stopAfterMs: 2000 },
  { args: ["get", "dst/", "--prefix"] },
];

/** runStep runs one etcdctl step, stopping a long-running command after stopAfterMs. */
async function runStep(endpoint: string, step: Step, lease: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const args = ["--endpoints", endpoint, ...step.args.map((a) => a.split(LEASE).join(lease).split("<SELF>").join(endpoint))];
  if (step.stopAfterMs === undefined) return run(REAL_ETCDCTL, args, step.input === undefined ? {} : { input: step.input });
  return new Promise((resolve, reject) => {
    // Interactive watch keeps stdin open, as a terminal would.
    const p = spawn(REAL_ETCDCTL, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...step.env } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.stdin.on("error", () => undefined);
    if (step.input !== undefined) p.stdin.write(step.input);
    const t = setTimeout(() => p.kill("SIGTERM"), step.stopAfterMs);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(t);
      p.stdin.destroy();
      resolve({ stdout, stderr, code });
    });
  });
}

/**
 * maskLeases hides lease IDs (hex, padded or not as Go prints them in lock and election keys,
 * and decimal) and the seconds a lease has left, and sorts a lease's listed keys.
 */
function maskLeases(text: string, leases: readonly string[]): string {
  let out = text;
  for (const hex of leases) {
    out = out.split(hex).join("<L>").split(BigInt(`0x${hex}`).toString()).join("<L>");
  }
  return out
    // etcd lists a lease's keys in map order (random); compare them as sets.
    .replace(/attached keys\(\[([^\]]*)\]\)/g, (_, keys: string) => `attached keys([${keys.split(" ").sort().join(" ")}])`)
    .replace(/"keys":\[([^\]]*)\]/g, (_, keys: string) => `"keys":[${keys.split(",").sort().join(",")}]`)
    .replace(/remaining\(\d+s\)/g, "remaining(Ns)")
    .replace(/"TTL":\d+/g, '"TTL":N')
    .replace(/"ttl":\d+/g, '"ttl":N')
    .replace(/mylock\/[0-9a-f]+/g, "mylock/<L>")
    .replace(/myelection\/[0-9a-f]+/g, "myelection/<L>");
}

interface Seen {
  out: string;
  err: string;
  code: number | null;
}

/** play runs every step against one member and returns what each printed, masked. */
async function play(m: Member): Promise<Seen[]> {
  const ids = await memberIds(m.endpoint);
  const leases: string[] = [];
  let candidate: ReturnType<typeof spawn> | undefined;
  try {
    const seen: Seen[] = [];
    for (const step of STEPS) {
      if (step.withCandidate === true) {
        // A candidate holds the election while the step observes it.
        candidate = spawn(REAL_ETCDCTL, ["--endpoints", m.endpoint, "elect", "myelection", "p1"], { stdio: "ignore" });
        const deadline = Date.now() + 10_000;
        while ((await run(REAL_ETCDCTL, ["--endpoints", m.endpoint, "get", "myelection", "--prefix", "--keys-only"])).stdout === "") {
          if (Date.now() > deadline) throw new Error("the candidate never took the election");
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const r = await runStep(m.endpoint, step, leases[leases.length - 1] ?? "0");
      const granted = /^lease ([0-9a-f]{16}) granted/.exec(r.stdout);
      if (granted?.[1] !== undefined) leases.push(granted[1]);
      const json = /"ID":(\d+)/.exec(r.stdout);
      if (step.args[1] === "grant" && step.args.includes("json") && json?.[1] !== undefined) leases.push(BigInt(json[1]).toString(16).padStart(16, "0"));
      seen.push({ out: maskLeases(normalize(r.stdout, ids), leases), err: maskLeases(normalize(r.stderr, ids), leases), code: r.code });
    }
    return seen;
  } finally {
    candidate?.kill("SIGTERM");
  }
}

describe("differential: real etcdctl's watch, lease, lock, elect and make-mirror against etcd 3.4 and etcd-ts", () => {
  const members: Member[] = [];
  beforeAll(async () => {
    for (const kind of ["etcd", "etcd-ts"] as const) {
      const m = await Member.create({ kind });
      await m.start();
      members.push(m);
    }
  });
  afterAll(async () => {
    for (const m of members) await m.destroy();
  });

  it("prints the same for every step", async () => {
    const [etcd, ts] = members as [Member, Member];
    const [a, b] = await Promise.all([play(etcd), play(ts)]);
    for (let i = 0; i < STEPS.length; i++) {
      const label = `etcdctl ${(STEPS[i] as Step).args.join(" ")}`;
      expect({ step: label, ...(b[i] as Seen) }).toEqual({ step: label, ...(a[i] as Seen) });
    }
  }, 120_000);
});
