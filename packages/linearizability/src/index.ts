/**
 * @etcd-ts/linearizability checks what a robustness run recorded against etcd's guarantees:
 * checkKv (a Porcupine-style linearizability search over etcd's KV and lease model), checkWatch
 * (etcd's watch guarantees), patchHistory (resolving unknown outcomes from what was observed),
 * minimize and formatHistory (small, readable witnesses). Pure: no I/O, no timers.
 */
export type {
  KeyValue,
  CompareTarget,
  CompareResult,
  Compare,
  PutOp,
  RangeOp,
  DeleteOp,
  TxnRequestOp,
  TxnOp,
  LeaseGrantOp,
  LeaseRevokeOp,
  Request,
  PutResult,
  RangeResult,
  DeleteResult,
  TxnOpResult,
  TxnResult,
  LeaseGrantResult,
  LeaseRevokeResult,
  ErrorResult,
  Result,
  Operation,
  WatchEvent,
  WatchResponse,
  WatchRequest,
  WatchHistory,
  History,
} from "./history.js";
export {
  checkKv,
  DEFAULT_MAX_STEPS,
  keyPartitions,
  validateHistory,
  fullModel,
  perKeyModel,
  type KvCheckOptions,
  type KvCheckResult,
  type KvFailure,
} from "./check_kv.js";
export {
  INITIAL_REVISION,
  initialState,
  apply,
  step,
  compare,
  resultEqual,
  stateEqual,
  stateHash,
  canonicalState,
  kvEqual,
  revisionLimit,
  requestWrites,
  resultHadNoEffect,
  type KvState,
  type Applied,
  type StepOutcome,
} from "./model.js";
export { keyOf, MULTI, initialKeyState, keyStep, keyStateEqual, describeKeyState, type KeyState } from "./key_model.js";
export {
  search,
  checkPartitions,
  Budget,
  type Verdict,
  type SearchModel,
  type SearchResult,
  type TimedOperation,
  type BudgetOptions,
  type PartitionedResult,
} from "./search.js";
export { minimize, formatWitness, type MinimizeOptions, type MinimizeResult } from "./minimize.js";
export { formatHistory, formatOperation, formatRequest, formatResult } from "./format.js";
export { checkWatch, type WatchCheckResult, type WatchViolation, type WatchViolationKind, type MergedEvent } from "./watch.js";
export { patchHistory, type PatchedHistory, type PatchSummary } from "./patch_history.js";
export { inRange, FROM_KEY } from "./keys.js";
