/**
 * PARALLEL_FILES are the server's test files that run two at a time
 * (vitest.parallel.config.ts): they start no member, or start one and check answers, never
 * timing (no elections, failovers, lease expiries, crash windows, load or rate checks).
 * Every other file runs alone (vitest.config.ts): they start real members whose timers must
 * not be starved.
 */
export const PARALLEL_FILES = [
  "src/apply/alarm_appliers.test.ts",
  "src/apply/kv.test.ts",
  "src/apply/quota_applier.test.ts",
  "src/apply/range.test.ts",
  "src/apply/txn.test.ts",
  "src/auth/permission_matrix.test.ts",
  "src/compactor/go_duration.test.ts",
  "src/compactor/periodic.test.ts",
  "src/compactor/retention.test.ts",
  "src/compactor/revision.test.ts",
  "src/config/config.test.ts",
  "src/config/flags.test.ts",
  "src/config/sample_config.test.ts",
  "src/discovery/srv_cluster.test.ts",
  "src/etcd_format/go_entries.test.ts",
  "src/etcd_format/layout.test.ts",
  "src/etcd_format/v2_store_members.test.ts",
  "src/gateway/command.test.ts",
  "src/grpc/watch_encode.test.ts",
  "src/http/gateway_json.test.ts",
  "src/http/handler.test.ts",
  "src/http/probes.test.ts",
  "src/ids.test.ts",
  "src/log.test.ts",
  "src/metrics/metrics.test.ts",
  "src/tls/cipher_suites.test.ts",
  "src/tls/crl.test.ts",
  "src/tls/prepare.test.ts",
  "src/tls/self_signed.test.ts",
  "src/tls/server_options.test.ts",
  "src/tls/verify.test.ts",
  "src/validate.test.ts",
  "src/wait.test.ts",
];
