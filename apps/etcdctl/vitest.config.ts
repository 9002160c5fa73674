import { defineConfig } from "vitest/config";

// The comparison suites mostly wait on the etcd and etcdctl processes they spawn: run two
// files at a time even on a 2-core machine. Each case spawns processes, so a busy machine
// (CI runs everything on 2 cores) gets generous per-test time.
export default defineConfig({
  test: {
    pool: "forks",
    poolOptions: { forks: { minForks: 1, maxForks: 2 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
