/**
 * check_kv.ts: checkKv, the linearizability check of a history's KV and lease operations, in
 * two layers:
 *
 * (a) per key: when every operation touches at most one key (puts, single-key ranges and
 *     deletes, txns over one key, lease grants; no lease revokes), each key's operations are
 *     checked alone against the per-key model (key_model.ts). It is fast and, when it fails,
 *     names a small partition. Skipped otherwise.
 * (b) full: all operations against the full model (model.ts), revisions included. Exact.
 *
 * (a) is a relaxation of (b), so an "illegal" from (a) is final; an "ok" from (a) goes on to (b).
 * Both share one budget (maxSteps / timeoutMs).
 *
 * Unknown outcomes are what makes the search expensive: each can take effect at any revision
 * no known answer claims, or never. Resolve what the history shows first (patchHistory).
 */
import type { Operation } from "./history.js";
import { describeKeyState, initialKeyState, keyOf, keyStateEqual, keyStateLow, keyStep, MULTI, type KeyState } from "./key_model.js";
import { formatOperation, formatResult } from "./format.js";
import { apply, canonicalState, initialState, requestWrites, revisionLimit, stateEqual, stateHash, step, type KvState } from "./model.js";
import { Budget, checkPartitions, type BudgetOptions, type SearchModel, type SearchResult, type Verdict } from "./search.js";

/**
 * KvCheckOptions: the budget (default DEFAULT_MAX_STEPS steps, no time limit; pass
 * `maxSteps: Infinity` for none), and which layers to run (both by default).
 */
export interface KvCheckOptions extends BudgetOptions {
  perKey?: boolean;
  full?: boolean;
  /**
   * initial: the state the history starts from (default: a fresh etcd). With it only the full
   * layer runs (minimize uses it for a witness that starts after a prefix it replayed).
   */
  initial?: KvState;
}

/** KvFailure says where an illegal history failed; operation numbers index the checked list. */
export interface KvFailure {
  layer: "per-key" | "full";
  /** key: the partition's key (layer per-key). */
  key?: string;
  /** operations: the failing partition (all operations for layer full), in input order. */
  operations: number[];
  /** longest: the deepest partial linearization the search reached, in linearization order. */
  longest: number[];
  /** stuck: the operation whose return the deepest partial linearization could not pass. */
  stuck?: number;
  /** blockedBy: an operation whose recorded revision that linearization had already passed (see SearchResult.blockedBy). */
  blockedBy?: number;
  /** explanation: the model's state after `longest` and what it answers to `stuck`. */
  explanation: string;
}

/** KvCheckResult is checkKv's answer: the verdict, each layer's, the steps spent. */
export interface KvCheckResult {
  verdict: Verdict;
  perKey: Verdict | "skipped";
  full: Verdict | "skipped";
  steps: number;
  failure?: KvFailure;
}

/** fullModel is model.ts as a SearchModel over Operations. */
export const fullModel: SearchModel<KvState, Operation> = {
  init: initialState,
  step: (s, op) => {
    const r = step(s, op.input, op.output, op.persistedRevision);
    return r.ok ? r.next : undefined;
  },
  hash: stateHash,
  equal: stateEqual,
  progress: (s) => s.revision,
  limit: (op) => revisionLimit(op.input, op.output, op.persistedRevision),
};

/** perKeyModel is key_model.ts as a SearchModel over one key's Operations. */
export const perKeyModel: SearchModel<KeyState, Operation> = {
  init: initialKeyState,
  step: keyStep,
  hash: (s) => s.hash,
  equal: keyStateEqual,
  progress: keyStateLow,
  limit: (op) => revisionLimit(op.input, op.output, op.persistedRevision),
};

/**
 * keyPartitions splits a history by key for layer (a): one index list per key, in input order,
 * operations touching no key left out. Undefined when some operation touches several keys.
 */
export function keyPartitions(ops: readonly Operation[]): Map<string, number[]> | undefined {
  const parts = new Map<string, number[]>();
  for (let i = 0; i < ops.length; i++) {
    const k = keyOf((ops[i] as Operation).input);
    if (k === MULTI) return undefined;
    if (k === null) continue;
    const list = parts.get(k);
    if (list === undefined) parts.set(k, [i]);
    else list.push(i);
  }
  return parts;
}

/** validateHistory throws on an operation the search cannot take (a return before its call, a NaN time). */
export function validateHistory(ops: readonly Operation[]): void {
  ops.forEach((op, i) => {
    if (Number.isNaN(op.call) || Number.isNaN(op.return) || op.call === Infinity || op.return < op.call) {
      throw new Error(`operation ${i} has call ${op.call} and return ${op.return}: need call <= return, call finite`);
    }
  });
}

/**
 * DEFAULT_MAX_STEPS bounds a check when the caller sets no budget: about half a minute of
 * search. A history left with many unknown-outcome writes (run patchHistory first) can make the
 * search exponential when it is not linearizable; the verdict is then "unknown".
 */
export const DEFAULT_MAX_STEPS = 10_000_000;

/**
 * PER_KEY_STEPS is the per-key layer's own step allowance per checked operation (plus a floor):
 * the layer is a shortcut, so when its weaker constraints let a search wander, the check goes on
 * to the exact layer instead of spending the whole budget there.
 */
const PER_KEY_STEPS = 50;
const PER_KEY_FLOOR = 100_000;

/**
 * checkKv checks that `ops` is linearizable with respect to etcd's KV and lease semantics
 * (layers (a) then (b), see the file comment). Operations with an unknown outcome that cannot
 * write (ranges, read-only txns) are left out first: they accept any answer and change nothing.
 * Operation numbers in the result index `ops`.
 */
export function checkKv(ops: readonly Operation[], opts: KvCheckOptions = {}): KvCheckResult {
  validateHistory(ops);
  const budget = new Budget({ ...opts, maxSteps: opts.maxSteps ?? DEFAULT_MAX_STEPS });
  const kept: number[] = [];
  ops.forEach((op, i) => {
    if (op.output !== undefined || op.persistedRevision !== undefined || requestWrites(op.input)) kept.push(i);
  });
  const checked = kept.map((i) => ops[i] as Operation);

  let perKey: Verdict | "skipped" = "skipped";
  const initial = opts.initial;
  if (opts.perKey !== false && initial === undefined) {
    const parts = keyPartitions(checked);
    if (parts !== undefined) {
      const keys = [...parts.keys()];
      const lists = keys.map((k) => parts.get(k) as number[]);
      const left = budget.remaining();
      const own = new Budget({ ...left, maxSteps: Math.min(left.maxSteps ?? Infinity, PER_KEY_FLOOR + PER_KEY_STEPS * checked.length) });
      const r = checkPartitions(perKeyModel, checked, () => lists, own);
      budget.steps += own.steps;
      perKey = r.verdict;
      if (r.failed !== undefined) {
        const key = keys[lists.indexOf(r.failed.indices)] as string;
        const f = perKeyFailure(checked, key, r.failed.indices, r.failed.result);
        return {
          verdict: "illegal",
          perKey,
          full: "skipped",
          steps: budget.steps,
          failure: mapFailure(f, kept),
        };
      }
    }
  }
  let full: Verdict | "skipped" = "skipped";
  if (opts.full !== false) {
    const r = checkPartitions(fullModel, checked, undefined, budget, initial === undefined ? undefined : () => initial);
    full = r.verdict;
    if (r.failed !== undefined) {
      const f = fullFailure(checked, r.failed.result, initial ?? initialState());
      return {
        verdict: "illegal",
        perKey,
        full,
        steps: budget.steps,
        failure: mapFailure(f, kept),
      };
    }
  }
  const verdict: Verdict = full !== "skipped" ? full : perKey === "skipped" ? "ok" : perKey;
  return { verdict, perKey, full, steps: budget.steps };
}

/** mapFailure renumbers a failure from the checked list to the input list. */
function mapFailure(f: KvFailure, kept: readonly number[]): KvFailure {
  const at = (j: number): number => kept[j] as number;
  const out: KvFailure = { ...f, operations: f.operations.map(at), longest: f.longest.map(at) };
  if (f.stuck !== undefined) out.stuck = at(f.stuck);
  if (f.blockedBy !== undefined) out.blockedBy = at(f.blockedBy);
  return out;
}

function fullFailure(ops: readonly Operation[], result: SearchResult, initial: KvState): KvFailure {
  let state = initial;
  for (const i of result.longest) {
    const op = ops[i] as Operation;
    state = step(state, op.input, op.output, op.persistedRevision).next;
  }
  let explanation = `after ${result.longest.length} linearized operations the model is at ${canonicalState(state)}`;
  const failure: KvFailure = { layer: "full", operations: ops.map((_, i) => i), longest: result.longest, explanation };
  if (result.stuck !== undefined) {
    const op = ops[result.stuck] as Operation;
    failure.stuck = result.stuck;
    explanation += `; no remaining operation can be linearized before ${formatOperation(op)} returns`;
    explanation += ` (the model would answer it: ${formatResult(apply(state, op.input).result)})`;
  }
  if (result.blockedBy !== undefined) {
    const op = ops[result.blockedBy] as Operation;
    failure.blockedBy = result.blockedBy;
    explanation += `; linearizing further would pass the revision recorded by ${formatOperation(op)}`;
    explanation += ` (in this state the model would answer it: ${formatResult(apply(state, op.input).result)})`;
  }
  failure.explanation = explanation;
  return failure;
}

function perKeyFailure(ops: readonly Operation[], key: string, indices: number[], result: SearchResult): KvFailure {
  let state = initialKeyState();
  for (const j of result.longest) state = keyStep(state, ops[indices[j] as number] as Operation) ?? state;
  let explanation = `key ${JSON.stringify(key)}: after ${result.longest.length} linearized operations of the key it is ${describeKeyState(state)}`;
  const failure: KvFailure = {
    layer: "per-key",
    key,
    operations: indices,
    longest: result.longest.map((j) => indices[j] as number),
    explanation,
  };
  if (result.stuck !== undefined) {
    failure.stuck = indices[result.stuck] as number;
    explanation += `; no remaining operation of the key can be linearized before ${formatOperation(ops[failure.stuck] as Operation)} returns`;
  }
  if (result.blockedBy !== undefined) {
    failure.blockedBy = indices[result.blockedBy] as number;
    explanation += `; linearizing further would pass the revision recorded by ${formatOperation(ops[failure.blockedBy] as Operation)}`;
  }
  failure.explanation = explanation;
  return failure;
}
