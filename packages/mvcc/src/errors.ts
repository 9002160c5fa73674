/** MvccErrorCode names the failures the store reports to its callers. */
export type MvccErrorCode = "compacted" | "future_rev" | "key_not_found";

const messages: Record<MvccErrorCode, string> = {
  compacted: "mvcc: required revision has been compacted",
  future_rev: "mvcc: required revision is a future revision",
  key_not_found: "etcdserver: key not found",
};

/**
 * MvccError is a request error of the store, with etcd's exact message: reading or compacting
 * below the compacted revision, reading above the current revision, or ignore_value /
 * ignore_lease on a key that does not exist.
 */
export class MvccError extends Error {
  readonly code: MvccErrorCode;

  constructor(code: MvccErrorCode) {
    super(messages[code]);
    this.name = "MvccError";
    this.code = code;
  }
}

/** ErrCompacted, ErrFutureRev and ErrKeyNotFound build the three MvccErrors. */
export const ErrCompacted = (): MvccError => new MvccError("compacted");
export const ErrFutureRev = (): MvccError => new MvccError("future_rev");
export const ErrKeyNotFound = (): MvccError => new MvccError("key_not_found");
