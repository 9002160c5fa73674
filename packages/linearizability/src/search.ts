/**
 * search.ts: the linearizability search of Wing & Gong with Lowe's improvements, as Porcupine
 * (github.com/anishathalye/porcupine, checker.go) implements it:
 *
 * - every operation is a call event and a return event; the events, sorted by time, form a
 *   doubly linked list. At equal times calls come before returns (Porcupine's order): two
 *   operations whose ends touch are treated as concurrent, which can only accept more, never
 *   reject a history that a finer clock would accept. An operation whose return is Infinity
 *   (unknown outcome) has its return event after every other event.
 * - the search walks the list from its head: at a call it tries to linearize that operation
 *   next (model step); on success the call and its return are lifted out of the list and the
 *   walk restarts from the head; at a return event (an operation that had to be linearized by
 *   now but was not) it backtracks: pops the last linearized operation, unlifts it and tries
 *   the next candidate after it. The history is linearizable when the list empties.
 * - Lowe's cache: a (set of linearized operations, model state) pair already explored is not
 *   explored again. The set is a bitset with an incremental Zobrist hash; the state's hash and
 *   equality come from the model.
 *
 * P-compositionality: `checkPartitions` checks independent sub-histories (e.g. one per key)
 * separately; the history is linearizable iff every one is.
 *
 * The search is pure; its only clock is the optional deadline of a Budget.
 */

/** Verdict is a check's answer: "unknown" when its budget ran out first. */
export type Verdict = "ok" | "illegal" | "unknown";

/** TimedOperation is what the search needs of an operation: its call and return times (return may be Infinity). */
export interface TimedOperation {
  call: number;
  return: number;
}

/** SearchModel is a sequential specification: a deterministic step, a hash and an equality of states. */
export interface SearchModel<S, O> {
  init(): S;
  /** step is the state after `op` from `state`, or undefined when `op`'s recorded answer is impossible there. */
  step(state: S, op: O): S | undefined;
  hash(state: S): number;
  equal(a: S, b: S): boolean;
  /**
   * progress (optional, with `limit`): a measure of a state that no step decreases (etcd's
   * revision). With it the search prunes a step whose state has passed the limit of an
   * operation not yet linearized: that operation could never be linearized after it. This is
   * what keeps unknown-outcome writes from being tried at every point of a history.
   */
  progress?(state: S): number;
  /** limit (optional, with `progress`): the largest progress at which `op` can still be linearized (Infinity: any). */
  limit?(op: O): number;
}

/** BudgetOptions bound a check: `maxSteps` search steps and/or `timeoutMs` of wall time (measured with performance.now). */
export interface BudgetOptions {
  maxSteps?: number;
  timeoutMs?: number;
}

/** Budget is shared by the searches of one check; `steps` counts every search step taken. */
export class Budget {
  steps = 0;
  private readonly maxSteps: number;
  private readonly deadline: number;
  private out = false;

  constructor(opts: BudgetOptions = {}) {
    this.maxSteps = opts.maxSteps ?? Infinity;
    this.deadline = opts.timeoutMs === undefined ? Infinity : performance.now() + opts.timeoutMs;
  }

  /** spend takes one step; false once the budget is exhausted (and from then on). */
  spend(): boolean {
    if (this.out) return false;
    this.steps++;
    if (this.steps > this.maxSteps) this.out = true;
    else if (this.deadline !== Infinity && (this.steps & 1023) === 0 && performance.now() > this.deadline) this.out = true;
    return !this.out;
  }

  get exhausted(): boolean {
    return this.out;
  }

  /** remaining is what is left of this budget, as options for another budget that must end with it. */
  remaining(): BudgetOptions {
    const out: BudgetOptions = {};
    if (this.maxSteps !== Infinity) out.maxSteps = Math.max(0, this.maxSteps - this.steps);
    if (this.deadline !== Infinity) out.timeoutMs = Math.max(0, this.deadline - performance.now());
    return out;
  }
}

/** SearchResult is the outcome of one search; operation numbers are indices into its input. */
export interface SearchResult {
  verdict: Verdict;
  /** steps this search took. */
  steps: number;
  /** linearization (verdict ok): every operation, in an order the model accepts. */
  linearization?: number[];
  /** longest: the deepest partial linearization the search reached (verdict ok: all of them). */
  longest: number[];
  /** stuck: the operation whose return event stopped the deepest partial linearization. */
  stuck?: number;
  /**
   * blockedBy: at that point, an operation not yet linearized whose limit refused a step (see
   * SearchModel.progress): its recorded answer is what could not be reached.
   */
  blockedBy?: number;
}

/** zobrist is a fixed pseudo-random 32-bit value per operation number (splitmix32 of the index). */
function zobrist(i: number): number {
  let z = (Math.imul(i + 1, 0x9e3779b9) + 0x632be5ab) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

interface CacheEntry<S> {
  bits: Uint32Array;
  state: S;
}

function bitsEqual(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * search decides whether `ops` is linearizable with respect to `model`, within `budget`.
 * Operations must have call <= return.
 */
export function search<S, O extends TimedOperation>(
  model: SearchModel<S, O>,
  ops: readonly O[],
  budget: Budget = new Budget(),
  init: S = model.init(),
): SearchResult {
  const n = ops.length;
  const startSteps = budget.steps;
  if (n === 0) return { verdict: "ok", steps: 0, linearization: [], longest: [] };

  // Events: e = 2*op (call) or 2*op+1 (return), sorted by time, calls first at equal times.
  const m = 2 * n;
  const eventTime = (e: number): number => {
    const op = ops[e >> 1] as O;
    return (e & 1) === 0 ? op.call : op.return;
  };
  const events: number[] = [];
  for (let e = 0; e < m; e++) events.push(e);
  events.sort((a, b) => {
    const ta = eventTime(a);
    const tb = eventTime(b);
    if (ta < tb) return -1;
    if (ta > tb) return 1;
    const ka = a & 1;
    const kb = b & 1;
    return ka !== kb ? ka - kb : a - b;
  });

  // The linked list: node 0 is the head sentinel, node j+1 holds events[j]; -1 is null.
  const next = new Int32Array(m + 1);
  const prev = new Int32Array(m + 1);
  const nodeOp = new Int32Array(m + 1);
  const isCall = new Uint8Array(m + 1);
  const match = new Int32Array(m + 1);
  const returnNode = new Int32Array(n);
  for (let j = 0; j < m; j++) {
    const node = j + 1;
    const e = events[j] as number;
    nodeOp[node] = e >> 1;
    isCall[node] = (e & 1) === 0 ? 1 : 0;
    if ((e & 1) === 1) returnNode[e >> 1] = node;
  }
  for (let node = 0; node <= m; node++) {
    prev[node] = node - 1;
    next[node] = node === m ? -1 : node + 1;
    if (node > 0 && isCall[node] === 1) match[node] = returnNode[nodeOp[node] as number] as number;
  }

  const lift = (node: number): void => {
    next[prev[node] as number] = next[node] as number;
    prev[next[node] as number] = prev[node] as number;
    const r = match[node] as number;
    next[prev[r] as number] = next[r] as number;
    if (next[r] !== -1) prev[next[r] as number] = prev[r] as number;
  };
  const unlift = (node: number): void => {
    const r = match[node] as number;
    next[prev[r] as number] = r;
    if (next[r] !== -1) prev[next[r] as number] = r;
    next[prev[node] as number] = node;
    prev[next[node] as number] = node;
  };

  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  let zob = 0;
  const cache = new Map<number, CacheEntry<S>[]>();
  const calls: number[] = []; // nodes of the linearized calls, in order
  const states: S[] = []; // the state before each of them
  let state = init;
  let longest: number[] = [];
  let stuck: number | undefined;
  let blockedBy: number | undefined;
  let prunedBy = -1;
  const argminLimit = (): number => {
    let p = 1;
    while (p < size) p = tree[2 * p] === tree[p] ? 2 * p : 2 * p + 1;
    return p - size;
  };
  const extra = (): { stuck?: number; blockedBy?: number } => ({
    ...(stuck === undefined ? {} : { stuck }),
    ...(blockedBy === undefined ? {} : { blockedBy }),
  });

  // Pending limits: a min segment tree over the limits of the operations not linearized yet.
  const progress = model.progress;
  const limitOf = model.limit;
  const pruning = progress !== undefined && limitOf !== undefined;
  let size = 1;
  while (size < n) size *= 2;
  const tree = new Float64Array(pruning ? 2 * size : 0).fill(Infinity);
  const limits = new Float64Array(pruning ? n : 0);
  const setLimit = (i: number, v: number): void => {
    let p = size + i;
    tree[p] = v;
    for (p >>= 1; p >= 1; p >>= 1) tree[p] = Math.min(tree[2 * p] as number, tree[2 * p + 1] as number);
  };
  if (pruning) {
    for (let i = 0; i < n; i++) {
      limits[i] = (limitOf as (op: O) => number)(ops[i] as O);
      tree[size + i] = limits[i] as number;
    }
    for (let p = size - 1; p >= 1; p--) tree[p] = Math.min(tree[2 * p] as number, tree[2 * p + 1] as number);
  }

  let entry = next[0] as number;
  while (next[0] !== -1) {
    if (!budget.spend()) {
      return { verdict: "unknown", steps: budget.steps - startSteps, longest, ...extra() };
    }
    if (isCall[entry] === 1) {
      const op = nodeOp[entry] as number;
      let ns = model.step(state, ops[op] as O);
      if (ns !== undefined && pruning) {
        setLimit(op, Infinity);
        if ((progress as (s: S) => number)(ns) > (tree[1] as number)) {
          prunedBy = argminLimit();
          setLimit(op, limits[op] as number);
          ns = undefined;
        }
      }
      if (ns !== undefined) {
        const nz = (zob ^ zobrist(op)) >>> 0;
        const key = (nz ^ Math.imul(model.hash(ns), 0x27d4eb2d)) >>> 0;
        const w = op >>> 5;
        const bit = 1 << (op & 31);
        bits[w] = (bits[w] as number) | bit;
        const bucket = cache.get(key);
        let seen = false;
        if (bucket !== undefined) {
          for (const c of bucket) {
            if (bitsEqual(c.bits, bits) && model.equal(c.state, ns)) {
              seen = true;
              break;
            }
          }
        }
        if (!seen) {
          const ce = { bits: bits.slice(), state: ns };
          if (bucket === undefined) cache.set(key, [ce]);
          else bucket.push(ce);
          calls.push(entry);
          states.push(state);
          state = ns;
          zob = nz;
          lift(entry);
          prunedBy = -1;
          entry = next[0] as number;
          continue;
        }
        bits[w] = (bits[w] as number) & ~bit;
        if (pruning) setLimit(op, limits[op] as number);
      }
      entry = next[entry] as number;
    } else {
      // A return event: its operation should have been linearized by now.
      if (calls.length > longest.length || (calls.length === 0 && stuck === undefined)) {
        longest = calls.map((c) => nodeOp[c] as number);
        stuck = nodeOp[entry] as number;
        blockedBy = prunedBy >= 0 ? prunedBy : undefined;
      }
      if (calls.length === 0) {
        return { verdict: "illegal", steps: budget.steps - startSteps, longest, ...extra() };
      }
      const top = calls.pop() as number;
      state = states.pop() as S;
      const op = nodeOp[top] as number;
      bits[op >>> 5] = (bits[op >>> 5] as number) & ~(1 << (op & 31));
      zob = (zob ^ zobrist(op)) >>> 0;
      if (pruning) setLimit(op, limits[op] as number);
      unlift(top);
      prunedBy = -1;
      entry = next[top] as number;
    }
  }
  const linearization = calls.map((c) => nodeOp[c] as number);
  return { verdict: "ok", steps: budget.steps - startSteps, linearization, longest: linearization };
}

/** PartitionedResult is the outcome of checking every partition; `failed` names the first illegal one. */
export interface PartitionedResult {
  verdict: Verdict;
  steps: number;
  partitions: number;
  /** failed (illegal): the partition's operations (indices into the input) and its search result (in partition numbering). */
  failed?: { indices: number[]; result: SearchResult };
}

/**
 * checkPartitions checks each partition (index lists into `ops`; all of `ops` as one when
 * `partition` is absent), each from `init()` (default model.init), and combines the verdicts: illegal if any is, else unknown if any
 * ran out of budget, else ok. It stops at the first illegal partition.
 */
export function checkPartitions<S, O extends TimedOperation>(
  model: SearchModel<S, O>,
  ops: readonly O[],
  partition: ((ops: readonly O[]) => number[][]) | undefined,
  budget: Budget = new Budget(),
  init?: () => S,
): PartitionedResult {
  const parts = partition === undefined ? [ops.map((_, i) => i)] : partition(ops);
  const start = budget.steps;
  let unknown = false;
  for (const indices of parts) {
    const sub = indices.map((i) => ops[i] as O);
    const result = search(model, sub, budget, init === undefined ? model.init() : init());
    if (result.verdict === "illegal") {
      return { verdict: "illegal", steps: budget.steps - start, partitions: parts.length, failed: { indices, result } };
    }
    if (result.verdict === "unknown") unknown = true;
  }
  return { verdict: unknown ? "unknown" : "ok", steps: budget.steps - start, partitions: parts.length };
}
