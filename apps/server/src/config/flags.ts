/**
 * flags.ts declares etcd-ts's command-line flags: etcd 3.4's names, value types and defaults.
 * A flag is also settable as ETCD_<NAME> (upper case, '-' -> '_') and as a key of the
 * --config-file YAML. Every flag listed here either changes what etcd-ts does, or is marked
 * `refused`: etcd-ts parses it and accepts etcd's default (which then describes etcd-ts), but
 * any other value stops the start with a message naming the flag and why (refusalMessage),
 * and --help marks it. flags.test.ts checks each flag against one of the two, and fails for a
 * flag added without either.
 */

/** FlagType is how a flag's text value is parsed. "origins" is --cors's list of origin URLs. */
export type FlagType = "string" | "uint" | "int" | "bool" | "duration" | "urls" | "list" | "origins";

/** FlagSpec describes one flag. `def` is the default as etcd prints it. */
export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  readonly def: string;
  readonly help: string;
  /**
   * refused: etcd has the flag and etcd-ts parses it, but does not act on it; the text says
   * why (YET: a feature etcd-ts has not built yet). A value other than the default is refused.
   */
  readonly refused?: string;
}

/** YET is the reason of a refused flag whose feature etcd-ts has not built yet. */
export const YET = "not supported by etcd-ts yet";

const f = (name: string, type: FlagType, def: string, help: string, refused?: string): FlagSpec =>
  refused !== undefined ? { name, type, def, help, refused } : { name, type, def, help };

/** refusalMessage is the error that stops the start when a refused flag is set to a value other than its default. */
export function refusalMessage(spec: FlagSpec): string {
  return spec.refused === YET ? `--${spec.name} is ${YET}` : `--${spec.name} is not supported by etcd-ts: ${spec.refused ?? ""}`;
}

/** NO_V2_PROXY is the reason of the v2 proxy's flags. */
const NO_V2_PROXY = "it has no v2 proxy mode (only --proxy=off)";

/** FLAGS is the full table, in the order --help prints it. */
export const FLAGS: readonly FlagSpec[] = [
  // member
  f("name", "string", "default", "Human-readable name for this member."),
  f("data-dir", "string", "${name}.etcd", "Path to the data directory."),
  f("wal-dir", "string", "", "Path to the dedicated wal directory."),
  f("snapshot-count", "uint", "100000", "Number of committed transactions to trigger a snapshot to disk."),
  f("heartbeat-interval", "uint", "100", "Time (in milliseconds) of a heartbeat interval."),
  f("election-timeout", "uint", "1000", "Time (in milliseconds) for an election to timeout."),
  f("initial-election-tick-advance", "bool", "true", "Whether to fast-forward initial election ticks on boot for faster election.", "it does not fast-forward the election ticks of a multi-member cluster yet (a single member campaigns at once), so only the default is accepted"),
  f("listen-peer-urls", "urls", "http://localhost:2380", "List of URLs to listen on for peer traffic."),
  f("listen-client-urls", "urls", "http://localhost:2379", "List of URLs to listen on for client traffic."),
  f("max-snapshots", "uint", "5", "Maximum number of snapshot files to retain (0 is unlimited).", "it writes no snapshot files (a raft snapshot is a backend checkpoint; see --max-wals)"),
  f("max-wals", "uint", "5", "Maximum number of wal files to retain (0 is unlimited)."),
  f("quota-backend-bytes", "int", "0", "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota)."),
  f("backend-batch-interval", "duration", "0s", "BackendBatchInterval is the maximum time before commit the backend transaction."),
  f("backend-batch-limit", "uint", "0", "BackendBatchLimit is the maximum operations before commit the backend transaction."),
  f("max-txn-ops", "uint", "128", "Maximum number of operations permitted in a transaction."),
  f("max-request-bytes", "uint", "1572864", "Maximum client request size in bytes the server will accept."),
  f("max-concurrent-streams", "uint", "4294967295", "Maximum concurrent streams that each client can open at a time."),
  f("grpc-keepalive-min-time", "duration", "5s", "Minimum duration interval that a client should wait before pinging server."),
  f("grpc-keepalive-interval", "duration", "2h", "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable)."),
  f("grpc-keepalive-timeout", "duration", "20s", "Additional duration of wait before closing a non-responsive connection (0 to disable)."),
  // clustering
  f("initial-advertise-peer-urls", "urls", "http://localhost:2380", "List of this member's peer URLs to advertise to the rest of the cluster."),
  f("initial-cluster", "string", "default=http://localhost:2380", "Initial cluster configuration for bootstrapping."),
  f("initial-cluster-state", "string", "new", "Initial cluster state ('new' or 'existing')."),
  f("initial-cluster-token", "string", "etcd-cluster", "Initial cluster token for the etcd cluster during bootstrap."),
  f("advertise-client-urls", "urls", "http://localhost:2379", "List of this member's client URLs to advertise to the public."),
  f("discovery", "string", "", "Discovery URL used to bootstrap the cluster."),
  f("discovery-fallback", "string", "proxy", "Expected behavior ('exit' or 'proxy') when discovery services fails."),
  f("discovery-proxy", "string", "", "HTTP proxy to use for traffic to discovery service."),
  f("discovery-srv", "string", "", "DNS srv domain used to bootstrap the cluster."),
  f("discovery-srv-name", "string", "", "Suffix to the dns srv name queried when bootstrapping."),
  f("strict-reconfig-check", "bool", "true", "Reject reconfiguration requests that would cause quorum loss."),
  f("pre-vote", "bool", "true", "Enable to run an additional Raft election phase (default true, as etcd 3.5; etcd 3.4 defaulted to false)."),
  f("auto-compaction-retention", "string", "0", "Auto compaction retention length. 0 means disable auto compaction."),
  f("auto-compaction-mode", "string", "periodic", "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' for revision number based retention."),
  f("enable-v2", "bool", "false", "Accept etcd V2 client requests."),
  // security
  f("cert-file", "string", "", "Path to the client server TLS cert file."),
  f("key-file", "string", "", "Path to the client server TLS key file."),
  f("client-cert-auth", "bool", "false", "Enable client cert authentication."),
  f("client-crl-file", "string", "", "Path to the client certificate revocation list file."),
  f("client-cert-allowed-hostname", "string", "", "Allowed TLS hostname for client cert authentication."),
  f("trusted-ca-file", "string", "", "Path to the client server TLS trusted CA cert file."),
  f("auto-tls", "bool", "false", "Client TLS using generated certificates."),
  f("peer-cert-file", "string", "", "Path to the peer server TLS cert file."),
  f("peer-key-file", "string", "", "Path to the peer server TLS key file."),
  f("peer-client-cert-auth", "bool", "false", "Enable peer client cert authentication."),
  f("peer-trusted-ca-file", "string", "", "Path to the peer server TLS trusted CA file."),
  f("peer-cert-allowed-cn", "string", "", "Required CN for client certs connecting to the peer endpoint."),
  f("peer-cert-allowed-hostname", "string", "", "Allowed TLS hostname for inter peer authentication."),
  f("peer-auto-tls", "bool", "false", "Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided."),
  f("peer-crl-file", "string", "", "Path to the peer certificate revocation list file."),
  f("cipher-suites", "list", "", "Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go)."),
  f("cors", "origins", "*", "Comma-separated whitelist of origins for CORS, or cross-origin resource sharing ('*' allows all)."),
  f("host-whitelist", "list", "*", "Comma-separated acceptable hostnames from HTTP client requests, if server is not secure ('*' allows all)."),
  // auth
  f("auth-token", "string", "simple", "Specify a v3 authentication token type and its options ('simple' or 'jwt')."),
  f("bcrypt-cost", "uint", "10", "Specify the cost/strength of the bcrypt algorithm for hashing auth passwords. Valid values are between 4 and 31."),
  f("auth-token-ttl", "uint", "300", "The lifetime in seconds of the auth token."),
  // profiling and monitoring
  f("enable-grpc-gateway", "bool", "true", "Enable GRPC gateway."),
  f("enable-pprof", "bool", "false", "Enable runtime profiling data via HTTP server. Address is at client URL + \"/debug/pprof/\""),
  f("metrics", "string", "basic", "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics."),
  f("listen-metrics-urls", "urls", "", "List of URLs to listen on for the metrics and health endpoints."),
  // logging
  f("logger", "string", "capnslog", "Specify 'zap' for structured logging or 'capnslog'. etcd-ts logs zap-style JSON lines for both; any other value is refused."),
  f("log-outputs", "list", "default", "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or list of comma separated output targets."),
  f("log-level", "string", "info", "Configures log level. Only supports debug, info, warn, error, panic, or fatal."),
  f("debug", "bool", "false", "Enable debug-level logging for etcd. [WARN] Will be deprecated in v3.5. Use '--log-level=debug' instead."),
  f("log-package-levels", "string", "", "Specify a particular log level for each etcd package (eg: 'etcdmain=CRITICAL,etcdserver=DEBUG'.", "etcd-ts logs as etcd's --logger=zap, which has no per-package levels; use --log-level"),
  // v2 proxy
  f("proxy", "string", "off", "Proxy mode setting ('off', 'readonly' or 'on').", NO_V2_PROXY),
  f("proxy-failure-wait", "uint", "5000", "Time (in milliseconds) an endpoint will be held in a failed state.", NO_V2_PROXY),
  f("proxy-refresh-interval", "uint", "30000", "Time (in milliseconds) of the endpoints refresh interval.", NO_V2_PROXY),
  f("proxy-dial-timeout", "uint", "1000", "Time (in milliseconds) for a dial to timeout.", NO_V2_PROXY),
  f("proxy-write-timeout", "uint", "5000", "Time (in milliseconds) for a write to timeout.", NO_V2_PROXY),
  f("proxy-read-timeout", "uint", "0", "Time (in milliseconds) for a read to timeout.", NO_V2_PROXY),
  // experimental
  f("experimental-initial-corrupt-check", "bool", "false", "Enable to check data corruption before serving any client/peer traffic."),
  f("experimental-corrupt-check-time", "duration", "0s", "Duration of time between cluster corruption check passes."),
  f("experimental-enable-v2v3", "string", "", "v3 prefix for serving emulated v2 state."),
  f("experimental-backend-bbolt-freelist-type", "string", "array", "ExperimentalBackendFreelistType specifies the type of freelist that boltdb backend uses.", "its backend is RocksDB, which has no bbolt freelist"),
  f("experimental-enable-lease-checkpoint", "bool", "false", "Enable to persist lease remaining TTL to prevent indefinite auto-renewal of long lived leases. etcd-ts always checkpoints remaining TTLs (every 5s), with or without it; the flag is accepted for etcd's command lines."),
  f("experimental-compaction-batch-limit", "uint", "1000", "Sets the maximum revisions deleted in each compaction batch.", YET),
  f("experimental-peer-skip-client-san-verification", "bool", "false", "Skip verification of SAN field in client certificate for peer connections."),
  f("experimental-watch-progress-notify-interval", "duration", "10m", "Duration of periodic watch progress notifications."),
  f("experimental-warning-apply-duration", "duration", "100ms", "Time duration after which a warning is generated if request takes more time.", YET),
  // unsafe
  f("force-new-cluster", "bool", "false", "Force to create a new one member cluster.", YET),
  // etcd-ts only: none. Special flags handled by the parser: --version, --config-file, --help.
];

/** FLAG_BY_NAME indexes FLAGS by name. */
export const FLAG_BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((s) => [s.name, s]));
