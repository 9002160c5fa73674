import type { Cluster, Member } from "./cluster.js";
import type { NetNs } from "./netns.js";
import type { FaultProxy, LinkFault } from "./proxy.js";
import type { Rng } from "@etcd-ts/recorder";

/**
 * FaultKind is the one kind of fault a run injects, again and again on random members:
 * - "kill": SIGKILL a member, restart it on its data directory;
 * - "kill-leader": the same, always on the current leader;
 * - "pause" / "pause-leader": SIGSTOP a member for a while, then SIGCONT;
 * - a LinkFault on one member's peer proxy ("blackhole-in" makes a member deaf to its peers);
 * - "failpoint": arm one of etcd-ts's crash failpoints on a member, wait for the crash, restart;
 * - "net-partition" / "net-partition-leader": drop every packet between a member and its
 *   peers, both ways (its clients still reach it), in network namespaces;
 * - "defrag": defragment a member's backend again and again while the clients run (etcd
 *   blocks writes during a defrag; etcd-ts must neither block nor lose anything);
 * - "replace": remove a member from the cluster, wipe it, add it back empty (MemberRemove,
 *   MemberAdd, --initial-cluster-state existing), as an operator replaces a broken machine;
 * - "none": no fault (a baseline).
 */
export type FaultKind =
  | "none"
  | "kill"
  | "kill-leader"
  | "pause"
  | "pause-leader"
  | "failpoint"
  | "replace"
  | "defrag"
  | "net-partition"
  | "net-partition-leader"
  | Exclude<LinkFault, "none">;

/** NET_FAULTS act on packets between network namespaces (root only); the cluster runs in namespaces for them. */
export const NET_FAULTS: readonly FaultKind[] = ["net-partition", "net-partition-leader"];

export const FAULT_KINDS: readonly FaultKind[] = ["none", "kill", "kill-leader", "pause", "pause-leader", "blackhole-in", "blackhole-out", "blackhole-both", "partition", "delay", "failpoint", "replace", "defrag", "net-partition", "net-partition-leader"];

/** FAILPOINTS are the crash points a "failpoint" run arms (etcd-ts's names, see apps/server/src/failpoint.ts). */
export const FAILPOINTS: readonly string[] = ["raftBeforeSave", "raftAfterSave", "beforeCommit", "afterCommit", "raftBeforeApply", "raftAfterApply", "raftBeforeLeaderSend", "raftBeforeFollowerSend", "raftBeforeSaveSnap", "raftAfterSaveSnap", "raftAfterWALRelease", "raftBeforeApplySnap", "raftMidApplySnap", "raftAfterApplySnap", "beforeApplyOneEntryNormal"];

/** ScheduleOptions time a fault schedule, in milliseconds: each fault holds for [holdMin, holdMax], then [gapMin, gapMax] of calm. */
export interface ScheduleOptions {
  kind: FaultKind;
  holdMin: number;
  holdMax: number;
  gapMin: number;
  gapMax: number;
}

/** FaultLog is what a schedule did, for the run's report. */
export interface FaultEvent {
  /** at is when the fault was injected, ms after the schedule started. */
  at: number;
  kind: FaultKind;
  member: string;
  detail?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * runSchedule injects faults of one kind until `until` (a Date.now() deadline), then heals
 * everything and makes sure every member runs again. The random choices come from rng, so a
 * seed reproduces the schedule (member picks by leader depend on the cluster's own timing).
 */
export async function runSchedule(c: Cluster, rng: Rng, o: ScheduleOptions, until: number, log: FaultEvent[]): Promise<void> {
  const t0 = Date.now();
  await sleep(rng.int(o.gapMin, o.gapMax) / 2);
  while (o.kind !== "none" && Date.now() < until) {
    const hold = rng.int(o.holdMin, o.holdMax);
    let m: Member | undefined;
    if (o.kind === "kill-leader" || o.kind === "pause-leader" || o.kind === "net-partition-leader") {
      const l = await c.leader();
      m = l === undefined ? undefined : c.members[l];
    } else {
      m = rng.pick(c.members);
    }
    if (m === undefined) {
      await sleep(200);
      continue;
    }
    const ev: FaultEvent = { at: Date.now() - t0, kind: o.kind, member: m.name };
    log.push(ev);
    await inject(c, m, o.kind, hold, rng, ev);
    await healAll(c);
    await sleep(rng.int(o.gapMin, o.gapMax));
  }
  // A "none" run still lasts its whole duration (a baseline to compare the faulty runs with).
  while (Date.now() < until) await sleep(Math.min(200, until - Date.now()));
  await healAll(c);
}

async function inject(c: Cluster, m: Member, kind: FaultKind, hold: number, rng: Rng, ev: FaultEvent): Promise<void> {
  switch (kind) {
    case "none":
      return;
    case "kill":
    case "kill-leader":
      await c.kill(m);
      await sleep(hold);
      c.spawn(m);
      return;
    case "pause":
    case "pause-leader":
      c.pause(m);
      await sleep(hold);
      c.resume(m);
      return;
    case "failpoint": {
      const name = rng.pick(FAILPOINTS);
      ev.detail = name;
      if (!c.running(m)) return;
      await c.failpoint(m, name, "panic");
      // A failpoint fires only when its code path runs; give it the hold time, then disarm.
      const deadline = Date.now() + Math.max(hold, 3000);
      while (c.running(m) && Date.now() < deadline) await sleep(50);
      if (c.running(m)) {
        ev.detail += " (not reached)";
        await c.failpoint(m, name, undefined).catch(() => undefined);
        return;
      }
      await sleep(200);
      c.spawn(m);
      return;
    }
    case "replace":
      if (!(await c.replace(m))) ev.detail = "not replaced (the cluster did not accept the removal in time)";
      await sleep(hold);
      return;
    case "defrag": {
      const deadline = Date.now() + hold;
      let done = 0;
      let failed = 0;
      while (Date.now() < deadline) {
        if (await c.defragment(m)) done++;
        else {
          failed++;
          await sleep(100); // a paused or dead member answers at once: do not spin
        }
      }
      ev.detail = `${done} defragmentations${failed > 0 ? `, ${failed} failed` : ""}`;
      return;
    }
    case "net-partition":
    case "net-partition-leader":
      netOf(c, kind).isolate(m.index);
      await sleep(hold);
      netOf(c, kind).heal();
      return;
    case "delay": {
      const p = proxyOf(m, kind);
      p.inject("delay", rng.int(50, 300));
      ev.detail = "delay";
      await sleep(hold);
      p.heal();
      return;
    }
    default: {
      const p = proxyOf(m, kind);
      p.inject(kind);
      await sleep(hold);
      p.heal();
    }
  }
}

function netOf(c: Cluster, kind: FaultKind): NetNs {
  if (c.net === undefined) throw new Error(`robustness: fault ${kind} needs a cluster in network namespaces`);
  return c.net;
}

function proxyOf(m: Member, kind: FaultKind): FaultProxy {
  if (m.proxy === undefined) throw new Error(`robustness: fault ${kind} needs peer-port proxies (not available in network namespaces)`);
  return m.proxy;
}

/** healAll heals every proxy and the network, resumes paused members and restarts dead ones. */
export async function healAll(c: Cluster): Promise<void> {
  c.net?.heal();
  for (const m of c.members) {
    m.proxy?.heal();
    c.resume(m);
    if (!c.running(m)) c.spawn(m);
  }
}
