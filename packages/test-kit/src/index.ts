/**
 * @etcd-ts/test-kit: what every test suite needs to run servers, once: throwaway certificates,
 * free ports, the paths of the servers and CLIs, spawning and stopping etcd-ts and the
 * real etcd, running commands, and waiting.
 */
export { makeTestPki, writeTestPki, type Pem, type PkiFiles, type PkiNames, type TestPki } from "./certs.js";
export { aAnswer, resolvConfText, srvAnswer, startDnsServer, TEST_DNS_ADDR, withResolvConf, type DnsAnswer, type DnsRecords } from "./dns_server.js";
export { etcdFlags, type ServerArgs } from "./flags.js";
export { ETCD_TS_BIN, ETCDCTL_TS_BIN, REAL_ETCD, REAL_ETCDCTL, REPO } from "./paths.js";
export { freePort } from "./ports.js";
export { isRunning, run, serverCommand, spawnServer, stopProcess, type RunOptions, type RunResult, type ServerKind, type SpawnOptions, type Spawned } from "./process.js";
export { healthStatus, until, waitHealthy, type HealthTls, type UntilOptions, type WaitHealthyOptions } from "./wait.js";
