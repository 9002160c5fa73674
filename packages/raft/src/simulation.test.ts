import { afterAll, describe, expect, it } from "vitest";
import { runSimulation } from "./testing/simulation.js";

/**
 * Randomized simulation over many seeds (see testing/simulation.ts for the faults and the
 * checked properties). RAFT_SIM_SEEDS / RAFT_SIM_STEPS / RAFT_SIM_FIRST widen the search
 * locally; the default run stays fast. Seeds run in chunks so no single test blocks long.
 */
const SEEDS = Number(process.env["RAFT_SIM_SEEDS"] ?? 500);
const STEPS = Number(process.env["RAFT_SIM_STEPS"] ?? 600);
const FIRST = Number(process.env["RAFT_SIM_FIRST"] ?? 1);
const CHUNK = 100;

describe("randomized simulation", () => {
  const totals = { runs: 0, leaderTerms: 0, committed: 0, restarts: 0, snapshots: 0, reads: 0, accepted: 0, confChanges: 0 };

  for (let lo = FIRST; lo < FIRST + SEEDS; lo += CHUNK) {
    const hi = Math.min(lo + CHUNK, FIRST + SEEDS);
    it(`keeps the safety properties and converges: seeds ${lo}..${hi - 1}`, { timeout: 120_000 }, () => {
      for (let seed = lo; seed < hi; seed++) {
        const s = runSimulation({ seed, steps: STEPS });
        totals.runs++;
        totals.leaderTerms += s.leaderTerms;
        totals.committed += s.committed;
        totals.restarts += s.restarts;
        totals.snapshots += s.snapshotsInstalled;
        totals.reads += s.readsAnswered;
        totals.accepted += s.proposalsAccepted;
        totals.confChanges += s.confChanges;
      }
    });
  }

  // The runs must actually exercise elections, commits, restarts, snapshots, reads and
  // membership changes (checked once all chunks ran).
  afterAll(() => {
    if (totals.runs < SEEDS) return; // a chunk failed or was filtered out
    expect(totals.leaderTerms).toBeGreaterThan(SEEDS);
    expect(totals.committed).toBeGreaterThan(SEEDS * 10);
    expect(totals.restarts).toBeGreaterThan(SEEDS);
    expect(totals.snapshots).toBeGreaterThan(SEEDS / 10);
    expect(totals.reads).toBeGreaterThan(SEEDS / 2);
    expect(totals.accepted).toBeGreaterThan(SEEDS * 10);
    expect(totals.confChanges).toBeGreaterThan(SEEDS / 2);
  });

  it("is deterministic: the same seed gives the same run", () => {
    expect(runSimulation({ seed: 42, steps: 300 })).toEqual(runSimulation({ seed: 42, steps: 300 }));
  });
});
