import type { Logger } from "../log.js";
import type { Clock } from "./clock.js";
import { errorText, TimedCompactor, type Compactable, type RevGetter } from "./compactor.js";
import { formatGoDuration } from "./go_duration.js";

/** HOUR_NS is one hour in nanoseconds: the longest compaction interval. */
const HOUR_NS = 3_600_000_000_000n;

/** RETRY_DIVISOR: revisions are sampled (and failures retried) every tenth of the compaction interval. */
const RETRY_DIVISOR = 10n;

/** nsToMs converts nanoseconds to (possibly fractional) milliseconds for the clock. */
const nsToMs = (ns: bigint): number => Number(ns) / 1e6;

/**
 * Periodic is etcd's periodic compactor: it keeps the history of the last `period`
 * (nanoseconds, > 0). The compaction interval is the period, at most one hour; every tenth
 * of it (the retry interval) the compactor samples the current revision into a window of
 * period/retry + 1 samples, so the window's oldest sample is about one period old. Nothing
 * is compacted during the first period after run; then, once the compaction interval has
 * passed since the last success, it compacts to the oldest sample. A failure is retried at
 * the next sample (the window slid meanwhile); an ErrCompacted outcome counts as success.
 * While paused it keeps sampling but does not compact.
 *
 * E.g. period 5m: sample every 30s, first compaction after 5m, then every 5m, each to the
 * revision of about 5m before. Period 24h: sample every 6m, first compaction after 24h, then
 * every hour, each to the revision of about 24h before.
 */
export class Periodic extends TimedCompactor {
  /** compactIntervalMs is the time between successful compactions after the first period. */
  readonly compactIntervalMs: number;
  /** retryIntervalMs is the time between samples (and between a failure and its retry). */
  readonly retryIntervalMs: number;
  /** retentions is how many samples the window holds. */
  readonly retentions: number;
  private readonly periodMs: number;
  private readonly periodText: string;
  private readonly retryText: string;
  /** revs is the window of sampled revisions, oldest first. */
  private revs: bigint[] = [];
  private lastSuccess = 0;
  private baseIntervalMs = 0;

  constructor(
    private readonly logger: Logger,
    clock: Clock,
    period: bigint,
    private readonly rg: RevGetter,
    c: Compactable,
  ) {
    super(clock, c);
    if (period <= 0n) throw new Error(`periodic compactor: period must be positive, got ${period}ns`);
    const capped = period > HOUR_NS ? HOUR_NS : period;
    const retry = capped / RETRY_DIVISOR;
    if (retry <= 0n) throw new Error(`periodic compactor: period ${formatGoDuration(period)} leaves no retry interval`);
    this.periodMs = nsToMs(period);
    this.compactIntervalMs = nsToMs(capped);
    this.retryIntervalMs = nsToMs(retry);
    this.retentions = Number(period / retry) + 1;
    this.periodText = formatGoDuration(period);
    this.retryText = formatGoDuration(retry);
  }

  run(): void {
    this.lastSuccess = this.clock.now();
    // The first compaction waits for a whole period; later ones for the compaction interval.
    this.baseIntervalMs = this.periodMs;
    this.sample();
  }

  /** sample adds the current revision to the window and waits one retry interval. */
  private sample(): void {
    if (this.stopped) return;
    this.revs.push(this.rg.rev());
    // revs[0] stays the revision of about one period ago.
    if (this.revs.length > this.retentions) this.revs = this.revs.slice(1);
    this.after(this.retryIntervalMs, () => this.tick());
  }

  private tick(): void {
    if (this.paused || this.clock.now() - this.lastSuccess < this.baseIntervalMs) {
      this.sample();
      return;
    }
    if (this.baseIntervalMs === this.periodMs) this.baseIntervalMs = this.compactIntervalMs;
    const rev = this.revs[0] as bigint;
    this.logger.info("starting auto periodic compaction", { revision: rev, "compact-period": this.periodText });
    this.compactTo(rev, (ok, err) => {
      if (ok) {
        this.succeeded(rev);
        return;
      }
      if (!this.stopped) {
        this.logger.warn("failed auto periodic compaction", {
          revision: rev,
          "compact-period": this.periodText,
          "retry-interval": this.retryText,
          error: errorText(err),
        });
      }
      this.sample();
    });
  }

  private succeeded(rev: bigint): void {
    // etcd logs as "took" the time since the previous success.
    const now = this.clock.now();
    this.logger.info("completed auto periodic compaction", {
      revision: rev,
      "compact-period": this.periodText,
      took: formatGoDuration(BigInt(Math.round((now - this.lastSuccess) * 1e6))),
    });
    this.lastSuccess = now;
    this.sample();
  }
}
