import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { configFails, runConfig } from "../testing/config.js";
import { batchTxOptions, dataDirs, DEFAULT_BACKEND_BATCH_INTERVAL_MS, walOptions } from "../bootstrap.js";
import { Logger } from "../log.js";
import { isDefault, loadConfig, usage, type ServerConfig } from "./config.js";
import { FLAGS, refusalMessage, YET, type FlagSpec } from "./flags.js";
import { ConfigError, parseDurationMs } from "./parse.js";

/**
 * "Every flag `etcd-ts --help` lists either changes behaviour (with a test) or is refused at
 * start" (DESIGN.md, Honest surfaces). This file holds that rule for every entry of FLAGS:
 * a refused flag must be refused for a value other than its default and accepted at its
 * default; any other flag must have an ACTED_ON entry here that changes the parsed
 * configuration and names the test showing what the change does. A flag added without one
 * of the two fails the first test.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");

const run = runConfig;
const fails = configFails;

interface ActedOn {
  /** argv sets the flag to a value other than its default (with what else it needs). */
  argv: string[];
  /**
   * seen is the part of the configuration the flag sets; it must differ from what a run with
   * `base` (default: no flags) sees. Undefined for --logger, which only validates its value.
   */
  seen?: (c: ServerConfig) => unknown;
  base?: string[];
  /** test is the test file (from the repository root) that shows what the setting does... */
  test: string;
  /** ...and mentions is text that file holds, tying it to this flag. */
  mentions: string;
}

const hrefs = (us: URL[]): string[] => us.map((u) => u.href);
const tls = (c: ServerConfig): unknown => c.clientTls;
const peerTls = (c: ServerConfig): unknown => c.peerTls;
const SELF = "apps/server/src/config/flags.test.ts";
/** CLUSTER is the harness the in-process cluster suites (cluster, corrupt, raft faults) start members with. */
const CLUSTER = "apps/server/src/testing/cluster.ts";
const TLS_E2E = "test-e2e/src/tls_client.test.ts";
const DISCOVERY_E2E = "test-e2e/src/discovery_bootstrap.test.ts";
const PEER_E2E = "test-e2e/src/tls_peer.test.ts";
const GRPC = "packages/grpc-server/src/options.test.ts";
const AUTH_E2E = "apps/server/src/auth/auth_server.test.ts";
const AUTH_JWT = "apps/server/src/auth/jwt_server.test.ts";

/** ACTED_ON: every flag etcd-ts acts on, how to set it, and where its behaviour is tested. */
const ACTED_ON: Record<string, ActedOn> = {
  name: { argv: ["--name", "n1"], seen: (c) => c.name, test: CLUSTER, mentions: '"--name"' },
  "auth-token": { argv: ["--auth-token", ""], seen: (c) => c.authToken, test: AUTH_JWT, mentions: '"--auth-token"' },
  "bcrypt-cost": { argv: ["--bcrypt-cost", "4"], seen: (c) => c.bcryptCost, test: AUTH_E2E, mentions: '"--bcrypt-cost"' },
  "auth-token-ttl": { argv: ["--auth-token-ttl", "2"], seen: (c) => c.authTokenTtlMs, test: AUTH_E2E, mentions: '"--auth-token-ttl"' },
  "data-dir": { argv: ["--data-dir", "/d"], seen: (c) => c.dataDir, test: "apps/server/src/etcd_server.test.ts", mentions: "data-dir" },
  "wal-dir": { argv: ["--wal-dir", "/w"], seen: (c) => c.walDir, test: SELF, mentions: "puts the WAL in --wal-dir" },
  "snapshot-count": { argv: ["--snapshot-count", "7"], seen: (c) => c.snapshotCount, test: "apps/server/src/etcd_server.test.ts", mentions: "snapshot-count" },
  "heartbeat-interval": { argv: ["--heartbeat-interval", "50"], seen: (c) => c.heartbeatMs, test: CLUSTER, mentions: '"--heartbeat-interval"' },
  "election-timeout": { argv: ["--election-timeout", "2000"], seen: (c) => c.electionMs, test: CLUSTER, mentions: '"--election-timeout"' },
  "listen-peer-urls": { argv: ["--listen-peer-urls", "http://127.0.0.1:1"], seen: (c) => hrefs(c.listenPeerUrls), test: CLUSTER, mentions: '"--listen-peer-urls"' },
  "listen-client-urls": { argv: ["--listen-client-urls", "http://127.0.0.1:1"], seen: (c) => hrefs(c.listenClientUrls), test: CLUSTER, mentions: '"--listen-client-urls"' },
  "max-wals": { argv: ["--max-wals", "2"], seen: (c) => walOptions(c), test: "packages/wal/src/wal.test.ts", mentions: "maxSegments: 4" },
  "backend-batch-interval": { argv: ["--backend-batch-interval", "250ms"], seen: (c) => batchTxOptions(c), test: "packages/backend/src/batch_tx.test.ts", mentions: "intervalMs: 50" },
  "backend-batch-limit": { argv: ["--backend-batch-limit", "7"], seen: (c) => batchTxOptions(c), test: "packages/backend/src/batch_tx.test.ts", mentions: "limitOps: 3" },
  "max-txn-ops": { argv: ["--max-txn-ops", "3"], seen: (c) => c.maxTxnOps, test: "apps/server/src/etcd_server.test.ts", mentions: "max-txn-ops" },
  "max-request-bytes": { argv: ["--max-request-bytes", "10"], seen: (c) => c.maxRequestBytes, test: "apps/server/src/etcd_server.test.ts", mentions: "max-request-bytes" },
  "enable-grpc-gateway": { argv: ["--enable-grpc-gateway=false"], seen: (c) => c.enableGrpcGateway, test: "apps/server/src/http/gateway_flag.test.ts", mentions: "--enable-grpc-gateway" },
  "enable-pprof": { argv: ["--enable-pprof"], seen: (c) => c.enablePprof, test: "apps/server/src/http/pprof.test.ts", mentions: "--enable-pprof" },
  discovery: { argv: ["--discovery", "http://127.0.0.1:1/v2/keys/discovery/t"], seen: (c) => [c.discovery.url, c.initialClusterToken], test: DISCOVERY_E2E, mentions: '"--discovery"' },
  "discovery-proxy": { argv: ["--discovery-proxy", "http://127.0.0.1:3128"], seen: (c) => c.discovery.proxy, test: DISCOVERY_E2E, mentions: '"--discovery-proxy"' },
  "discovery-fallback": { argv: ["--discovery-fallback", "exit"], seen: (c) => c.discovery.fallback, test: DISCOVERY_E2E, mentions: '"--discovery-fallback"' },
  "discovery-srv": { argv: ["--discovery-srv", "example.test"], seen: (c) => c.discovery.srv, test: DISCOVERY_E2E, mentions: '"--discovery-srv"' },
  "discovery-srv-name": {
    argv: ["--discovery-srv-name", "other"],
    seen: (c) => c.discovery.srvName,
    test: "apps/server/src/discovery/srv_cluster.test.ts",
    mentions: "--discovery-srv-name",
  },
  "enable-v2": { argv: ["--enable-v2"], seen: (c) => c.enableV2, test: "apps/server/src/v2/v2_api.test.ts", mentions: '"--enable-v2"' },
  "experimental-enable-v2v3": {
    argv: ["--experimental-enable-v2v3", "/mine"],
    seen: (c) => c.v2v3Prefix,
    test: "apps/server/src/v2/v2_api.test.ts",
    mentions: '"--experimental-enable-v2v3"',
  },
  "quota-backend-bytes": {
    argv: ["--quota-backend-bytes", "4096"],
    seen: (c) => c.quotaBackendBytes,
    test: "apps/server/src/apply/quota_applier.test.ts",
    mentions: "--quota-backend-bytes",
  },
  "max-concurrent-streams": { argv: ["--max-concurrent-streams", "5"], seen: (c) => c.maxConcurrentStreams, test: GRPC, mentions: "maxConcurrentStreams" },
  "grpc-keepalive-min-time": { argv: ["--grpc-keepalive-min-time", "1s"], seen: (c) => c.grpcKeepaliveMinTimeMs, test: GRPC, mentions: "keepaliveMinTimeMs" },
  "grpc-keepalive-interval": { argv: ["--grpc-keepalive-interval", "1s"], seen: (c) => c.grpcKeepaliveIntervalMs, test: GRPC, mentions: "keepaliveIntervalMs" },
  "grpc-keepalive-timeout": { argv: ["--grpc-keepalive-timeout", "1s"], seen: (c) => c.grpcKeepaliveTimeoutMs, test: GRPC, mentions: "keepaliveTimeoutMs" },
  "initial-advertise-peer-urls": { argv: ["--initial-advertise-peer-urls", "http://127.0.0.1:1"], seen: (c) => hrefs(c.initialAdvertisePeerUrls), test: CLUSTER, mentions: '"--initial-advertise-peer-urls"' },
  "initial-cluster": { argv: ["--initial-cluster", "a=http://127.0.0.1:1"], seen: (c) => [...c.initialCluster], test: CLUSTER, mentions: '"--initial-cluster"' },
  "initial-cluster-state": { argv: ["--initial-cluster-state", "existing"], seen: (c) => c.initialClusterState, test: "apps/server/src/cluster.test.ts", mentions: '"--initial-cluster-state", "existing"' },
  "initial-cluster-token": { argv: ["--initial-cluster-token", "t"], seen: (c) => c.initialClusterToken, test: "apps/server/src/ids.test.ts", mentions: '"etcd-cluster"' },
  "advertise-client-urls": { argv: ["--advertise-client-urls", "http://127.0.0.1:1"], seen: (c) => hrefs(c.advertiseClientUrls), test: CLUSTER, mentions: '"--advertise-client-urls"' },
  "strict-reconfig-check": { argv: ["--strict-reconfig-check=false"], seen: (c) => c.strictReconfigCheck, test: "packages/client/src/cluster.test.ts", mentions: "strict-reconfig-check" },
  "pre-vote": { argv: ["--pre-vote=false"], seen: (c) => c.preVote, test: "packages/raft/src/raft.test.ts", mentions: "preVote" },
  "auto-compaction-retention": {
    argv: ["--auto-compaction-retention", "1h"],
    seen: (c) => c.autoCompactionRetention,
    test: "apps/server/src/compactor/member.test.ts",
    mentions: '"--auto-compaction-retention"',
  },
  "auto-compaction-mode": {
    argv: ["--auto-compaction-mode", "revision", "--auto-compaction-retention", "7"],
    base: ["--auto-compaction-retention", "7"],
    seen: (c) => [c.autoCompactionMode, c.autoCompactionRetention],
    test: "apps/server/src/compactor/member.test.ts",
    mentions: '"--auto-compaction-mode", "revision"',
  },
  "cert-file": { argv: ["--cert-file", "c.pem"], seen: tls, test: TLS_E2E, mentions: "--cert-file" },
  "key-file": { argv: ["--key-file", "k.pem"], seen: tls, test: TLS_E2E, mentions: "--key-file" },
  "client-cert-auth": { argv: ["--auto-tls", "--client-cert-auth"], base: ["--auto-tls"], seen: tls, test: TLS_E2E, mentions: "--client-cert-auth" },
  "client-crl-file": { argv: ["--auto-tls", "--client-crl-file", "c.crl"], base: ["--auto-tls"], seen: tls, test: "apps/server/src/listener.test.ts", mentions: "crlFile" },
  "client-cert-allowed-hostname": { argv: ["--auto-tls", "--client-cert-allowed-hostname", "h"], base: ["--auto-tls"], seen: tls, test: "apps/server/src/listener.test.ts", mentions: "allowedHostname" },
  "trusted-ca-file": { argv: ["--auto-tls", "--trusted-ca-file", "ca.pem"], base: ["--auto-tls"], seen: tls, test: TLS_E2E, mentions: "--trusted-ca-file" },
  "auto-tls": { argv: ["--auto-tls"], seen: tls, test: TLS_E2E, mentions: "--auto-tls" },
  "peer-cert-file": { argv: ["--peer-cert-file", "p.pem"], seen: peerTls, test: PEER_E2E, mentions: "--peer-cert-file" },
  "peer-key-file": { argv: ["--peer-key-file", "p.pem"], seen: peerTls, test: PEER_E2E, mentions: "--peer-key-file" },
  "peer-client-cert-auth": { argv: ["--peer-auto-tls", "--peer-client-cert-auth"], base: ["--peer-auto-tls"], seen: peerTls, test: PEER_E2E, mentions: "--peer-client-cert-auth" },
  "peer-trusted-ca-file": { argv: ["--peer-auto-tls", "--peer-trusted-ca-file", "ca.pem"], base: ["--peer-auto-tls"], seen: peerTls, test: PEER_E2E, mentions: "--peer-trusted-ca-file" },
  "peer-auto-tls": { argv: ["--peer-auto-tls"], seen: peerTls, test: PEER_E2E, mentions: "--peer-auto-tls" },
  "peer-cert-allowed-cn": {
    argv: ["--peer-auto-tls", "--peer-cert-allowed-cn", "etcd-peer"],
    base: ["--peer-auto-tls"],
    seen: peerTls,
    test: "test-e2e/src/tls_peer_allowed.test.ts",
    mentions: '"--peer-cert-allowed-cn"',
  },
  "peer-cert-allowed-hostname": {
    argv: ["--peer-auto-tls", "--peer-cert-allowed-hostname", "peer.example.com"],
    base: ["--peer-auto-tls"],
    seen: peerTls,
    test: "apps/server/src/peer/allowed_cert.test.ts",
    mentions: "--peer-cert-allowed-hostname",
  },
  "peer-crl-file": { argv: ["--peer-auto-tls", "--peer-crl-file", "p.crl"], base: ["--peer-auto-tls"], seen: peerTls, test: "apps/server/src/peer/peer.test.ts", mentions: "--peer-crl-file" },
  "cipher-suites": { argv: ["--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "--auto-tls"], base: ["--auto-tls"], seen: tls, test: "apps/server/src/tls/server_options.test.ts", mentions: "cipherSuites" },
  cors: { argv: ["--cors", "http://a.example:8080"], seen: (c) => c.cors, test: "apps/server/src/http/handler.test.ts", mentions: "--cors" },
  "host-whitelist": { argv: ["--host-whitelist", "localhost"], seen: (c) => c.hostWhitelist, test: "apps/server/src/http/handler.test.ts", mentions: "--host-whitelist" },
  logger: { argv: ["--logger", "zap"], test: SELF, mentions: "takes --logger zap or capnslog" },
  "log-outputs": { argv: ["--log-outputs", "stdout"], seen: (c) => c.logOutputs, test: SELF, mentions: "writes the log to --log-outputs" },
  "log-level": { argv: ["--log-level", "warn"], seen: (c) => c.logLevel, test: SELF, mentions: "logs from --log-level up" },
  debug: { argv: ["--debug"], seen: (c) => c.logLevel, test: SELF, mentions: "logs from --log-level up" },
  "experimental-initial-corrupt-check": {
    argv: ["--experimental-initial-corrupt-check"],
    seen: (c) => c.initialCorruptCheck,
    test: "apps/server/src/corrupt.test.ts",
    mentions: '"--experimental-initial-corrupt-check"',
  },
  "experimental-corrupt-check-time": {
    argv: ["--experimental-corrupt-check-time", "1m"],
    seen: (c) => c.corruptCheckTimeMs,
    test: "apps/server/src/corrupt.test.ts",
    mentions: '"--experimental-corrupt-check-time"',
  },
  "experimental-enable-lease-checkpoint": {
    argv: ["--experimental-enable-lease-checkpoint"],
    test: "apps/server/src/lease.test.ts",
    mentions: '"--experimental-enable-lease-checkpoint"',
  },
  metrics: { argv: ["--metrics", "extensive"], seen: (c) => c.metrics, test: "apps/server/src/metrics/metrics.test.ts", mentions: '"--metrics"' },
  "listen-metrics-urls": {
    argv: ["--listen-metrics-urls", "http://127.0.0.1:1"],
    seen: (c) => hrefs(c.listenMetricsUrls),
    test: "apps/server/src/metrics/metrics.test.ts",
    mentions: '"--listen-metrics-urls"',
  },
  "experimental-watch-progress-notify-interval": {
    argv: ["--experimental-watch-progress-notify-interval", "1s"],
    seen: (c) => c.watchProgressNotifyMs,
    test: "apps/server/src/grpc/watch.test.ts",
    mentions: '"--experimental-watch-progress-notify-interval"',
  },
  "experimental-peer-skip-client-san-verification": {
    argv: ["--experimental-peer-skip-client-san-verification"],
    seen: (c) => c.peerSkipClientSanVerify,
    test: "apps/server/src/peer/peer.test.ts",
    mentions: "skipClientSanVerify: true",
  },
};

/** nonDefault is a value of the flag's type other than its default. */
function nonDefault(spec: FlagSpec): string {
  switch (spec.type) {
    case "uint":
    case "int":
      return String(BigInt(spec.def) + 1n);
    case "bool":
      return spec.def === "true" ? "false" : "true";
    case "duration":
      return spec.def === "7s" ? "8s" : "7s";
    case "urls":
      return "http://127.0.0.1:1";
    default:
      return spec.def === "x" ? "y" : "x";
  }
}

/** otherSpelling writes the default differently where the type allows it ("0s" -> "0"). */
function otherSpelling(spec: FlagSpec): string {
  switch (spec.type) {
    case "uint":
    case "int":
      return `0${spec.def}`;
    case "bool":
      return spec.def === "true" ? "t" : "0";
    case "duration":
      return spec.def === "0s" ? "0" : `${parseDurationMs(spec.def)}ms`;
    default:
      return spec.def;
  }
}

describe("every flag is acted on or refused", () => {
  it("has an ACTED_ON entry or is marked refused, not both, and nothing else", () => {
    const names = new Set(FLAGS.map((s) => s.name));
    for (const s of FLAGS) {
      const acted = Object.hasOwn(ACTED_ON, s.name);
      expect(acted || s.refused !== undefined, `--${s.name} is neither acted on (ACTED_ON) nor refused`).toBe(true);
      expect(acted && s.refused !== undefined, `--${s.name} is both acted on and refused`).toBe(false);
    }
    for (const name of Object.keys(ACTED_ON)) expect(names.has(name), `ACTED_ON names no flag --${name}`).toBe(true);
  });

  describe.each(FLAGS.filter((s) => s.refused !== undefined).map((s) => [s.name, s] as const))("refused --%s", (_name, spec) => {
    it("refuses a value other than the default, as a flag, a variable or in the config file", () => {
      const v = nonDefault(spec);
      const e = fails([`--${spec.name}=${v}`]);
      expect(e.message).toBe(refusalMessage(spec));
      expect(e.message).toMatch(new RegExp(`^--${spec.name} is not supported by etcd-ts`));
      expect(e.exitCode).toBe(1);
      const env = `ETCD_${spec.name.toUpperCase().replace(/-/g, "_")}`;
      expect(fails([], { [env]: v }).message).toBe(refusalMessage(spec));
      const file = join(mkdtempSync(join(tmpdir(), "etcd-ts-flags-")), "etcd.yaml");
      writeFileSync(file, `${spec.name}: ${JSON.stringify(v)}\n`);
      expect(fails(["--config-file", file]).message).toBe(refusalMessage(spec));
    });

    it("accepts the default, however it is written", () => {
      expect(() => run([`--${spec.name}=${spec.def}`])).not.toThrow();
      const other = otherSpelling(spec);
      expect(isDefault(spec, other), `${other} is the default of --${spec.name}`).toBe(true);
      expect(() => run([`--${spec.name}=${other}`])).not.toThrow();
    });
  });

  describe.each(Object.entries(ACTED_ON))("acted-on --%s", (name, a) => {
    it("changes the configuration when set", () => {
      expect(a.argv.some((x) => x === `--${name}` || x.startsWith(`--${name}=`))).toBe(true);
      if (a.seen !== undefined) expect(a.seen(run(a.argv))).not.toEqual(a.seen(run(a.base ?? [])));
      else expect(() => run(a.argv)).not.toThrow();
    });

    it(`has a test of what it does (${a.test})`, () => {
      const path = join(ROOT, a.test);
      expect(existsSync(path), `${a.test} does not exist`).toBe(true);
      expect(readFileSync(path, "utf8")).toContain(a.mentions);
    });
  });

  it("--help lists every flag and marks exactly the refused ones", () => {
    const text = usage();
    for (const s of FLAGS) {
      const at = text.indexOf(`  --${s.name} '${s.def}'\n`);
      expect(at, `--${s.name} in --help`).toBeGreaterThanOrEqual(0);
      const next = text.indexOf("\n  --", at + 1);
      const block = text.slice(at, next < 0 ? undefined : next);
      expect(block.includes("[etcd-ts: refused unless"), `--${s.name}'s help`).toBe(s.refused !== undefined);
    }
    expect(text).toContain(`  --max-wals '5'\n    Maximum number of wal files to retain (0 is unlimited).\n`);
    expect(text).toContain(`    [etcd-ts: refused unless '5': it writes no snapshot files`);
    expect(text).toContain(`  --experimental-compaction-batch-limit '1000'\n    Sets the maximum revisions deleted in each compaction batch.\n    [etcd-ts: refused unless '1000': ${YET}]\n`);
  });
});

describe("flags acted on in the configuration itself", () => {
  it("puts the WAL in --wal-dir instead of <data-dir>/member/wal", () => {
    expect(dataDirs(run(["--data-dir", "/d"])).wal).toBe(join("/d", "member", "wal"));
    expect(dataDirs(run(["--data-dir", "/d", "--wal-dir", "/w"])).wal).toBe("/w");
  });

  it("writes to the backend at most once per --backend-batch-interval or sooner at --backend-batch-limit operations (0: the defaults)", () => {
    expect(batchTxOptions(run([]))).toEqual({ intervalMs: DEFAULT_BACKEND_BATCH_INTERVAL_MS, limitOps: 10_000 });
    expect(batchTxOptions(run(["--backend-batch-interval", "100ms", "--backend-batch-limit", "500"]))).toEqual({ intervalMs: 100, limitOps: 500 });
    expect(batchTxOptions(run(["--backend-batch-interval", "0s", "--backend-batch-limit", "0"]))).toEqual({ intervalMs: DEFAULT_BACKEND_BATCH_INTERVAL_MS, limitOps: 10_000 });
  });

  it("keeps --max-wals WAL segments once released (0: all of them)", () => {
    expect(walOptions(run([]))).toEqual({ maxSegments: 5 });
    expect(walOptions(run(["--max-wals", "0"]))).toEqual({ maxSegments: 0 });
  });

  it("takes --logger zap or capnslog (both log zap-style JSON lines) and refuses others, as etcd", () => {
    expect(() => run(["--logger", "zap"])).not.toThrow();
    expect(() => run(["--logger", "capnslog"])).not.toThrow();
    const e = fails(["--logger", "foo"]);
    expect(e.message).toBe('unknown logger option "foo"');
    expect(e.exitCode).toBe(1);
  });

  it("logs from --log-level up (--debug is --log-level debug), and writes the log to --log-outputs", () => {
    const dir = mkdtempSync(join(tmpdir(), "etcd-ts-log-"));
    const a = join(dir, "a.log");
    const b = join(dir, "b.log");
    const write = (argv: string[]): void => {
      const c = run([...argv, "--log-outputs", `${a},${b}`]);
      const logger = new Logger(c.logLevel === "panic" || c.logLevel === "fatal" ? "error" : c.logLevel, c.logOutputs);
      logger.debug("d");
      logger.info("i");
      logger.warn("w");
    };
    const msgs = (f: string): string[] => readFileSync(f, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { msg: string }).msg);
    write(["--log-level", "warn"]);
    expect(msgs(a)).toEqual(["w"]);
    expect(msgs(b)).toEqual(["w"]);
    write([]);
    expect(msgs(a)).toEqual(["w", "i", "w"]);
    write(["--debug"]);
    expect(msgs(a)).toEqual(["w", "i", "w", "d", "i", "w"]);
  });

  it("reads --cors and --host-whitelist as etcd does, and ignores them empty in a config file or variable", () => {
    expect([...run([]).cors]).toEqual(["*"]);
    expect([...run(["--cors", "http://a:1,https://b:2"]).cors]).toEqual(["http://a:1", "https://b:2"]);
    const bad = fails(["--cors", "http://x"]);
    expect(bad.message).toBe('invalid value "http://x" for flag -cors: URL address does not have the form "host:port": http://x');
    expect(bad.exitCode).toBe(2);
    expect(fails(["--cors="]).message).toBe('invalid value "" for flag -cors: URL scheme must be http, https, unix, or unixs: ');
    expect([...run(["--host-whitelist", "a,b"]).hostWhitelist]).toEqual(["a", "b"]);
    expect([...run([], { ETCD_CORS: "", ETCD_HOST_WHITELIST: "" }).cors]).toEqual(["*"]);
    const file = join(mkdtempSync(join(tmpdir(), "etcd-ts-flags-")), "etcd.yaml");
    writeFileSync(file, 'cors: ""\nhost-whitelist: ""\n');
    const c = run(["--config-file", file]);
    expect([...c.cors]).toEqual(["*"]);
    expect([...c.hostWhitelist]).toEqual(["*"]);
  });
});
