/**
 * PARALLEL_FILES are the end-to-end files that run two at a time (vitest.parallel.config.ts):
 * each starts its own servers on free ports and checks outputs, not timing: a file may start
 * a cluster and wait for it to form, but times no failover, lease expiry or crash window.
 * Every other file runs alone (vitest.config.ts), so the timing-sensitive ones never share
 * the 2 cores.
 */
export const PARALLEL_FILES = [
  "src/auth_cert_compare.test.ts",
  "src/bad_input.test.ts",
  "src/bins_package.test.ts",
  "src/client_package.test.ts",
  "src/crl_compare.test.ts",
  "src/differential.test.ts",
  "src/discovery_bootstrap.test.ts",
  "src/etcd3_auth.test.ts",
  "src/etcd3_client.test.ts",
  "src/gateway.test.ts",
  "src/go_migration.test.ts",
  "src/json_gateway_compare.test.ts",
  "src/lock_election_compare.test.ts",
  "src/quota.test.ts",
  "src/snapshot_roundtrip.test.ts",
  "src/tls_client.test.ts",
  "src/tls_peer.test.ts",
  "src/tls_peer_allowed.test.ts",
  "src/unix_urls_compare.test.ts",
  "src/v2_keys_compare.test.ts",
];

/** E2E_TIMEOUTS are both configs' generous timeouts: these tests spawn real processes. */
export const E2E_TIMEOUTS = { testTimeout: 120_000, hookTimeout: 60_000 };
