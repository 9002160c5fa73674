import type { ServerConfig } from "./config/config.js";
import { openServer } from "./bootstrap.js";
import type { EtcdServer } from "./etcd_server.js";
import { SERVER_VERSION } from "./etcd_server.js";
import type { GrpcServer } from "@etcd-ts/grpc-server";
import { clientGrpcServer, GRPC_OVERHEAD_BYTES } from "./grpc/server.js";
import { httpHandler, metricsListenerHandler, type HttpExtras } from "./http/handler.js";
import { jsonGateway, maxGatewayBodyBytes } from "./http/gateway.js";
import { MetricsListener } from "./metrics/listener.js";
import { ServerMetrics } from "./metrics/server_metrics.js";
import { DEFAULT_QUOTA_BYTES } from "./quota.js";
import { hexId } from "./ids.js";
import { ClientListener, isTlsUrl } from "./listener.js";
import { clientTlsOptions, prepareTls, serverTlsOptions, tlsInfoString, type TlsInfo } from "./tls/index.js";
import type { Logger } from "./log.js";
import type { DebugOptions } from "./debug_switches.js";
import type { ConnectionOptions } from "node:tls";
import { PeerListener } from "./peer/server.js";
import { startPeer } from "./peer/start.js";
import type { PeerObserver } from "./peer/observer.js";
import { checkInitialHashKV, CorruptionMonitor } from "./corrupt.js";
import { VersionMonitor } from "./version_monitor.js";
import { formatGoDuration } from "./compactor/go_duration.js";

/** Etcd is a started member: its server and its client listeners. */
export class Etcd {
  private constructor(
    readonly server: EtcdServer,
    private readonly grpc: GrpcServer,
    private readonly listeners: ClientListener[],
    private readonly peer: PeerListener,
    private readonly logger: Logger,
    private readonly monitor: CorruptionMonitor | undefined,
    private readonly versions: VersionMonitor,
    /** metrics are this member's Prometheus metrics (served on /metrics; the quota code sets etcd_server_quota_backend_bytes there). */
    readonly metrics: ServerMetrics,
    private readonly metricsListeners: MetricsListener[],
  ) {}

  /**
   * start opens the data dir, starts raft, and serves clients once a leader is known; the
   * returned member is ready to answer. `debug` holds the debug-only switches (see
   * debug_switches.ts; all off by default).
   */
  static async start(cfg: ServerConfig, logger: Logger, onFatal: (err: unknown) => void, debug: DebugOptions = {}): Promise<Etcd> {
    logger.info("configuring client listeners", {
      "listen-client-urls": cfg.listenClientUrls.map((u) => u.href.replace(/\/$/, "")),
    });
    logger.info("starting an etcd server", {
      "etcd-version": SERVER_VERSION,
      "node-version": process.version,
      name: cfg.name,
      "data-dir": cfg.dataDir,
      "wal-dir": cfg.walDir,
      "snapshot-count": cfg.snapshotCount,
      "heartbeat-interval": `${cfg.heartbeatMs}ms`,
      "election-timeout": `${cfg.electionMs}ms`,
      "initial-cluster-state": cfg.initialClusterState,
      "initial-cluster-token": cfg.initialClusterToken,
      "max-request-bytes": cfg.maxRequestBytes,
      "max-txn-ops": cfg.maxTxnOps,
      // etcd prints the retention as a Go duration in both modes (revision 10 is "10ns").
      "auto-compaction-mode": cfg.autoCompactionMode,
      "auto-compaction-retention": formatGoDuration(cfg.autoCompactionRetention),
      "auto-compaction-interval": formatGoDuration(cfg.autoCompactionRetention),
    });
    // TLS is prepared (auto TLS certificates made, files read and checked) before the member
    // starts, so a bad certificate stops it early, as in etcd.
    const clientTls = await startClientTls(cfg, logger);
    // Peer TLS (https:// peer URLs): options for the peer listener and for dialing peers.
    const peerTls = await startPeerTls(cfg, logger);
    const peerClientTls: ConnectionOptions | undefined = peerTls === undefined ? undefined : clientTlsOptions(peerTls);
    const peerHttps = cfg.listenPeerUrls.some(isTlsUrl);
    const peerServerTls: TlsInfo | undefined = peerTls === undefined || !peerHttps ? undefined : peerTls;
    const server = await openServer(cfg, logger, onFatal, peerClientTls, debug);
    // The metrics see the member from before raft starts (its first leader is a change seen).
    const metrics = new ServerMetrics(server, cfg.metrics);
    // etcd sets the gauge to the flag's value, or to the default quota when the flag is 0.
    metrics.setQuotaBackendBytes(cfg.quotaBackendBytes === 0 ? DEFAULT_QUOTA_BYTES : cfg.quotaBackendBytes);
    // The peer transport feeds the metrics and the v2 leader stats.
    const stats = server.peerStatsObserver;
    const observer: PeerObserver = {
      sent: (to, n) => metrics.peer.sent(to, n),
      received: (from, n) => metrics.peer.received(from, n),
      sendFailed: (to) => {
        metrics.peer.sendFailed(to);
        stats.sendFailed(to);
      },
      roundTrip: (to, seconds) => metrics.peer.roundTrip(to, seconds),
    };
    const peer = await startPeer(cfg, server, logger, peerClientTls, peerServerTls, observer);
    // A restarting member compares its data with its peers' before it serves anything (a
    // new member has nothing to compare), as etcd does with --experimental-initial-corrupt-check.
    if (cfg.initialCorruptCheck && server.restarted) {
      try {
        await checkInitialHashKV(server, peerClientTls, logger);
      } catch (err) {
        await peer.close();
        await server.stop();
        throw err;
      }
    }
    server.start();
    const versions = new VersionMonitor(server, peerClientTls, logger);
    versions.start();
    let monitor: CorruptionMonitor | undefined;
    if (cfg.corruptCheckTimeMs > 0) {
      monitor = new CorruptionMonitor(server, cfg.corruptCheckTimeMs, peerClientTls, logger);
      monitor.start();
    }
    logger.info("starting etcd server", {
      "local-member-id": hexId(server.memberId),
      "local-server-version": SERVER_VERSION,
    });

    const grpc = clientGrpcServer(
      server,
      {
        maxRequestBytes: cfg.maxRequestBytes,
        maxConcurrentStreams: cfg.maxConcurrentStreams,
        keepaliveIntervalMs: cfg.grpcKeepaliveIntervalMs,
        keepaliveTimeoutMs: cfg.grpcKeepaliveTimeoutMs,
        keepaliveMinTimeMs: cfg.grpcKeepaliveMinTimeMs,
        watchProgressNotifyMs: cfg.watchProgressNotifyMs,
        electionMs: cfg.electionMs,
        observer: metrics.grpc,
        clientCertAuth: cfg.clientTls?.clientCertAuth === true,
      },
      logger,
    );

    await server.waitReady();
    const listeners: ClientListener[] = [];
    const extras: HttpExtras = { metrics };
    if (cfg.enableGrpcGateway) extras.gateway = jsonGateway(grpc, maxGatewayBodyBytes(cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES));
    if (cfg.enablePprof) {
      // Loaded only when asked for: the profiler is a native addon.
      const { Pprof, PPROF_PREFIX } = await import("./http/pprof.js");
      logger.info("pprof is enabled", { path: PPROF_PREFIX });
      extras.pprof = new Pprof();
    }
    if (cfg.enableV2) {
      const { v2Api, DEFAULT_V2_PREFIX } = await import("./v2/index.js");
      const prefix = cfg.v2v3Prefix === "" ? DEFAULT_V2_PREFIX : cfg.v2v3Prefix;
      logger.info("v2 API is enabled, kept in the v3 store", { prefix });
      extras.v2 = v2Api(server, prefix, { bcryptCost: cfg.bcryptCost, clientCertAuth: cfg.clientTls?.clientCertAuth === true });
    }
    const http = httpHandler(server, { cors: cfg.cors, hostWhitelist: cfg.hostWhitelist, logger }, extras);
    for (const u of cfg.listenClientUrls) {
      listeners.push(await ClientListener.listenUrl(u, grpc, http, clientTls, logger));
    }
    const metricsListeners: MetricsListener[] = [];
    for (const u of cfg.listenMetricsUrls) {
      metricsListeners.push(await MetricsListener.listen(u, metricsListenerHandler(server, metrics), logger));
    }
    logger.info("ready to serve client requests");
    return new Etcd(server, grpc, listeners, peer, logger, monitor, versions, metrics, metricsListeners);
  }

  /** stop closes the listeners, drains gRPC and stops the member. */
  async stop(): Promise<void> {
    this.logger.info("closing etcd server", { "local-member-id": hexId(this.server.memberId) });
    this.monitor?.stop();
    this.versions.stop();
    await Promise.all(this.listeners.map((l) => l.close()));
    await Promise.all(this.metricsListeners.map((l) => l.close()));
    await this.peer.close();
    this.grpc.close();
    await this.server.stop();
    this.logger.info("closed etcd server", { "local-member-id": hexId(this.server.memberId) });
  }
}

/**
 * startClientTls resolves --auto-tls, checks the certificate files and logs the client TLS
 * settings; undefined without client TLS or when every client URL is http:// (etcd then
 * ignores the TLS files).
 */
async function startClientTls(cfg: ServerConfig, logger: Logger): Promise<TlsInfo | undefined> {
  if (cfg.clientTls === undefined || !cfg.listenClientUrls.some(isTlsUrl)) return undefined;
  const hosts = cfg.listenClientUrls.map((u) => u.host);
  const info = await prepareTls(cfg.clientTls, cfg.dataDir, "client", hosts, logger);
  serverTlsOptions(info);
  logger.info("starting with client TLS", { "tls-info": tlsInfoString(info), "cipher-suites": info.cipherSuites });
  return info;
}

/**
 * startPeerTls resolves --peer-auto-tls and logs the peer TLS settings; undefined without peer
 * TLS. The settings also serve to dial https:// peers when this member listens on http://.
 */
async function startPeerTls(cfg: ServerConfig, logger: Logger): Promise<TlsInfo | undefined> {
  if (cfg.peerTls === undefined) return undefined;
  const hosts = cfg.listenPeerUrls.map((u) => u.host);
  const info = await prepareTls(cfg.peerTls, cfg.dataDir, "peer", hosts, logger);
  logger.info("starting with peer TLS", { "tls-info": tlsInfoString(info), "cipher-suites": info.cipherSuites });
  return info;
}
