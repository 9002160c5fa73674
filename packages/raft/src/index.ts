/**
 * @etcd-ts/raft is the Raft consensus algorithm as a pure, deterministic state machine,
 * modeled on etcd-io/raft. Inputs: ticks, messages, proposals. Output: Ready batches (see
 * Ready for the persist-before-send ordering contract). No timers, I/O or ambient randomness.
 */
export {
  ErrCompacted,
  ErrProposalDropped,
  ErrSnapOutOfDate,
  ErrSnapshotTemporarilyUnavailable,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  ErrUnavailable,
  RaftInvariantError,
} from "./errors.js";
export { ConfChangeError } from "./confchange.js";
export { discardLogger, type Logger } from "./logger.js";
export { seededRandom } from "./rand.js";
export { ReadOnlyOption, type ReadState } from "./read_only.js";
export { StateType, type Config, type SoftState } from "./raft.js";
export { RawNode, type Peer, type Ready } from "./rawnode.js";
export type { ProgressStatus, Status } from "./status.js";
export { MemoryStorage, type Storage } from "./storage.js";
export { ProgressStateType } from "./tracker/progress.js";
export {
  entrySize,
  isEmptyHardState,
  isEmptySnap,
  isLocalMsg,
  isResponseMsg,
  mustSync,
  noLimit,
  None,
} from "./util.js";
