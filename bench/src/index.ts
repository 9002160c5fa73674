/**
 * @etcd-ts/bench benchmarks etcd-ts against the real etcd, side by side; `npm run bench`
 * runs main.js. These exports are the pieces main.js is built from.
 */
export { DEFAULTS, parseArgs, splitCommand, USAGE, type BenchOptions } from "./args.js";
export { defaultEtcdTsCmd, medianRun, planSeconds, runBench, serverSpecs, type Progress } from "./bench.js";
export { fillKeyspace, runWorkload, splitLoad, summarize, type LoadShare, type RunSpec, type WorkloadRun } from "./generator.js";
export { grpcFrame, H2Connection, requestHeaderBlock, type H2Callback } from "./h2-client.js";
export { LatencyHistogram, type HistogramSnapshot } from "./histogram.js";
export { ClosedLoop, RandomSource, SequentialSource, type LoopResult, type RequestSource, type UnaryCaller } from "./loop.js";
export { computeRatios, formatReport, type BenchReport, type Ratio, type ServerResult, type WorkloadResult } from "./report.js";
export type { Transport } from "./protocol.js";
export { benchKey, benchValue, encodeRequests, type RequestShape } from "./requests.js";
export {
  killAllSync,
  memberFlags,
  memberNames,
  RunningCluster,
  ServerUnavailable,
  startCluster,
  type MemberAddr,
  type ServerKind,
  type ServerSpec,
} from "./servers.js";
export { DEFAULT_WORKLOADS, parseWorkload, type Op, type Workload } from "./workload.js";
