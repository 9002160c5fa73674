/**
 * minimize.ts: shrinks an illegal history to a small witness that is still illegal.
 *
 * Every reduction it makes is a relaxation, so the witness proves the input illegal (if the
 * input had a linearization, the witness would have one too):
 *
 * 1. start from the failing partition: for layer (a), one key's operations, checked with the
 *    per-key layer only (a key's operations alone are not a history the full model, which
 *    counts every key's revisions, could accept); for layer (b), the whole history. When layer
 *    (a) failed, both are shrunk (the full layer can use step 3) and the smaller is returned;
 * 2. cut the history at the earliest time T that keeps it illegal (binary search): operations
 *    called after T are dropped, operations still running at T become unknown-outcome (output
 *    unknown, return Infinity, no persisted revision). Any linearization of the input orders
 *    every answer known by T before every operation called after T, so this is sound;
 * 3. for a failure of the full layer, start later: when every revision 2..R was written by one
 *    operation whose answer is known, the state at revision R is the replay of those writes
 *    (and of the lease grants and revokes answered at lower revisions), whatever the order of
 *    everything else. The witness then starts from that state (`initial`) and keeps only the
 *    operations that can come after it; R is the highest that keeps it illegal (binary search);
 * 4. greedy delta debugging over the operations that changed nothing (ranges, definite errors,
 *    deletes that deleted nothing, read-only txns): remove chunks (halves, quarters, ... single
 *    operations) while the check stays illegal.
 *
 * Writes are never removed: in etcd's model every later answer counts revisions and versions,
 * so a history without one of its writes is illegal whatever the store did, and its
 * "illegality" would witness nothing. Operation numbers index the input.
 */
import type { Operation } from "./history.js";
import { checkKv, type KvCheckOptions, type KvFailure } from "./check_kv.js";
import { formatHistory } from "./format.js";
import { canonicalState, initialState, requestWrites, resultHadNoEffect, revisionLimit, stateEqual, step, type KvState } from "./model.js";
import type { Verdict } from "./search.js";

/** MinimizeOptions bound the work: checks run, steps per check, overall wall time. */
export interface MinimizeOptions {
  /** maxChecks: checkKv runs allowed (default 400). */
  maxChecks?: number;
  /** maxStepsPerCheck: search steps per run (default 2,000,000); a run out of steps counts as "not illegal". */
  maxStepsPerCheck?: number;
  /** timeoutMs: wall time for the whole minimization (default none). */
  timeoutMs?: number;
}

/** MinimizeResult is the witness: operations (still illegal) and where they came from. */
export interface MinimizeResult {
  /** verdict of the input history; only "illegal" is minimized. */
  verdict: Verdict;
  /** operations: the witness, in input order (operations running at the cut made unknown). */
  operations: Operation[];
  /** indices: each witness operation's index in the input. */
  indices: number[];
  /** checks: checkKv runs made. */
  checks: number;
  /** complete: every reduction pass ran to its end (false when a budget stopped it). */
  complete: boolean;
  /** cut: the time of the cut (operations called after it were dropped), when one was made. */
  cut?: number;
  /** failure: the witness's failure, numbered in `operations`. */
  failure?: KvFailure;
  /** initial: the state the witness starts from; absent: a fresh etcd. */
  initial?: KvState;
  /** options: how to check the witness again: checkKv(operations, options) (its layer, its initial state). */
  options: KvCheckOptions;
}

interface Item {
  index: number;
  op: Operation;
}

/** Checker runs budgeted checks for one minimization. */
class Checker {
  checks = 0;
  complete = true;
  private readonly deadline: number;

  constructor(
    private readonly maxChecks: number,
    readonly maxSteps: number,
    timeoutMs: number | undefined,
  ) {
    this.deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
  }

  /** illegal runs one check; undefined when the budget is out. */
  illegal(items: readonly Item[], opts: KvCheckOptions): boolean | undefined {
    if (this.checks >= this.maxChecks || performance.now() > this.deadline) {
      this.complete = false;
      return undefined;
    }
    this.checks++;
    return checkKv(
      items.map((it) => it.op),
      opts,
    ).verdict === "illegal";
  }
}

/**
 * minimize shrinks an illegal history (see the file comment); other verdicts return the input
 * unchanged. When layer (a) failed, the failing key's partition is shrunk with the per-key
 * layer and the whole history with the full layer (which can start from a replayed prefix);
 * the smaller witness is returned.
 */
export function minimize(ops: readonly Operation[], opts: MinimizeOptions = {}): MinimizeResult {
  const checker = new Checker(opts.maxChecks ?? 400, opts.maxStepsPerCheck ?? 2_000_000, opts.timeoutMs);
  const maxSteps = checker.maxSteps;
  const first = checkKv(ops, { maxSteps });
  checker.checks++;
  if (first.verdict !== "illegal" || first.failure === undefined) {
    return { verdict: first.verdict, operations: [...ops], indices: ops.map((_, i) => i), checks: checker.checks, complete: true, options: {} };
  }
  const witnesses: MinimizeResult[] = [];
  if (first.failure.layer === "per-key") {
    witnesses.push(shrink(ops, first.failure.operations, { maxSteps, full: false }, checker));
    const full = checkKv(ops, { maxSteps, perKey: false });
    checker.checks++;
    if (full.verdict === "illegal" && full.failure !== undefined) {
      witnesses.push(shrink(ops, full.failure.operations, { maxSteps, perKey: false }, checker));
    }
  } else {
    witnesses.push(shrink(ops, first.failure.operations, { maxSteps, perKey: false }, checker));
  }
  const best = witnesses.reduce((a, b) => (b.operations.length < a.operations.length ? b : a));
  return { ...best, checks: checker.checks, complete: checker.complete };
}

/** shrink minimizes the partition `indices` of `ops` with the layer `layerOpts` selects. */
function shrink(ops: readonly Operation[], indices: readonly number[], layerOpts: KvCheckOptions, checker: Checker): MinimizeResult {
  let items: Item[] = indices.map((index) => ({ index, op: ops[index] as Operation }));
  let initial: KvState | undefined;
  const illegal = (trial: readonly Item[], from: KvState | undefined = initial): boolean | undefined =>
    checker.illegal(trial, from === undefined ? layerOpts : { ...layerOpts, initial: from });

  // 2. The earliest cut that stays illegal.
  const times = [...new Set(items.map((it) => it.op.return).filter((t) => t !== Infinity))].sort((a, b) => a - b);
  let cut: number | undefined;
  let lo = 0;
  let hi = times.length; // times[hi] (or no cut when hi === length) is known illegal
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const r = illegal(cutAt(items, times[mid] as number));
    if (r === undefined) break;
    if (r) hi = mid;
    else lo = mid + 1;
  }
  if (hi < times.length) {
    cut = times[hi] as number;
    items = cutAt(items, cut);
  }

  // 3. Start from a replayed prefix (full layer only: the per-key layer has no such state).
  if (layerOpts.perKey === false) {
    const plan = planPrefix(items);
    let lo2 = 0;
    let hi2 = plan.length; // plan[lo2 - 1] is known illegal (none: the history as it is)
    while (lo2 < hi2) {
      const mid = (lo2 + hi2 + 1) >> 1;
      const p = plan[mid - 1] as Prefix;
      const r = illegal(p.items, p.initial);
      if (r === undefined) break;
      if (r) lo2 = mid;
      else hi2 = mid - 1;
    }
    if (lo2 > 0) {
      const p = plan[lo2 - 1] as Prefix;
      items = p.items;
      initial = p.initial;
    }
  }

  // 4. Remove operations that changed nothing, in shrinking chunks.
  const removable = (it: Item): boolean =>
    it.op.output === undefined
      ? it.op.persistedRevision === undefined && !requestWrites(it.op.input)
      : resultHadNoEffect(it.op.input, it.op.output);
  let size = Math.max(1, Math.ceil(items.filter(removable).length / 2));
  let stopped = false;
  while (!stopped) {
    const candidates = items.filter(removable);
    if (candidates.length === 0) break;
    for (let i = 0; i < candidates.length; ) {
      const chunk = new Set(candidates.slice(i, i + size));
      const trial = items.filter((it) => !chunk.has(it));
      const r = illegal(trial);
      if (r === undefined) {
        stopped = true;
        break;
      }
      if (r) {
        items = trial;
        candidates.splice(i, chunk.size);
      } else {
        i += size;
      }
    }
    if (size === 1) break;
    size = Math.ceil(size / 2);
  }

  const operations = items.map((it) => it.op);
  const options: KvCheckOptions = initial === undefined ? layerOpts : { ...layerOpts, initial };
  const final = checkKv(operations, options);
  checker.checks++;
  const result: MinimizeResult = {
    verdict: "illegal",
    operations,
    indices: items.map((it) => it.index),
    checks: checker.checks,
    complete: checker.complete,
    options,
  };
  if (cut !== undefined) result.cut = cut;
  if (final.failure !== undefined) result.failure = final.failure;
  if (initial !== undefined) result.initial = initial;
  return result;
}

/** formatWitness prints a witness: the state it starts from (when not a fresh etcd), then its operations. */
export function formatWitness(m: MinimizeResult): string {
  const head = m.initial === undefined ? "from a fresh etcd (revision 1):" : `from the state every linearization reaches at revision ${m.initial.revision}: ${canonicalState(m.initial)}`;
  const tail = m.failure === undefined ? "" : `\n${m.failure.explanation}`;
  return `${head}\n${formatHistory(m.operations)}${tail}`;
}

/** Prefix is a witness that starts at revision `revision` from `initial`, with the operations that can follow it. */
interface Prefix {
  revision: number;
  initial: KvState;
  items: Item[];
}

/** definiteRevision is the revision an item is known to have written at, if it is known to have written. */
function definiteRevision(op: Operation): number | undefined {
  if (op.output === undefined) return op.persistedRevision;
  const out = op.output;
  if (out.type === "error" || out.type === "range" || out.type === "leaseGrant" || out.type === "leaseRevoke") return undefined;
  return resultHadNoEffect(op.input, out) ? undefined : out.revision;
}

/**
 * planPrefix lists, for R = 2, 3, ..., the witness that starts from the state at revision R,
 * for as long as that state is the same in every linearization. It replays revision by
 * revision: the lease grants and revokes answered at revision r - 1, then the write of r (the
 * one operation known to have written r or, failing one, a known lease revoke answered r).
 * Every order of those lease operations and every choice of writer that the real-time order
 * allows (a writer of r is called before any operation answered at r or later returns, and
 * returns after every operation answered below r is called) and that replays with the
 * recorded answers is tried; the plan stops at the first revision where they do not all lead
 * to one state by one writer, or where an unknown-outcome lease operation was called before
 * the write of r returned (its effect might precede the cut). Dropped from each witness: the
 * replayed operations, those answered below R, and definite errors called before the write of
 * R returned (they may precede the cut; dropping an operation that changed nothing only
 * relaxes the history).
 */
function planPrefix(items: readonly Item[]): Prefix[] {
  const writers = new Map<number, Item[]>();
  const leaseOps = new Map<number, Item[]>();
  const push = (m: Map<number, Item[]>, k: number, it: Item): void => {
    const l = m.get(k);
    if (l === undefined) m.set(k, [it]);
    else l.push(it);
  };
  let top = 0;
  const unknownLease: Item[] = [];
  const limited: { it: Item; limit: number }[] = [];
  for (const it of items) {
    const r = definiteRevision(it.op);
    if (r !== undefined) push(writers, r, it);
    const out = it.op.output;
    if (out !== undefined && (out.type === "leaseGrant" || out.type === "leaseRevoke")) push(leaseOps, out.revision, it);
    if (out === undefined && (it.op.input.type === "leaseGrant" || it.op.input.type === "leaseRevoke")) unknownLease.push(it);
    if (r !== undefined) top = Math.max(top, r);
    if (out !== undefined && out.type !== "error") limited.push({ it, limit: revisionLimit(it.op.input, out) });
  }
  /** canWrite: the real-time order lets `w` be the write of revision r. */
  const canWrite = (w: Item, r: number): boolean =>
    limited.every(({ it, limit }) => it === w || (limit >= r ? it.op.return >= w.op.call : it.op.call <= w.op.return));

  const plan: Prefix[] = [];
  const replayed = new Set<Item>();
  let state = initialState();
  for (let r = 2; r <= top; r++) {
    const lease = (leaseOps.get(r - 1) ?? []).filter((it) => !replayed.has(it));
    if (lease.length > MAX_LEASE_PERMUTATION) break;
    const ws = writers.get(r) ?? [];
    if (ws.length > 1) break;
    const candidates = ws.length === 1 ? ws : (leaseOps.get(r) ?? []).filter((it) => it.op.input.type === "leaseRevoke");
    const outcomes: { writer: Item; state: KvState }[] = [];
    for (const w of candidates) {
      if (!canWrite(w, r)) continue;
      for (const order of orders(lease)) {
        let st = state;
        let ok = true;
        for (const it of order) {
          const x = step(st, it.op.input, it.op.output);
          if (!x.ok || x.next.revision !== r - 1) ok = false;
          st = x.next;
          if (!ok) break;
        }
        if (!ok) continue;
        const x = step(st, w.op.input, w.op.output, w.op.persistedRevision);
        if (x.ok && x.next.revision === r) outcomes.push({ writer: w, state: x.next });
      }
    }
    const first = outcomes[0];
    if (first === undefined || outcomes.some((o) => o.writer !== first.writer || !stateEqual(o.state, first.state))) break;
    const writer = first.writer;
    state = first.state;
    for (const it of lease) replayed.add(it);
    replayed.add(writer);
    const written = writer.op.return;
    if (unknownLease.some((it) => it.op.call <= written)) break;
    const kept = items.filter((it) => {
      if (replayed.has(it)) return false;
      const out = it.op.output;
      if (out === undefined) return true;
      if (out.type === "error") return it.op.call > written;
      return revisionLimit(it.op.input, out) >= r;
    });
    plan.push({ revision: r, initial: state, items: kept });
  }
  return plan;
}

/** MAX_LEASE_PERMUTATION bounds the lease operations of one revision planPrefix orders every way. */
const MAX_LEASE_PERMUTATION = 5;

/** orders lists every permutation of `xs` that keeps the real-time order (a returned before b was called: a first). */
function orders(xs: readonly Item[]): Item[][] {
  if (xs.length === 0) return [[]];
  const out: Item[][] = [];
  const walk = (rest: readonly Item[], acc: Item[]): void => {
    if (rest.length === 0) {
      out.push(acc);
      return;
    }
    rest.forEach((x, i) => {
      // x may go next only if nothing left must precede it.
      if (rest.some((y, j) => j !== i && y.op.return < x.op.call)) return;
      walk([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, x]);
    });
  };
  walk(xs, []);
  return out;
}

/** cutAt drops operations called after `t` and makes those still running at `t` unknown-outcome. */
function cutAt(items: readonly Item[], t: number): Item[] {
  const out: Item[] = [];
  for (const it of items) {
    if (it.op.call > t) continue;
    if (it.op.return <= t) {
      out.push(it);
      continue;
    }
    if (!requestWrites(it.op.input)) continue; // an unknown read changes nothing and accepts anything
    const { persistedRevision: _dropped, ...rest } = it.op;
    out.push({ index: it.index, op: { ...rest, output: undefined, return: Infinity } });
  }
  return out;
}
