/** MvccErrorCode names the failures the store reports to its callers. */
export type MvccErrorCode = "compacted" | "future_rev";

const messages: Record<MvccErrorCode, string> = {
  compacted: "mvcc: required revision has been compacted",
  future_rev: "mvcc: required revision is a future revision",
};

/**
 * MvccError is a request error of the store, with etcd's exact message: reading or compacting
 * below the compacted revision, or reading above the current revision.
 */
export class MvccError extends Error {
  readonly code: MvccErrorCode;

  constructor(code: MvccErrorCode) {
    super(messages[code]);
    this.name = "MvccError";
    this.code = code;
  }
}

/** ErrCompacted and ErrFutureRev build the two MvccErrors. */
export const ErrCompacted = (): MvccError => new MvccError("compacted");
export const ErrFutureRev = (): MvccError => new MvccError("future_rev");

/**
 * CompactionInterrupted reports a compaction whose deletions stopped because the store closed
 * (a member stopping): not a failure, the compaction resumes when the store opens again.
 */
export class CompactionInterrupted extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CompactionInterrupted";
  }
}
