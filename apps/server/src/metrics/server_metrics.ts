import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { SERVER_VERSION, type EtcdServer } from "../etcd_server.js";
import { hexId } from "../ids.js";
import { exponentialBuckets } from "./buckets.js";
import { GrpcMetrics } from "./grpc_metrics.js";
import { PeerMetrics } from "./peer_metrics.js";

/** MetricsLevel is --metrics: "extensive" adds the grpc_server_handling_seconds histograms. */
export type MetricsLevel = "basic" | "extensive";

/** DEFAULT_QUOTA_BACKEND_BYTES is etcd's default backend quota (2 GiB), reported until setQuotaBackendBytes. */
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;

/** DISK_BUCKETS are etcd's buckets for WAL fsync and backend commit latencies: 1 ms to 8.192 s. */
const DISK_BUCKETS = exponentialBuckets(0.001, 2, 14);

/** processDefaults holds prom-client's process_* and nodejs_* metrics: one set per process, shared by every member in it. */
let processDefaults: Registry | undefined;

function processRegistry(): Registry {
  if (processDefaults === undefined) {
    processDefaults = new Registry();
    collectDefaultMetrics({ register: processDefaults });
  }
  return processDefaults;
}

/**
 * counterOf is a counter that, when scraped, catches up with read(): a total the server keeps
 * itself (never decreasing). Only the difference since the last scrape is added.
 */
function counterOf(registry: Registry, name: string, help: string, read: () => number): Counter {
  let last = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (v > last) this.inc(v - last);
      last = v;
    },
  });
}

/** gaugeOf is a gauge set to read() when scraped. */
function gaugeOf(registry: Registry, name: string, help: string, read: () => number | Promise<number>): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      this.set(await read());
    },
  });
}

/**
 * ServerMetrics are one member's Prometheus metrics with etcd 3.4's names, types, help texts,
 * labels and buckets (etcdserver/metrics.go, wal/metrics.go, mvcc/metrics.go,
 * mvcc/backend/metrics.go, rafthttp/metrics.go; go-grpc-prometheus for grpc_server_*).
 * Events are counted as they happen (leader changes, fsync and commit latencies, gRPC calls,
 * peer bytes); states and totals the server keeps are read at scrape time. Each member has its
 * own registry; prom-client's process metrics are shared by the process (text() joins them).
 */
export class ServerMetrics {
  readonly registry = new Registry();
  /** grpc is the client gRPC server's CallObserver. */
  readonly grpc: GrpcMetrics;
  /** peer is the peer transport's PeerObserver. */
  readonly peer: PeerMetrics;
  private readonly quotaBackendBytes: Gauge;

  constructor(s: EtcdServer, level: MetricsLevel) {
    const r = this.registry;
    const registers = [r];
    gaugeOf(r, "etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.", () => (s.leader === 0n ? 0 : 1));
    gaugeOf(r, "etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.", () => (s.isLeader ? 1 : 0));
    const leaderChanges = new Counter({ name: "etcd_server_leader_changes_seen_total", help: "The number of leader changes seen.", registers });
    // etcd counts each newly seen leader (not the loss of one), the first election included.
    let lead = s.leader;
    if (lead !== 0n) leaderChanges.inc();
    s.onLeaderChange((l) => {
      if (l !== 0n && l !== lead) leaderChanges.inc();
      lead = l;
    });
    gaugeOf(r, "etcd_server_proposals_committed_total", "The total number of consensus proposals committed.", () => Number(s.committedIndex));
    gaugeOf(r, "etcd_server_proposals_applied_total", "The total number of consensus proposals applied.", () => Number(s.appliedIndex));
    gaugeOf(r, "etcd_server_proposals_pending", "The current number of pending proposals to commit.", () => s.proposalStats.pending);
    counterOf(r, "etcd_server_proposals_failed_total", "The total number of failed proposals seen.", () => s.proposalStats.failed);
    this.quotaBackendBytes = new Gauge({ name: "etcd_server_quota_backend_bytes", help: "Current backend storage quota size in bytes.", registers });
    this.quotaBackendBytes.set(DEFAULT_QUOTA_BACKEND_BYTES);
    new Gauge({
      name: "etcd_server_version",
      help: "Which version is running. 1 for 'server_version' label with current version.",
      labelNames: ["server_version"],
      registers,
    })
      .labels(SERVER_VERSION)
      .set(1);
    new Gauge({
      name: "etcd_server_id",
      help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
      labelNames: ["server_id"],
      registers,
    })
      .labels(hexId(s.memberId))
      .set(1);

    const walFsync = new Histogram({
      name: "etcd_disk_wal_fsync_duration_seconds",
      help: "The latency distributions of fsync called by WAL.",
      buckets: DISK_BUCKETS,
      registers,
    });
    const backendCommit = new Histogram({
      name: "etcd_disk_backend_commit_duration_seconds",
      help: "The latency distributions of commit called by backend.",
      buckets: DISK_BUCKETS,
      registers,
    });
    s.observeDisk(
      (sec) => walFsync.observe(sec),
      (sec) => backendCommit.observe(sec),
    );

    // One status read serves both sizes of a scrape.
    let sizes: Promise<{ size: number; inUse: number }> | undefined;
    const readSizes = (): Promise<{ size: number; inUse: number }> => {
      sizes ??= s.status().then(
        (st) => ({ size: Number(st.dbSize), inUse: Number(st.dbSizeInUse) }),
        () => ({ size: 0, inUse: 0 }),
      );
      const p = sizes;
      void p.finally(() => {
        if (sizes === p) sizes = undefined;
      });
      return p;
    };
    gaugeOf(r, "etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes.", async () => (await readSizes()).size);
    gaugeOf(r, "etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes.", async () => (await readSizes()).inUse);
    gaugeOf(r, "etcd_debugging_mvcc_keys_total", "Total number of keys.", () => s.kv.liveKeys);
    counterOf(r, "etcd_mvcc_put_total", "Total number of puts seen by this member.", () => s.kv.stats.puts);
    counterOf(r, "etcd_mvcc_delete_total", "Total number of deletes seen by this member.", () => s.kv.stats.deletes);
    counterOf(r, "etcd_mvcc_range_total", "Total number of ranges seen by this member.", () => s.kv.stats.ranges);
    counterOf(r, "etcd_mvcc_txn_total", "Total number of txns seen by this member.", () => s.kv.stats.txns);

    this.peer = new PeerMetrics(r);
    this.grpc = new GrpcMetrics(r, level === "extensive");
  }

  /** setQuotaBackendBytes reports the backend quota in force, in bytes (etcd_server_quota_backend_bytes; default 2 GiB). */
  setQuotaBackendBytes(bytes: number): void {
    this.quotaBackendBytes.set(bytes);
  }

  /** contentType is the Prometheus text format's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** text renders this member's metrics and the process's in the Prometheus text format. */
  async text(): Promise<string> {
    const [own, proc] = await Promise.all([this.registry.metrics(), processRegistry().metrics()]);
    return `${own}\n${proc}`;
  }
}
