import { defineConfig } from "vitest/config";

// The comparison suites mostly wait on the etcd and etcdctl processes they spawn: run two
// files at a time even on a 2-core machine.
export default defineConfig({
  test: {
    pool: "forks",
    poolOptions: { forks: { minForks: 1, maxForks: 2 } },
  },
});
