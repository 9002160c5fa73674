import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Etcd } from "@etcd-ts/client";
import { freePort, until } from "@etcd-ts/test-kit";
import { afterAll, describe, it } from "vitest";
import { TestCluster, type ClusterMember } from "./harness/cluster.js";
import { TcpProxy } from "./harness/proxy.js";

/**
 * The lock and election recipes of @etcd-ts/client under faults, on 3-member clusters of
 * etcd-ts and of the real etcd: three client processes contend for a lock and three for an
 * election (harness/recipe_contender.mjs), each through proxies of its own in front of every
 * member, and each holder makes fenced writes (a txn guarded by its key's create revision, the
 * fencing revision the library hands out). Meanwhile: the cluster's leader is killed with
 * SIGKILL and restarted; the holders are paused with SIGSTOP past their lease's TTL; the
 * holders are cut off from every member (their connections blackholed, nothing lost).
 *
 * Checked from etcd's own history, not the clients' word: every write to the fenced key was
 * made by the holder etcd recorded at that revision (the lowest create revision under the
 * recipe's prefix equals the write's fence), and fences never go back (no two holders' writes
 * interleave). The faults must also bite: the lock and the election change hands while a
 * holder is paused or cut off, stale holders' own writes are refused by the fence, and both
 * recipes make progress after every fault.
 */

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "harness", "recipe_contender.mjs");
/** TTL_S is the contenders' lease TTL, in seconds. */
const TTL_S = 2;
/** WRITES is how many fenced writes a holder makes (150 ms apart) before it lets go. */
const WRITES = 5;
/** OUTAGE_MS is how long a holder stays paused or cut off: well past its lease's TTL. */
const OUTAGE_MS = TTL_S * 1000 + 3000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** ContenderEvent is one line a contender prints. */
interface ContenderEvent {
  id: string;
  t: number;
  ev: "holding" | "wrote" | "fenced" | "write-error" | "released" | "error";
  fence?: string;
  seq?: number;
  msg?: string;
}

type Mode = "lock" | "elect";

/** Contender is one client process and the proxies it reaches the members through. */
interface Contender {
  id: string;
  mode: Mode;
  proc: ChildProcess;
  proxies: TcpProxy[];
  events: ContenderEvent[];
  stderr: string;
}

/** RECIPES: the name each mode's contenders use, and the prefix their keys live under. */
const RECIPES: Record<Mode, { name: string; prefix: string }> = {
  lock: { name: "L", prefix: "L/lock/" },
  elect: { name: "E", prefix: "E/election/" },
};

async function startContender(c: TestCluster, mode: Mode, id: string): Promise<Contender> {
  const proxies = await Promise.all(c.members.map(async (m) => TcpProxy.start(await freePort(), m.clientPort)));
  const endpoints = proxies.map((p) => `127.0.0.1:${p.port}`).join(",");
  const proc = spawn(process.execPath, [WORKER, mode, RECIPES[mode].name, endpoints, id, String(TTL_S), String(WRITES)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const k: Contender = { id, mode, proc, proxies, events: [], stderr: "" };
  let partial = "";
  proc.stdout?.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) if (l !== "") k.events.push(JSON.parse(l) as ContenderEvent);
  });
  proc.stderr?.on("data", (d: Buffer) => (k.stderr += d.toString()));
  return k;
}

/** holderOf waits for the contender of a mode that holds now: its last event is a grant or a write under it. */
async function holderOf(cs: Contender[], mode: Mode): Promise<Contender> {
  return until(
    async () => {
      for (const k of cs.filter((x) => x.mode === mode)) {
        const last = k.events.at(-1);
        if (last !== undefined && (last.ev === "holding" || (last.ev === "wrote" && (last.seq ?? 0) < WRITES - 2))) return k;
      }
      return undefined;
    },
    20_000,
    { intervalMs: 20 },
  );
}

/** FencedWrite is one write to a recipe's fenced key, read back from etcd's history. */
interface FencedWrite {
  revision: bigint;
  id: string;
  fence: bigint;
}

/** historyOf reads every version of a recipe's fenced key, in revision order, with a watch from revision 1. */
async function historyOf(etcd: Etcd, mode: Mode): Promise<FencedWrite[]> {
  const key = `${RECIPES[mode].name}/fenced`;
  const last = await etcd.getKv(key);
  if (last === undefined) return [];
  const out: FencedWrite[] = [];
  const w = etcd.watch(key, { startRevision: 1n });
  try {
    for await (const ev of w) {
      const [id, fence] = ev.kv.string().split(":") as [string, string];
      out.push({ revision: ev.kv.modRevision, id, fence: BigInt(fence) });
      if (ev.kv.modRevision >= last.modRevision) break;
    }
  } finally {
    w.close();
  }
  return out;
}

// Both servers' runs go at once (it.concurrent): they mostly wait through their outages, and
// every bound they check is generous against a loaded machine (outages of TTL + 3 s, 3 s
// write deadlines), so sharing the cores costs neither run its meaning, and CI half the time.
describe("lock and election of @etcd-ts/client under faults (3 members)", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const f of cleanups) await f();
  });

  for (const kind of ["etcd-ts", "etcd"] as const) {
    it.concurrent(`${kind}: never has two holders: each fenced write is by etcd's holder at its revision, fences never go back, across a leader kill, holders paused past their TTL and holders cut off`, async ({ expect }) => {
      const contenders: Contender[] = [];
      const cluster = await TestCluster.start(kind, 3);
      cleanups.push(async () => {
        for (const k of contenders) {
          k.proc.kill("SIGCONT");
          k.proc.kill("SIGKILL");
          for (const p of k.proxies) await p.close();
        }
        await cluster.destroy();
      });
      const direct = new Etcd({ endpoints: cluster.members.map((m) => cluster.endpoint(m)) });
      try {
        for (const mode of ["lock", "elect"] as const) for (let i = 0; i < 3; i++) contenders.push(await startContender(cluster, mode, `${mode}${i}`));
        await sleep(3000);

        /** heals records when each fault ended: both recipes must make progress after it. */
        const heals: Array<{ fault: string; t: number }> = [];
        /**
         * stale are the holders a fault hit, with their fence, when the outage began, and the
         * cluster's revisions at its start and end (read just before and just after).
         */
        const stale: Array<{ k: Contender; fault: string; fence: string; t: number; fromRev: bigint; toRev: bigint }> = [];
        const revisionNow = async (): Promise<bigint> => (await direct.range("probe", { timeoutMs: 10_000 })).revision;
        const fenceOf = (k: Contender): string => [...k.events].reverse().find((e) => e.fence !== undefined)?.fence ?? "";

        // 1. The leader is killed with SIGKILL, and restarted 3 s later.
        const leader = await until(async () => {
          for (const m of cluster.members) {
            const st = await direct.client.status(cluster.endpoint(m), { timeoutMs: 1000 }).catch(() => undefined);
            if (st !== undefined && st.leader === st.header?.memberId) return m;
          }
          return undefined;
        }, 10_000);
        await cluster.kill(leader as ClusterMember);
        await sleep(3000);
        await cluster.spawn(leader);
        await cluster.waitHealthy(leader, 30_000);
        heals.push({ fault: "leader kill", t: Date.now() });
        await sleep(2000);

        // 2. Each recipe's holder is paused (SIGSTOP) past its lease's TTL.
        const paused = await Promise.all((["lock", "elect"] as const).map((mode) => holderOf(contenders, mode)));
        const pausedAt = Date.now();
        for (const k of paused) k.proc.kill("SIGSTOP");
        const pausedFences = paused.map(fenceOf);
        const pausedRev = await revisionNow();
        await sleep(OUTAGE_MS);
        const resumedRev = await revisionNow();
        for (const k of paused) k.proc.kill("SIGCONT");
        const resumed = Date.now();
        paused.forEach((k, i) => stale.push({ k, fault: "SIGSTOP", fence: pausedFences[i] ?? "", t: pausedAt, fromRev: pausedRev, toRev: resumedRev }));
        heals.push({ fault: "SIGSTOP", t: resumed });
        await sleep(3000);

        // 3. Each recipe's holder is cut off from every member (blackholed, nothing lost).
        const cut = await Promise.all((["lock", "elect"] as const).map((mode) => holderOf(contenders, mode)));
        const cutFences = cut.map(fenceOf);
        const cutAt = Date.now();
        for (const k of cut) for (const p of k.proxies) p.blackhole();
        const cutRev = await revisionNow();
        await sleep(OUTAGE_MS);
        const healRev = await revisionNow();
        for (const k of cut) for (const p of k.proxies) p.heal();
        const healed = Date.now();
        cut.forEach((k, i) => stale.push({ k, fault: "blackhole", fence: cutFences[i] ?? "", t: cutAt, fromRev: cutRev, toRev: healRev }));
        heals.push({ fault: "blackhole", t: healed });
        await sleep(4000);

        for (const k of contenders) k.proc.kill("SIGTERM");
        await Promise.all(contenders.map((k) => (k.proc.exitCode !== null ? undefined : Promise.race([new Promise((r) => k.proc.once("exit", r)), sleep(8000)]))));

        const summary: string[] = [];
        for (const mode of ["lock", "elect"] as const) {
          const { prefix } = RECIPES[mode];
          const writes = await historyOf(direct, mode);
          // Every write was made by the holder etcd recorded at its revision.
          for (const w of writes) {
            const owner = await direct.range(prefix, { prefix: true, revision: w.revision, sort: { target: "createRevision", order: "ascend" }, limit: 1 });
            const ownerRev = owner.kvs[0]?.createRevision;
            expect(ownerRev, `${mode}: the write at revision ${w.revision} by ${w.id} (fence ${w.fence}) while etcd's holder had create revision ${ownerRev}`).toBe(w.fence);
          }
          // Fences never go back: a holder's writes never come after a newer holder's.
          for (let i = 1; i < writes.length; i++) {
            const [a, b] = [writes[i - 1] as FencedWrite, writes[i] as FencedWrite];
            expect(b.fence >= a.fence, `${mode}: fence ${b.fence} (${b.id}) written at revision ${b.revision} after fence ${a.fence} (${a.id})`).toBe(true);
          }
          const fences = new Set(writes.map((w) => w.fence));
          expect(fences.size, `${mode}: holders that wrote`).toBeGreaterThanOrEqual(6);
          // Progress after every fault, seen in the contenders' acknowledged writes.
          for (const h of heals) {
            const after = contenders.filter((k) => k.mode === mode).some((k) => k.events.some((e) => e.ev === "wrote" && e.t > h.t));
            expect(after, `${mode}: a write after the ${h.fault} ended`).toBe(true);
          }
          // The faults bit: the recipe changed hands while its holder was out: another holder,
          // with a newer fence, wrote at a revision inside the outage.
          for (const s of stale.filter((x) => x.k.mode === mode)) {
            const during = writes.some((w) => w.fence > BigInt(s.fence) && w.id !== s.k.id && w.revision > s.fromRev && w.revision <= s.toRev);
            expect(during, `${mode}: someone else held while ${s.k.id} (fence ${s.fence}) was out (${s.fault}, revisions ${s.fromRev}..${s.toRev})`).toBe(true);
          }
          const refused = stale
            .filter((x) => x.k.mode === mode)
            .reduce((n, s) => n + s.k.events.filter((e) => e.ev === "fenced" && e.fence === s.fence && e.t >= s.t).length, 0);
          const after = stale
            .filter((x) => x.k.mode === mode)
            .map((s) => `${s.fault} ${s.k.id}@${s.fence}: ${s.k.events.filter((e) => e.t >= s.t).slice(0, 6).map((e) => `${e.ev}${e.fence !== undefined ? `@${e.fence}` : ""}${e.msg !== undefined ? `(${e.msg})` : ""}`).join(",")}`);
          summary.push(`${mode}: ${writes.length} fenced writes by ${fences.size} holders; ${refused} writes of stale holders refused by the fence (${after.join("; ")})`);
        }
        console.log(`lock_election_faults (${kind}): ${summary.join("; ")}`);
        // The stale holders did try to write after each kind of outage, and the fence refused
        // them (one holder may run out of writes while out, hence per fault, not per holder).
        for (const fault of ["SIGSTOP", "blackhole"]) {
          const refusedAfter = stale
            .filter((x) => x.fault === fault)
            .reduce((n, s) => n + s.k.events.filter((e) => e.ev === "fenced" && e.fence === s.fence && e.t >= s.t).length, 0);
          expect(refusedAfter, `writes of the holders stale after the ${fault} that the fence refused`).toBeGreaterThanOrEqual(1);
        }
      } catch (e) {
        for (const k of contenders) {
          console.error(`${k.id}: last events ${JSON.stringify(k.events.slice(-6))}`);
          if (k.stderr !== "") console.error(`${k.id} stderr:\n${k.stderr.slice(-2000)}`);
        }
        throw e;
      } finally {
        direct.close();
      }
    }, 180_000);
  }
});
