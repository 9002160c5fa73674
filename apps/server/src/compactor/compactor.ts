import type { etcdserverpb } from "@etcd-ts/proto";
import { MvccError } from "@etcd-ts/mvcc";
import { Errors } from "../errors.js";

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
