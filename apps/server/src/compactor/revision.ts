import type { Logger } from "../log.js";
import type { Clock } from "./clock.js";
import { errorText, TimedCompactor, type Compactable, type RevGetter } from "./compactor.js";
import { formatGoDuration } from "./go_duration.js";

/** REVISION_INTERVAL_MS is how often the revision compactor looks at the current revision (etcd: 5 minutes). */
export const REVISION_INTERVAL_MS = 5 * 60_000;

/**
 * Revision is etcd's revision compactor: it keeps the last `retention` revisions (> 0).
 * Every interval (5 minutes) it compacts to current revision - retention, unless that is not
 * positive or is the revision of its last success. A failure (e.g. a future revision) is
 * retried at the next interval; an ErrCompacted outcome counts as success. While paused it
 * does nothing.
 */
export class Revision extends TimedCompactor {
  /** prev is the revision of the last successful compaction (0: none yet). */
  private prev = 0n;
  private readonly intervalText: string;

  /** intervalMs is REVISION_INTERVAL_MS in a server; tests may shorten it. */
  constructor(
    private readonly logger: Logger,
    clock: Clock,
    private readonly retention: bigint,
    private readonly rg: RevGetter,
    c: Compactable,
    private readonly intervalMs: number = REVISION_INTERVAL_MS,
  ) {
    super(clock, c);
    if (retention <= 0n) throw new Error(`revision compactor: retention must be positive, got ${retention}`);
    this.intervalText = formatGoDuration(BigInt(Math.round(intervalMs * 1e6)));
  }

  run(): void {
    this.wait();
  }

  private wait(): void {
    this.after(this.intervalMs, () => this.tick());
  }

  private tick(): void {
    if (this.paused) {
      this.wait();
      return;
    }
    const rev = this.rg.rev() - this.retention;
    if (rev <= 0n || rev === this.prev) {
      this.wait();
      return;
    }
    const start = this.clock.now();
    this.logger.info("starting auto revision compaction", { revision: rev, "revision-compaction-retention": this.retention });
    this.compactTo(rev, (ok, err) => {
      if (ok) {
        this.succeeded(rev, start);
        return;
      }
      if (!this.stopped) {
        this.logger.warn("failed auto revision compaction", {
          revision: rev,
          "revision-compaction-retention": this.retention,
          "retry-interval": this.intervalText,
          error: errorText(err),
        });
      }
      this.wait();
    });
  }

  private succeeded(rev: bigint, start: number): void {
    this.prev = rev;
    this.logger.info("completed auto revision compaction", {
      revision: rev,
      "revision-compaction-retention": this.retention,
      took: formatGoDuration(BigInt(Math.round((this.clock.now() - start) * 1e6))),
    });
    this.wait();
  }
}
