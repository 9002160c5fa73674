import { parseCors, parseHostWhitelist } from "./access.js";
import { FLAGS, FLAG_BY_NAME, refusalMessage, type FlagSpec } from "./flags.js";
import { tlsInfoEmpty, type TlsInfo } from "../tls/tls_info.js";
import { unknownCipherSuite } from "../tls/cipher_suites.js";
import { applyConfigFile, applyEnv, ConfigError, parseArgs, parseBool, parseDurationMs, type RawConfig } from "./parse.js";
import { readAutoCompaction } from "../compactor/retention.js";
import { parseTokenOptions, type TokenOptions } from "@etcd-ts/auth";

/** ServerConfig is the typed configuration of one etcd-ts member. Times are milliseconds. */
/**
 * DiscoveryConfig is etcd's bootstrap by discovery: `url` (--discovery, a v2 keys discovery
 * token URL) with `proxy` (--discovery-proxy) and `fallback` (--discovery-fallback: what to
 * do when the token's cluster is full; etcd-ts has no proxy mode, so "proxy" stops the start
 * as "exit" does, saying so), or `srv` (--discovery-srv, a DNS domain whose
 * _etcd-server[-ssl][-<srvName>]._tcp SRV records list the initial members).
 */
export interface DiscoveryConfig {
  url: string;
  proxy: string;
  fallback: "exit" | "proxy";
  srv: string;
  srvName: string;
}

export interface ServerConfig {
  name: string;
  dataDir: string;
  walDir: string;
  snapshotCount: number;
  heartbeatMs: number;
  electionMs: number;
  /** maxWals: --max-wals, how many WAL segment files to keep once released (0: all). */
  maxWals: number;
  listenPeerUrls: URL[];
  listenClientUrls: URL[];
  initialAdvertisePeerUrls: URL[];
  advertiseClientUrls: URL[];
  /** initialCluster maps member name to its peer URLs. */
  initialCluster: Map<string, string[]>;
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  /** discovery is how a new member finds its cluster instead of --initial-cluster (see discovery/). */
  discovery: DiscoveryConfig;
  maxTxnOps: number;
  maxRequestBytes: number;
  /** enableGrpcGateway: --enable-grpc-gateway, the JSON gateway (/v3/...) on the client URLs (default true). */
  enableGrpcGateway: boolean;
  /** enablePprof: --enable-pprof or --debug (as etcd), /debug/pprof/ on the client URLs. */
  enablePprof: boolean;
  /** enableV2: --enable-v2, the v2 API (/v2/keys, /v2/members, /v2/machines) on the client URLs, kept in the v3 store. */
  enableV2: boolean;
  /** v2v3Prefix: --experimental-enable-v2v3, the v3 key prefix of the v2 tree ("" = etcd-ts's default, /etcd-ts/v2). */
  v2v3Prefix: string;
  /** backendBatchIntervalMs: --backend-batch-interval in ms (0: etcd-ts's default, see batchTxOptions). */
  backendBatchIntervalMs: number;
  /** backendBatchLimit: --backend-batch-limit (0: the default, 10,000 operations). */
  backendBatchLimit: number;
  /** quotaBackendBytes: --quota-backend-bytes (0: etcd's default 2 GiB quota; negative: no quota). */
  quotaBackendBytes: number;
  maxConcurrentStreams: number;
  grpcKeepaliveMinTimeMs: number;
  grpcKeepaliveIntervalMs: number;
  grpcKeepaliveTimeoutMs: number;
  strictReconfigCheck: boolean;
  preVote: boolean;
  /** autoCompactionMode: --auto-compaction-mode, "periodic" or "revision" ("" only with a zero retention). */
  autoCompactionMode: string;
  /**
   * autoCompactionRetention: --auto-compaction-retention as etcd holds it (see
   * compactor/retention.ts): nanoseconds in periodic mode, revisions in revision mode; 0: off.
   */
  autoCompactionRetention: bigint;
  logLevel: "debug" | "info" | "warn" | "error" | "panic" | "fatal";
  logOutputs: string[];
  /** cors: the origins --cors allows on the client HTTP endpoints ("*": all). */
  cors: ReadonlySet<string>;
  /** hostWhitelist: the Host names --host-whitelist allows on client HTTP without TLS ("*": all). */
  hostWhitelist: ReadonlySet<string>;
  /**
   * clientTls is the client listeners' TLS (--cert-file, --key-file, --trusted-ca-file,
   * --client-cert-auth, --auto-tls, ...), undefined when neither a certificate nor --auto-tls
   * is given. It applies to the https:// client URLs only.
   */
  clientTls: TlsInfo | undefined;
  /**
   * peerTls is the same for the peer side (--peer-cert-file, ..., --peer-cert-allowed-cn,
   * --peer-cert-allowed-hostname); it applies to https:// peer URLs and to dialing peers.
   */
  peerTls: TlsInfo | undefined;
  /** peerSkipClientSanVerify: --experimental-peer-skip-client-san-verification. */
  peerSkipClientSanVerify: boolean;
  /** initialCorruptCheck: --experimental-initial-corrupt-check, compare HashKV with peers before serving. */
  initialCorruptCheck: boolean;
  /** corruptCheckTimeMs: --experimental-corrupt-check-time, the leader's corruption check interval (0: off). */
  corruptCheckTimeMs: number;
  /** watchProgressNotifyMs: --experimental-watch-progress-notify-interval, between progress notifications of progress_notify watchers. */
  watchProgressNotifyMs: number;
  /** metrics is --metrics: "extensive" adds the gRPC handling-time histograms (any other value is etcd's basic). */
  metrics: "basic" | "extensive";
  /** listenMetricsUrls: --listen-metrics-urls, extra http:// listeners serving /metrics and /health. */
  listenMetricsUrls: URL[];
  /** authToken is --auth-token, parsed: simple tokens, JWT (with its keys loaded), or none (an empty value). */
  authToken: TokenOptions;
  /** bcryptCost is --bcrypt-cost: bcrypt's cost for new password hashes (out of 4..31: etcd's default, 10, with a warning). */
  bcryptCost: number;
  /** authTokenTtlMs is --auth-token-ttl in milliseconds: a simple token lives this long after its last use. */
  authTokenTtlMs: number;
  /** warnings found while reading the configuration, logged at start. */
  warnings: string[];
}

/** LoadResult is what main acts on: a config, or a request for --help / --version. */
export type LoadResult = { kind: "run"; config: ServerConfig } | { kind: "help" } | { kind: "version" };

/**
 * loadConfig builds the configuration from command-line arguments, ETCD_* variables and the
 * optional --config-file, with etcd's precedence: a config file replaces everything else;
 * otherwise flags win over variables (and a variable shadowing a flag is an error).
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): LoadResult {
  const raw = parseArgs(argv);
  if (raw.showHelp) return { kind: "help" };
  applyEnv(raw, env);
  if (raw.showVersion) return { kind: "version" };
  if (raw.configFile !== undefined) applyConfigFile(raw, raw.configFile);
  return { kind: "run", config: build(raw) };
}

function build(raw: RawConfig): ServerConfig {
  const get = (name: string): string => {
    const v = raw.values.get(name);
    if (v !== undefined) return v;
    const spec = FLAG_BY_NAME.get(name);
    if (spec === undefined) throw new Error(`config: no flag ${name}`);
    return spec.def;
  };
  const num = (name: string): number => Number(get(name));
  const bool = (name: string): boolean => parseBool(name, get(name));
  const dur = (name: string): number => parseDurationMs(get(name), `-${name}`);

  for (const spec of FLAGS) {
    const v = raw.values.get(spec.name);
    if (spec.refused !== undefined && v !== undefined && !isDefault(spec, v)) throw new ConfigError(refusalMessage(spec));
  }
  const logger = get("logger");
  if (logger !== "zap" && logger !== "capnslog") throw new ConfigError(`unknown logger option ${JSON.stringify(logger)}`);

  const name = get("name");
  const dataDir = raw.values.has("data-dir") ? get("data-dir") : `${name}.etcd`;
  const state = get("initial-cluster-state");
  if (state !== "new" && state !== "existing") {
    throw new ConfigError(`invalid value "${state}" for flag -initial-cluster-state: must be 'new' or 'existing'`, 2);
  }
  const heartbeatMs = num("heartbeat-interval");
  const electionMs = num("election-timeout");
  if (heartbeatMs <= 0) throw new ConfigError("--heartbeat-interval must be > 0");
  if (5 * heartbeatMs > electionMs) {
    throw new ConfigError(
      `--election-timeout[${electionMs}ms] should be at least as 5 times as --heartbeat-interval[${heartbeatMs}ms]`,
    );
  }
  if (electionMs > 50000) throw new ConfigError(`--election-timeout[${electionMs}ms] is too long, and should be set less than 50000ms`);

  // etcd: the initial cluster defaults to this member's name and advertised peer URLs.
  const advertisePeer = urls(get("initial-advertise-peer-urls"), "initial-advertise-peer-urls");
  const ownCluster = `${name}=${advertisePeer.map((u) => u.href.replace(/\/$/, "")).join(`,${name}=`)}`;
  const clusterText = raw.values.has("initial-cluster") ? get("initial-cluster") : ownCluster;
  const fallback = get("discovery-fallback");
  if (fallback !== "exit" && fallback !== "proxy") throw new ConfigError(`invalid value "${fallback}" for flag -discovery-fallback: invalid value`, 2);
  const discovery: DiscoveryConfig = {
    url: get("discovery"),
    proxy: get("discovery-proxy"),
    fallback,
    srv: get("discovery-srv"),
    srvName: get("discovery-srv-name"),
  };
  // etcd: only one of --initial-cluster (when given), --discovery and --discovery-srv.
  const bootstraps = [raw.values.has("initial-cluster"), discovery.url !== "", discovery.srv !== ""].filter((x) => x).length;
  if (bootstraps > 1) {
    throw new ConfigError('multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"');
  }
  const listenPeerUrls = urls(get("listen-peer-urls"), "listen-peer-urls");
  const listenClientUrls = urls(get("listen-client-urls"), "listen-client-urls");
  const cipherSuites = get("cipher-suites").split(",").map((c) => c.trim()).filter((c) => c !== "");
  const badSuite = unknownCipherSuite(cipherSuites);
  if (badSuite !== undefined) throw new ConfigError(`unexpected TLS cipher suite ${JSON.stringify(badSuite)}`);
  const clientTls = tlsInfo({
    certFile: get("cert-file"),
    keyFile: get("key-file"),
    trustedCaFile: get("trusted-ca-file"),
    clientCertAuth: bool("client-cert-auth"),
    autoTls: bool("auto-tls"),
    cipherSuites,
    crlFile: get("client-crl-file"),
    allowedHostname: get("client-cert-allowed-hostname"),
  });
  const peerTls = tlsInfo({
    certFile: get("peer-cert-file"),
    keyFile: get("peer-key-file"),
    trustedCaFile: get("peer-trusted-ca-file"),
    clientCertAuth: bool("peer-client-cert-auth"),
    autoTls: bool("peer-auto-tls"),
    cipherSuites,
    crlFile: get("peer-crl-file"),
    allowedCn: get("peer-cert-allowed-cn"),
    allowedHostname: get("peer-cert-allowed-hostname"),
  });
  checkTlsUrls(clientTls, listenClientUrls, "client", raw.warnings);
  checkTlsUrls(peerTls, listenPeerUrls, "peer", raw.warnings);

  const autoCompactionMode = get("auto-compaction-mode");
  let autoCompactionRetention: bigint;
  try {
    autoCompactionRetention = readAutoCompaction(autoCompactionMode, get("auto-compaction-retention"));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  let authToken: TokenOptions;
  try {
    authToken = parseTokenOptions(get("auth-token"));
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    throw new ConfigError(`failed to create token provider: ${(err as Error).message}${cause instanceof Error ? ` (${cause.message})` : ""}`);
  }
  if (authToken.type === "jwt" && authToken.unknownOptions.length > 0) {
    raw.warnings.push(`unknown token specific option(s) ignored: ${authToken.unknownOptions.join(", ")}`);
  }
  let bcryptCost = num("bcrypt-cost");
  if (bcryptCost < 4 || bcryptCost > 31) {
    raw.warnings.push(`use default bcrypt cost instead of the invalid given cost (min-cost 4, max-cost 31, default-cost 10, given-cost ${bcryptCost})`);
    bcryptCost = 10;
  }

  const level = get("log-level");
  const logLevel = bool("debug") ? "debug" : level;
  if (!["debug", "info", "warn", "error", "panic", "fatal"].includes(logLevel)) {
    throw new ConfigError(`unknown log level "${logLevel}"`);
  }
  return {
    name,
    dataDir,
    walDir: get("wal-dir"),
    snapshotCount: num("snapshot-count"),
    heartbeatMs,
    electionMs,
    maxWals: num("max-wals"),
    listenPeerUrls,
    listenClientUrls,
    initialAdvertisePeerUrls: advertisePeer,
    advertiseClientUrls: urls(get("advertise-client-urls"), "advertise-client-urls"),
    initialCluster: parseInitialCluster(clusterText),
    initialClusterState: state,
    // With --discovery the token URL is the cluster token member IDs are derived with, as in etcd.
    initialClusterToken: discovery.url !== "" ? discovery.url : get("initial-cluster-token"),
    discovery,
    maxTxnOps: num("max-txn-ops"),
    maxRequestBytes: num("max-request-bytes"),
    quotaBackendBytes: num("quota-backend-bytes"),
    backendBatchIntervalMs: dur("backend-batch-interval"),
    backendBatchLimit: num("backend-batch-limit"),
    enablePprof: bool("enable-pprof") || bool("debug"),
    enableV2: bool("enable-v2"),
    v2v3Prefix: get("experimental-enable-v2v3"),
    enableGrpcGateway: bool("enable-grpc-gateway"),
    maxConcurrentStreams: num("max-concurrent-streams"),
    grpcKeepaliveMinTimeMs: dur("grpc-keepalive-min-time"),
    grpcKeepaliveIntervalMs: dur("grpc-keepalive-interval"),
    grpcKeepaliveTimeoutMs: dur("grpc-keepalive-timeout"),
    strictReconfigCheck: bool("strict-reconfig-check"),
    preVote: bool("pre-vote"),
    autoCompactionMode,
    autoCompactionRetention,
    logLevel: logLevel as ServerConfig["logLevel"],
    logOutputs: get("log-outputs").split(",").filter((s) => s !== ""),
    cors: parseCors(get("cors")),
    hostWhitelist: parseHostWhitelist(get("host-whitelist")),
    clientTls,
    peerTls,
    peerSkipClientSanVerify: bool("experimental-peer-skip-client-san-verification"),
    initialCorruptCheck: bool("experimental-initial-corrupt-check"),
    corruptCheckTimeMs: dur("experimental-corrupt-check-time"),
    watchProgressNotifyMs: dur("experimental-watch-progress-notify-interval"),
    metrics: get("metrics") === "extensive" ? "extensive" : "basic",
    listenMetricsUrls: metricsUrls(get("listen-metrics-urls")),
    authToken,
    bcryptCost,
    // etcd: a TTL of 0 is its default, 300 s.
    authTokenTtlMs: (num("auth-token-ttl") || 300) * 1000,
    warnings: raw.warnings,
  };
}

/**
 * isDefault reports whether `value` is the flag's default as a value, not as text: "0" and
 * "0s" are the same duration, "false" and "0" the same bool, "05" and "5" the same number.
 */
export function isDefault(spec: FlagSpec, value: string): boolean {
  switch (spec.type) {
    case "uint":
    case "int":
      return BigInt(value) === BigInt(spec.def);
    case "bool":
      return parseBool(spec.name, value) === parseBool(spec.name, spec.def);
    case "duration":
      return parseDurationMs(value, `-${spec.name}`) === parseDurationMs(spec.def, `-${spec.name}`);
    default:
      return value === spec.def;
  }
}

/**
 * urls parses a comma-separated URL list as etcd's types.NewURLs does: http, https, unix or
 * unixs, with host:port and no path. A unix:// or unixs:// URL names a unix socket file,
 * host:port, relative to the working directory (see listenTarget).
 */
export function urls(text: string, flag: string): URL[] {
  if (text.trim() === "") return [];
  return text.split(",").map((part) => {
    let u: URL;
    try {
      u = new URL(part.trim());
    } catch {
      throw new ConfigError(`invalid value "${text}" for flag -${flag}: URL address does not have the form "host:port": ${part}`, 2);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:" && u.protocol !== "unix:" && u.protocol !== "unixs:") {
      throw new ConfigError(`invalid value "${text}" for flag -${flag}: URL scheme must be http, https, unix, or unixs: ${part}`, 2);
    }
    if (u.port === "") {
      throw new ConfigError(`invalid value "${text}" for flag -${flag}: URL address does not have the form "host:port": ${part}`, 2);
    }
    if (u.pathname !== "/" && u.pathname !== "") {
      throw new ConfigError(`invalid value "${text}" for flag -${flag}: URL must not contain a path: ${part}`, 2);
    }
    return u;
  });
}

/** metricsUrls parses --listen-metrics-urls: http:// URLs only (etcd-ts serves no TLS or unix socket metrics listener yet). */
function metricsUrls(text: string): URL[] {
  const list = urls(text, "listen-metrics-urls");
  for (const u of list) {
    if (u.protocol !== "http:") throw new ConfigError(`--listen-metrics-urls: ${u.protocol}// metrics URLs are not supported by etcd-ts yet (only http://): ${u.href}`);
  }
  return list;
}

/** tlsInfo returns the TLS settings of one side, or undefined when it has no certificate and no auto TLS. */
function tlsInfo(info: TlsInfo): TlsInfo | undefined {
  if (tlsInfoEmpty(info) && !info.autoTls) return undefined;
  if (info.crlFile === "") delete info.crlFile;
  if (info.allowedCn === "") delete info.allowedCn;
  if (info.allowedHostname === "") delete info.allowedHostname;
  return info;
}

/**
 * checkTlsUrls applies etcd's listener rules: an https (or unixs) URL needs a certificate and
 * key (or auto TLS), both of them; TLS settings on a side with http (or unix) URLs only are
 * ignored with a warning, as etcd does.
 */
function checkTlsUrls(info: TlsInfo | undefined, list: readonly URL[], side: "client" | "peer", warnings: string[]): void {
  for (const u of list) {
    const url = u.href.replace(/\/$/, "");
    if (u.protocol === "https:" || u.protocol === "unixs:") {
      if (info === undefined) {
        if (side === "client") {
          throw new ConfigError(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${url} with HTTPS scheme`);
        }
        throw new ConfigError(`cannot listen on TLS for ${u.host}: KeyFile and CertFile are not presented`);
      }
      if (!info.autoTls && (info.certFile === "" || info.keyFile === "")) {
        throw new ConfigError(`KeyFile and CertFile must both be present[key: ${info.keyFile}, cert: ${info.certFile}]`);
      }
    } else if (info !== undefined) {
      if (!tlsInfoEmpty(info)) {
        warnings.push(`scheme is HTTP while key and cert files are present; ignoring key and cert files (${side}-url ${url})`);
      }
      if (info.clientCertAuth) {
        const flag = side === "client" ? "--client-cert-auth" : "--peer-client-cert-auth";
        warnings.push(`scheme is HTTP while ${flag} is enabled; ignoring client cert auth for this URL (${side}-url ${url})`);
      }
    }
  }
}

/** parseInitialCluster parses "name1=url1,name1=url2,name2=url3" into name -> URLs. */
export function parseInitialCluster(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--initial-cluster: expected name=url, got "${part}"`);
    const name = part.slice(0, eq);
    const url = urls(part.slice(eq + 1), "initial-cluster")[0];
    if (url === undefined) throw new ConfigError(`--initial-cluster: empty URL for member "${name}"`);
    const list = out.get(name) ?? [];
    list.push(url.href.replace(/\/$/, ""));
    out.set(name, list);
  }
  return out;
}

/** usage is the --help text: every flag with its default. */
export function usage(): string {
  const lines = [
    "Usage:",
    "",
    "  etcd-ts [flags]",
    "    Start an etcd-ts server (etcd 3.4's flags, ETCD_* variables and --config-file YAML).",
    "",
    "  etcd-ts --version",
    "    Show the version of etcd-ts.",
    "",
    "  etcd-ts -h | --help",
    "    Show the help information about etcd-ts.",
    "",
    "  etcd-ts gateway",
    "    Run the stateless pass-through etcd TCP connection forwarding proxy.",
    "",
    "  etcd-ts --config-file",
    "    Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.",
    "",
    "Flags:",
  ];
  for (const s of FLAGS) {
    lines.push(`  --${s.name} '${s.def}'`);
    lines.push(`    ${s.help}`);
    if (s.refused !== undefined) lines.push(`    [etcd-ts: refused unless '${s.def}': ${s.refused}]`);
  }
  return `${lines.join("\n")}\n`;
}
