import { describe, expect, it } from "vitest";
import { Errors } from "../errors.js";
import { CapturingLogger, FakeCompactable, FakeRevGetter, HOUR, MIN } from "../testing/compactor_fakes.js";
import { FakeClock } from "../testing/fake_clock.js";
import { REVISION_INTERVAL_MS, Revision } from "./revision.js";

/** The revision compactor against a fake clock and a revision the test sets. */
function setup(retention: bigint, current = 0n) {
  const clock = new FakeClock();
  const logger = new CapturingLogger();
  const rg = new FakeRevGetter(current);
  const c = new FakeCompactable(clock);
  const r = new Revision(logger, clock, retention, rg, c);
  return { clock, logger, rg, c, r };
}

describe("Revision compaction", () => {
  it("looks every 5 minutes, as etcd", () => {
    expect(REVISION_INTERVAL_MS).toBe(5 * MIN);
  });

  it("compacts to current revision - retention every 5 minutes, skipping non-positive and repeated revisions", async () => {
    // etcd's TestRevision, with the revision set by the test.
    const { clock, c, r, rg } = setup(10n, 1n);
    r.run();
    await clock.advance(5 * MIN);
    expect(c.compactions).toEqual([]); // 1 - 10 <= 0
    expect(rg.reads).toBe(1);
    rg.current = 100n;
    await clock.advance(5 * MIN - 1);
    expect(c.compactions).toEqual([]);
    await clock.advance(1);
    expect(c.compactions).toEqual([{ revision: 90n, at: 10 * MIN }]);
    await clock.advance(5 * MIN);
    expect(c.compactions).toHaveLength(1); // still 100: 90 again is skipped
    rg.current = 200n;
    await clock.advance(5 * MIN);
    expect(c.compactions.at(-1)).toEqual({ revision: 190n, at: 20 * MIN });
    rg.current = 205n;
    await clock.advance(5 * MIN);
    expect(c.compactions.at(-1)).toEqual({ revision: 195n, at: 25 * MIN });
    r.stop();
  });

  it("compacts once per interval however many revisions were written meanwhile", async () => {
    const { clock, c, r, rg } = setup(1000n, 1n);
    r.run();
    for (let i = 1; i <= 6; i++) {
      rg.current = BigInt(i * 5000);
      await clock.advance(5 * MIN);
    }
    expect(c.revisions).toEqual([4000n, 9000n, 14000n, 19000n, 24000n, 29000n]);
    r.stop();
  });

  it("retries a failure (a future revision) at the next interval, with the revision then current", async () => {
    const { clock, c, r, rg, logger } = setup(10n, 100n);
    c.failures.push(Errors.futureRev);
    r.run();
    await clock.advance(5 * MIN);
    expect(logger.lines.at(-1)).toEqual({
      level: "warn",
      msg: "failed auto revision compaction",
      fields: { revision: 90n, "revision-compaction-retention": 10n, "retry-interval": "5m0s", error: "etcdserver: mvcc: required revision is a future revision" },
    });
    // The same revision is tried again: a failure does not count as the last compaction.
    await clock.advance(5 * MIN);
    expect(c.compactions).toEqual([
      { revision: 90n, at: 5 * MIN },
      { revision: 90n, at: 10 * MIN },
    ]);
    rg.current = 150n;
    await clock.advance(5 * MIN);
    expect(c.revisions).toEqual([90n, 90n, 140n]);
    r.stop();
  });

  it("counts an already compacted revision (ErrCompacted) as a success and does not retry it", async () => {
    const { clock, c, r, logger } = setup(10n, 100n);
    c.failures.push(Errors.compacted);
    r.run();
    await clock.advance(HOUR);
    expect(c.revisions).toEqual([90n]);
    expect(logger.messages).toEqual(["starting auto revision compaction", "completed auto revision compaction"]);
    r.stop();
  });

  it("logs the start and the end of each compaction with etcd's fields", async () => {
    const { clock, r, logger } = setup(10n, 100n);
    r.run();
    await clock.advance(5 * MIN);
    expect(logger.lines).toEqual([
      { level: "info", msg: "starting auto revision compaction", fields: { revision: 90n, "revision-compaction-retention": 10n } },
      { level: "info", msg: "completed auto revision compaction", fields: { revision: 90n, "revision-compaction-retention": 10n, took: "0s" } },
    ]);
    r.stop();
  });

  it("does nothing while paused, and compacts at the next interval once resumed", async () => {
    // etcd's TestRevisionPause.
    const { clock, c, r } = setup(10n, 100n);
    r.run();
    r.pause();
    await clock.advance(3 * HOUR);
    expect(c.compactions).toEqual([]);
    r.resume();
    await clock.advance(5 * MIN);
    expect(c.compactions).toEqual([{ revision: 90n, at: 3 * HOUR + 5 * MIN }]);
    r.stop();
  });

  it("takes a shorter interval through the code API (tests)", async () => {
    const clock = new FakeClock();
    const c = new FakeCompactable(clock);
    const r = new Revision(new CapturingLogger(), clock, 5n, new FakeRevGetter(50n), c, 200);
    r.run();
    await clock.advance(200);
    expect(c.compactions).toEqual([{ revision: 45n, at: 200 }]);
    r.stop();
  });

  it("stops for good: no timer left, no compaction", async () => {
    const { clock, c, r } = setup(10n, 100n);
    r.run();
    expect(clock.pending).toBe(1);
    r.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(HOUR);
    expect(c.compactions).toEqual([]);
  });

  it("refuses a retention that is not positive", () => {
    const clock = new FakeClock();
    expect(() => new Revision(new CapturingLogger(), clock, 0n, new FakeRevGetter(), new FakeCompactable(clock))).toThrow(
      "revision compactor: retention must be positive, got 0",
    );
  });
});
