/**
 * @etcd-ts/bench benchmarks etcd-ts against the real etcd, side by side; `npm run bench`
 * runs main.js. These exports are the pieces main.js is built from.
 */
export { AUTH_SUFFIX, DEFAULTS, parseArgs, parseServer, splitCommand, USAGE, type BenchOptions } from "./args.js";
export { AUTH_PASSWORD, AUTH_ROLE, AUTH_USER, authenticate, enableAuth } from "./auth.js";
export {
  defaultEtcdTsCmd,
  medianRun,
  planSeconds,
  REAL_DEPS,
  runBench,
  serverEntries,
  serverSpecs,
  type BenchDeps,
  type Cluster,
  type Progress,
} from "./bench.js";
export { openChannel, type Channel, type StreamCall, type StreamHandler } from "./channel.js";
export {
  drainBoundMs,
  fillKeyspace,
  runWorkload,
  sharesFor,
  splitLoad,
  summarize,
  type LoadShare,
  type RunSpec,
  type WatchDetail,
  type WorkloadRun,
} from "./generator.js";
export {
  grpcFrame,
  H2Connection,
  MessageReader,
  requestHeaderBlock,
  type H2Callback,
  type H2ResponseCallback,
  type H2Stream,
  type H2StreamHandler,
} from "./h2-client.js";
export { grantedLease, LeaseIdLog, leasePutCaller, type LeaseCounts } from "./lease-put.js";
export { LatencyHistogram, type HistogramSnapshot } from "./histogram.js";
export { ClosedLoop, RandomSource, SequentialSource, type LoopResult, type RequestSource, type UnaryCaller } from "./loop.js";
export {
  computeAuthCosts,
  computeRatios,
  formatReport,
  type AuthCost,
  type BenchReport,
  type Ratio,
  type ServerResult,
  type WorkloadResult,
} from "./report.js";
export type { Transport } from "./protocol.js";
export {
  benchKey,
  benchValue,
  encodeLeaseGrant,
  encodePrefixedPuts,
  encodeRequests,
  encodeWatchCreate,
  prefixedKey,
  type RequestShape,
} from "./requests.js";
export {
  DEFAULT_RANGE_ALL_MB,
  DEFAULT_RANGE_ALL_VALUE_SIZE,
  prepareRangeAll,
  rangeAllCall,
  runRangeAllWorkload,
  scanRangeResponse,
  type RangeAllDetail,
  type RangeAllPrep,
  type RangeScan,
} from "./range_all.js";
export {
  killAllSync,
  memberFlags,
  memberNames,
  RunningCluster,
  ServerUnavailable,
  startCluster,
  type MemberAddr,
  type ServerEntry,
  type ServerKind,
  type ServerSpec,
} from "./servers.js";
export {
  DEFAULT_SNAPSHOT_MB,
  DEFAULT_SNAPSHOT_VALUE_SIZE,
  prepareSnapshot,
  runSnapshotWorkload,
  snapshotCall,
  SnapshotScan,
  type SnapshotDetail,
  type SnapshotPrep,
} from "./snapshot.js";
export { DeliveryLedger, WatchFanout, WatchResponseScan, type DeliveryTally, type WatchCounts } from "./watch.js";
export { DEFAULT_WORKLOADS, parseWorkload, type KvOp, type Op, type Workload } from "./workload.js";
