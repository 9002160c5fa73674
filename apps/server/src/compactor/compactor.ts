import type { etcdserverpb } from "@etcd-ts/proto";
import { MvccError } from "@etcd-ts/mvcc";
import { Errors } from "../errors.js";
import type { Clock } from "./clock.js";

/**
 * compactor.ts declares what etcd 3.4's auto-compactors (etcdserver/api/v3compactor) are and
 * what they use. Two kinds exist: Periodic (periodic.ts) keeps a time window of history,
 * Revision (revision.ts) a number of revisions. auto_compactor.ts makes the one the flags ask
 * for and runs it on the raft leader only.
 */

/**
 * Compactor compacts the key-value history in the background. run starts it; stop ends it
 * for good (no timer is left); pause makes it skip compactions (a member that is not the
 * leader) until resume.
 */
export interface Compactor {
  run(): void;
  stop(): void;
  pause(): void;
  resume(): void;
}

/**
 * TimedCompactor is what both compactors share: stop, pause and resume, one pending timer,
 * and a compaction whose ErrCompacted outcome counts as success.
 */
export abstract class TimedCompactor implements Compactor {
  protected paused = false;
  protected stopped = false;
  private cancel: (() => void) | undefined;

  constructor(
    protected readonly clock: Clock,
    private readonly c: Compactable,
  ) {}

  abstract run(): void;

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  /** after calls fn once, ms from now, unless the compactor stops first. */
  protected after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    this.cancel = this.clock.after(ms, () => {
      this.cancel = undefined;
      if (!this.stopped) fn();
    });
  }

  /**
   * compactTo compacts to `rev` (not physically, as etcd's compactors) and calls done(true)
   * on success or ErrCompacted, done(false, err) on another failure.
   */
  protected compactTo(rev: bigint, done: (ok: boolean, err?: unknown) => void): void {
    this.c.compact({ revision: rev, physical: false }).then(
      () => done(true),
      (err: unknown) => (isErrCompacted(err) ? done(true) : done(false, err)),
    );
  }
}

/**
 * Compactable is where a compactor sends its compactions: the server's normal Compact path
 * (a Compaction request proposed through raft, applied by every member).
 */
export interface Compactable {
  compact(req: etcdserverpb.CompactionRequest): Promise<unknown>;
}

/** RevGetter reads the store's current revision. */
export interface RevGetter {
  rev(): bigint;
}

/**
 * isErrCompacted tells etcd's mvcc.ErrCompacted apart, which a compactor counts as success:
 * the revision it asked for is compacted already (another compaction went further).
 */
export function isErrCompacted(err: unknown): boolean {
  return err === Errors.compacted || (err instanceof MvccError && err.code === "compacted");
}

/** errorText is the text of a failed compaction's error, for the log. */
export function errorText(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
