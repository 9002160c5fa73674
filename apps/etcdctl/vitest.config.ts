import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * LongWaitFirst starts check_perf.test.ts first: its 60 s `check perf` run mostly waits (150
 * puts a second), so begun first it overlaps the other files instead of adding a minute at
 * the end, where a fresh clone's default order (small files last) would put it.
 */
class LongWaitFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const first = (f: TestSpecification): number => (f.moduleId.endsWith("check_perf.test.ts") ? 0 : 1);
    return [...sorted].sort((a, b) => first(a) - first(b));
  }
}

// The comparison suites mostly wait on the etcd and etcdctl processes they spawn: run two
// files at a time even on a 2-core machine. Each case spawns processes, so a busy machine
// (CI runs everything on 2 cores) gets generous per-test time.
export default defineConfig({
  test: {
    pool: "forks",
    poolOptions: { forks: { minForks: 1, maxForks: 2 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    sequence: { sequencer: LongWaitFirst },
  },
});
