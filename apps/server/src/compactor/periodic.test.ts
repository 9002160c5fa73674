import { describe, expect, it } from "vitest";
import { Errors } from "../errors.js";
import { CapturingLogger, FakeCompactable, FakeRevGetter, HOUR, MIN } from "../testing/compactor_fakes.js";
import { FakeClock } from "../testing/fake_clock.js";
import { Periodic } from "./periodic.js";
import { parseCompactionRetention } from "./retention.js";

/**
 * The periodic compactor against a fake clock and a revision that grows by one at every
 * sample (as etcd's periodic_test.go has it): the k-th sample (from 0) is revision k+1,
 * taken at k retry intervals.
 */
function setup(retention: string) {
  const clock = new FakeClock();
  const logger = new CapturingLogger();
  const rg = new FakeRevGetter(0n, true);
  const c = new FakeCompactable(clock);
  const p = new Periodic(logger, clock, parseCompactionRetention("periodic", retention), rg, c);
  return { clock, logger, rg, c, p };
}

describe("Periodic intervals (etcd's getCompactInterval, getRetryInterval, getRetentions)", () => {
  it.each([
    // retention, compact interval, retry interval, window size
    ["5m", 5 * MIN, 30_000, 11],
    ["59m", 59 * MIN, 354_000, 11],
    ["1h", HOUR, 6 * MIN, 11],
    ["1", HOUR, 6 * MIN, 11],
    ["2h", HOUR, 6 * MIN, 21],
    ["72", HOUR, 6 * MIN, 721],
    ["5s", 5000, 500, 11],
  ])("retention %s: compacts every %d ms, samples every %d ms, keeps %d samples", (retention, compact, retry, window) => {
    const { p } = setup(retention);
    expect(p.compactIntervalMs).toBe(compact);
    expect(p.retryIntervalMs).toBe(retry);
    expect(p.retentions).toBe(window);
  });
});

describe("Periodic compaction", () => {
  it("with a retention over an hour (2h): nothing for 2h, then every hour to the revision of the window's start", async () => {
    const { clock, c, p, rg } = setup("2h");
    p.run();
    await clock.advance(2 * HOUR - 1);
    expect(c.compactions).toEqual([]);
    expect(rg.reads).toBe(20); // samples at 0, 6m, ..., 1h54m
    await clock.advance(1);
    expect(c.compactions).toEqual([{ revision: 1n, at: 2 * HOUR }]);
    await clock.advance(3 * HOUR);
    // etcd's TestPeriodicHourly: 1, then 10, 20, 30 each hour after.
    expect(c.compactions).toEqual([
      { revision: 1n, at: 2 * HOUR },
      { revision: 10n, at: 3 * HOUR },
      { revision: 20n, at: 4 * HOUR },
      { revision: 30n, at: 5 * HOUR },
    ]);
    p.stop();
  });

  it("with a retention under an hour (5m): nothing for 5m, then every 5m", async () => {
    const { clock, c, p } = setup("5m");
    p.run();
    await clock.advance(5 * MIN - 1);
    expect(c.compactions).toEqual([]);
    await clock.advance(1 + 5 * 5 * MIN);
    // etcd's TestPeriodicMinutes: 1, then 10, 20, 30, 40, 50.
    expect(c.compactions).toEqual([1n, 10n, 20n, 30n, 40n, 50n].map((revision, i) => ({ revision, at: (i + 1) * 5 * MIN })));
    p.stop();
  });

  it("with a plain number: hours (1 is one hour)", async () => {
    const { clock, c, p } = setup("1");
    p.run();
    await clock.advance(HOUR - 1);
    expect(c.compactions).toEqual([]);
    await clock.advance(1 + 2 * HOUR);
    expect(c.compactions).toEqual([
      { revision: 1n, at: HOUR },
      { revision: 10n, at: 2 * HOUR },
      { revision: 20n, at: 3 * HOUR },
    ]);
    p.stop();
  });

  it("with 30m: compacts every 30m to the revision sampled about 30m before", async () => {
    const { clock, c, p } = setup("30m");
    p.run();
    await clock.advance(90 * MIN);
    // Samples every 3m; the window holds 11 (30m/3m + 1).
    expect(c.compactions).toEqual([
      { revision: 1n, at: 30 * MIN },
      { revision: 10n, at: 60 * MIN },
      { revision: 20n, at: 90 * MIN },
    ]);
    p.stop();
  });

  it("retries a failure at the next sample, with the window slid, and logs it as etcd does", async () => {
    const { clock, c, p, logger } = setup("1h");
    c.failures.push(Errors.futureRev);
    p.run();
    await clock.advance(HOUR);
    expect(c.compactions).toEqual([{ revision: 1n, at: HOUR }]);
    expect(logger.lines.at(-1)).toEqual({
      level: "warn",
      msg: "failed auto periodic compaction",
      fields: { revision: 1n, "compact-period": "1h0m0s", "retry-interval": "6m0s", error: "etcdserver: mvcc: required revision is a future revision" },
    });
    await clock.advance(6 * MIN);
    // The window had room for one more sample, so its start is still revision 1.
    expect(c.compactions.at(-1)).toEqual({ revision: 1n, at: HOUR + 6 * MIN });
    // The next one waits an hour from that success.
    await clock.advance(HOUR - 1);
    expect(c.compactions).toHaveLength(2);
    await clock.advance(1);
    expect(c.compactions.at(-1)).toEqual({ revision: 11n, at: 2 * HOUR + 6 * MIN });
    p.stop();
  });

  it("counts an already compacted revision (ErrCompacted) as a success", async () => {
    const { clock, c, p, logger } = setup("1h");
    c.failures.push(Errors.compacted);
    p.run();
    await clock.advance(HOUR + 54 * MIN);
    expect(c.compactions).toEqual([{ revision: 1n, at: HOUR }]);
    expect(logger.messages.filter((m) => m.includes("periodic"))).toEqual(["starting auto periodic compaction", "completed auto periodic compaction"]);
    await clock.advance(6 * MIN);
    expect(c.compactions.at(-1)).toEqual({ revision: 10n, at: 2 * HOUR });
    p.stop();
  });

  it("logs the start and the end of each compaction with etcd's fields", async () => {
    const { clock, p, logger } = setup("2h");
    p.run();
    await clock.advance(2 * HOUR);
    expect(logger.lines).toEqual([
      { level: "info", msg: "starting auto periodic compaction", fields: { revision: 1n, "compact-period": "2h0m0s" } },
      // etcd's "took" is the time since the previous success (here: since run).
      { level: "info", msg: "completed auto periodic compaction", fields: { revision: 1n, "compact-period": "2h0m0s", took: "2h0m0s" } },
    ]);
    p.stop();
  });

  it("keeps sampling but does not compact while paused, and compacts at the next sample once resumed", async () => {
    // etcd's TestPeriodicPause.
    const { clock, c, p } = setup("1h");
    p.run();
    p.pause();
    const n = p.retentions;
    await clock.advance(3 * n * 6 * MIN);
    expect(c.compactions).toEqual([]);
    p.resume();
    await clock.advance(6 * MIN);
    expect(c.compactions).toEqual([{ revision: BigInt(1 + 2 * n + 1), at: (3 * n + 1) * 6 * MIN }]);
    p.stop();
  });

  it("stops for good: no timer left, no sample, no compaction", async () => {
    const { clock, c, p, rg } = setup("5m");
    p.run();
    expect(clock.pending).toBe(1);
    p.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(HOUR);
    expect(rg.reads).toBe(1);
    expect(c.compactions).toEqual([]);
  });

  it("stopped while a compaction is in flight, schedules nothing after it", async () => {
    const { clock, p } = setup("5m");
    let finish: () => void = () => undefined;
    const slow = { compact: () => new Promise<void>((resolve) => (finish = resolve)) };
    const q = new Periodic(new CapturingLogger(), clock, parseCompactionRetention("periodic", "5m"), new FakeRevGetter(0n, true), slow);
    p.stop();
    q.run();
    await clock.advance(5 * MIN);
    expect(clock.pending).toBe(0); // waiting for the compaction
    q.stop();
    finish();
    await clock.advance(HOUR);
    expect(clock.pending).toBe(0);
  });
});
