/** @etcd-ts/robustness: randomized fault runs with checked histories (see main.ts for the CLI). */
export { Cluster, type ClusterOptions, type Member } from "./cluster.js";
export { FaultProxy, type LinkFault } from "./proxy.js";
export { FAULT_KINDS, FAILPOINTS, healAll, runSchedule, type FaultKind, type FaultEvent, type ScheduleOptions } from "./faults.js";
export { runOnce, longestGap, type RunOptions, type RunReport } from "./run.js";
export { planRun, planAvailability, schedule } from "./plan.js";
export { parseArgs, duration, USAGE, type Args } from "./args.js";
