/**
 * Errors raised by the raft package. Storage implementations throw ErrCompacted,
 * ErrUnavailable, ErrSnapOutOfDate and ErrSnapshotTemporarilyUnavailable; RawNode throws
 * ErrProposalDropped, ErrStepLocalMsg and ErrStepPeerNotFound. Callers test with instanceof.
 */

/** ErrCompacted: the requested index is below the first index (it was compacted away). */
export class ErrCompacted extends Error {
  constructor() {
    super("raft: requested index is unavailable due to compaction");
    this.name = "ErrCompacted";
  }
}

/** ErrSnapOutOfDate: the requested snapshot index is older than the existing snapshot. */
export class ErrSnapOutOfDate extends Error {
  constructor() {
    super("raft: requested index is older than the existing snapshot");
    this.name = "ErrSnapOutOfDate";
  }
}

/** ErrUnavailable: the requested entry is not (yet) in the storage. */
export class ErrUnavailable extends Error {
  constructor() {
    super("raft: requested entry at index is unavailable");
    this.name = "ErrUnavailable";
  }
}

/**
 * ErrSnapshotTemporarilyUnavailable: the storage cannot produce a snapshot right now; raft
 * retries sending the snapshot later.
 */
export class ErrSnapshotTemporarilyUnavailable extends Error {
  constructor() {
    super("raft: snapshot is temporarily unavailable");
    this.name = "ErrSnapshotTemporarilyUnavailable";
  }
}

/**
 * ErrProposalDropped: the proposal was not appended (no leader known, leadership transfer in
 * progress, uncommitted size limit, or this node was removed). The caller may retry.
 */
export class ErrProposalDropped extends Error {
  constructor() {
    super("raft: raft proposal dropped");
    this.name = "ErrProposalDropped";
  }
}

/** ErrStepLocalMsg: a local-only message type (MsgHup, MsgBeat, ...) was passed to step(). */
export class ErrStepLocalMsg extends Error {
  constructor() {
    super("raft: cannot step raft local message");
    this.name = "ErrStepLocalMsg";
  }
}

/** ErrStepPeerNotFound: a response message came from a peer that is not in the configuration. */
export class ErrStepPeerNotFound extends Error {
  constructor() {
    super("raft: cannot step as peer not found");
    this.name = "ErrStepPeerNotFound";
  }
}

/**
 * RaftInvariantError: an internal invariant was violated (the equivalent of a panic in
 * etcd-io/raft). It means a bug or corrupted input; the node must not continue.
 */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(`raft: ${message}`);
    this.name = "RaftInvariantError";
  }
}
