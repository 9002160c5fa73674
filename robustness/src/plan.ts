import { join } from "node:path";
import type { Args } from "./args.js";
import { NET_FAULTS, type FaultKind, type ScheduleOptions } from "./faults.js";
import { NetNs } from "./netns.js";
import { Rng } from "@etcd-ts/recorder";
import type { RunOptions } from "./run.js";

let netns: boolean | undefined;
/** netnsAvailable asks once whether network namespaces can be made here. */
function netnsAvailable(): boolean {
  netns ??= NetNs.available();
  return netns;
}

/** schedule is the timing of a fault kind: crashes and pauses hold long enough for an election, link faults vary more. */
export function schedule(kind: FaultKind, electionMs: number): ScheduleOptions {
  switch (kind) {
    case "kill":
    case "kill-leader":
    case "failpoint":
      return { kind, holdMin: 200, holdMax: 2 * electionMs, gapMin: 1000, gapMax: 2000 };
    case "replace":
      return { kind, holdMin: 500, holdMax: 1500, gapMin: 1000, gapMax: 2000 };
    case "pause":
    case "pause-leader":
      return { kind, holdMin: electionMs / 2, holdMax: 3 * electionMs, gapMin: 1000, gapMax: 2000 };
    default:
      return { kind, holdMin: 500, holdMax: 4 * electionMs, gapMin: 500, gapMax: 2000 };
  }
}

/** planRun derives run i's options from the flags: its seed, and from the seed its cluster size and fault kind. */
export function planRun(a: Args, i: number, kind: "etcd-ts" | "etcd"): RunOptions {
  const seed = a.seed + i;
  const rng = new Rng(seed ^ 0x5eed);
  let faults = kind === "etcd" ? a.faults.filter((f) => f !== "failpoint") : a.faults;
  if (!netnsAvailable()) {
    const without = faults.filter((f) => !NET_FAULTS.includes(f));
    if (without.length === 0 && faults.length > 0) throw new Error("robustness: the net-* faults need root and iproute2 (ip netns)");
    faults = without;
  }
  const fault = faults.length > 0 ? rng.pick(faults) : "none";
  let size = rng.pick(a.members);
  // Crashing the only member of a 1-member cluster stops the run; its faults are crashes and pauses.
  const f: FaultKind = size === 1 && !["kill", "kill-leader", "pause", "pause-leader", "failpoint", "none"].includes(fault) ? "kill" : fault;
  if (size < 1) size = 1;
  return {
    kind,
    seed,
    size,
    durationMs: a.durationMs,
    schedule: schedule(f, a.electionMs),
    clients: a.clients,
    watchers: a.watchers,
    keys: a.keys,
    leases: true,
    txn: true,
    mix: "full",
    netns: NET_FAULTS.includes(f),
    opTimeoutMs: a.opTimeoutMs,
    heartbeatMs: a.heartbeatMs,
    electionMs: a.electionMs,
    // Half the runs take snapshots every 100 entries, so members that fall behind are caught
    // up by snapshot and the snapshot paths (and their failpoints) are exercised.
    ...(a.snapshotCount !== undefined ? { snapshotCount: a.snapshotCount } : rng.next() < 0.5 ? { snapshotCount: 100 } : {}),
    dir: join(a.dir, `${kind}-seed-${seed}`),
    keep: a.keep,
    ...(a.staleReads ? { env: { ETCD_TS_UNSAFE_STALE_READS: "1" } } : {}),
    extraArgs: a.extraArgs,
    check: true,
    checkTimeoutMs: 60_000,
  };
}

/**
 * planAvailability is the availability comparison's run for one server: the schedule
 * (one random member's peer port blackholed inbound for 4 s every 3-5 s), 8 clients doing puts
 * and linearizable gets on 4 keys, the same seed for both servers.
 */
export function planAvailability(a: Args, kind: "etcd-ts" | "etcd"): RunOptions {
  const fault = a.faults.length === 1 && a.faults[0] !== undefined ? a.faults[0] : "blackhole-in";
  return {
    ...planRun(a, 0, kind),
    size: a.members[0] ?? 3,
    schedule: { kind: fault, holdMin: 4000, holdMax: 4000, gapMin: 3000, gapMax: 5000 },
    keys: a.keys,
    leases: false,
    txn: false,
    mix: "simple",
    netns: NET_FAULTS.includes(fault),
    watchers: 0,
    check: true,
  };
}
