/**
 * @etcd-ts/recorder records the history of a mixed workload against any etcd endpoints —
 * every operation with its invocation and response time and its result or unknown outcome,
 * and every watch response — in @etcd-ts/linearizability's History format, for its checkers.
 * Used by the robustness runs and by `etcdctl-ts check linearizability`.
 */
export { Clock } from "./clock.js";
export { Rng } from "./random.js";
export { Workload, channelOptions, endpointTarget, prefixEnd, type WorkloadOptions, type WorkloadStats } from "./workload.js";
export { Watchers, type WatcherOptions } from "./watchers.js";
export { recordPrefixRead, type ReadOptions } from "./final_read.js";
export { num, kvFrom, eventFrom } from "./convert.js";
