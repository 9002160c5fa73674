/**
 * patch_history.ts: patchHistory resolves unknown-outcome operations from what the rest of the
 * history saw, as etcd's robustness tests do (tests/robustness/validate/patch_history.go),
 * before the KV check. Fewer unknowns make the search faster and stricter.
 *
 * Assumption: every value a run writes is unique (a put, or a put inside a txn, writes a value
 * no other write of the run writes to that key). Patching uses only (key, value) pairs written
 * exactly once; others are left alone.
 *
 * - An unknown range or read-only txn is dropped: it changed nothing and answers nothing.
 * - A put whose (key, value) was seen (a watch event, a kv in a known answer) took effect: its
 *   return time becomes the earliest time it was seen (it was linearized before that) and its
 *   revision is the seen kv's modRevision. Its output is set when it can be known in full
 *   (no prevKv asked, or the prevKv is known: a watch event's prevKv, or none for version 1);
 *   otherwise it stays unknown with `persistedRevision` set.
 * - A txn one of whose unique puts was seen took effect (by the branch holding that put): its
 *   return time is bounded the same way and `persistedRevision` is set; its output stays unknown.
 * - A put never seen although a watch covering its key was running from before the put's call
 *   through the end of the run (its last observed revision reaches the highest revision the
 *   history knows) did not take effect: it is dropped. A txn is dropped when each branch either
 *   writes nothing or holds such a put. (A write that took effect after every other operation
 *   and was seen by nobody is equivalent to one that never did.)
 * - Unknown deletes and lease operations are left as they are.
 *
 * Run checkWatch first: patching trusts the watches it reads.
 */
import type { History, KeyValue, Operation, PutResult, TxnRequestOp, WatchHistory } from "./history.js";
import { inRange } from "./keys.js";
import { requestWrites } from "./model.js";

/** PatchSummary lists what patchHistory changed, by index into the input's operations. */
export interface PatchSummary {
  /** resolved: unknown writes found to have taken effect (return time bounded, output or persistedRevision set). */
  resolved: number[];
  /** dropped: unknown writes found not to have taken effect, and unknown reads. */
  dropped: number[];
}

/** PatchedHistory is the patched history with its summary. */
export interface PatchedHistory extends History {
  patch: PatchSummary;
}

interface Sighting {
  revision: number;
  time: number;
  kv: KeyValue;
  /** prevKnown: prevKv below is the put's previous kv (a watch event that asked for it). */
  prevKnown: boolean;
  prevKv?: KeyValue;
}

const kvId = (key: string, value: string): string => `${key}\u0000${value}`;

/** patchHistory returns a copy of `history` with unknown outcomes resolved where the history shows them. */
export function patchHistory(history: History): PatchedHistory {
  const ops = history.operations;
  const puts = countPuts(ops);
  const seen = sightings(history);
  const maxRevision = highestRevision(history);
  const lowerBound = revisionLowerBound(ops);
  const resolved: number[] = [];
  const dropped: number[] = [];
  const operations: Operation[] = [];

  const unique = (key: string, value: string): boolean => puts.get(kvId(key, value)) === 1;
  const coveredToEnd = (op: Operation, key: string): boolean =>
    history.watches.some((w) => inRange(w.request.key, w.request.end, key) && lastObserved(w) >= maxRevision && startsBefore(w, op, history, lowerBound));

  ops.forEach((op, i) => {
    if (op.output !== undefined || op.persistedRevision !== undefined) {
      operations.push(op);
      return;
    }
    const input = op.input;
    if (!requestWrites(input)) {
      dropped.push(i);
      return;
    }
    if (input.type === "put" && unique(input.key, input.value)) {
      const s = seen.get(kvId(input.key, input.value));
      if (s !== undefined) {
        if (s.time < op.call) {
          operations.push(op); // seen before it was called: left for the checkers to report
          return;
        }
        const patched: Operation = { ...op, return: Math.min(op.return, s.time) };
        if (input.prevKv !== true) patched.output = { type: "put", revision: s.revision };
        else if (s.kv.version === 1) patched.output = { type: "put", revision: s.revision };
        else if (s.prevKnown) {
          const out: PutResult = { type: "put", revision: s.revision };
          if (s.prevKv !== undefined) out.prevKv = s.prevKv;
          patched.output = out;
        } else patched.persistedRevision = s.revision;
        operations.push(patched);
        resolved.push(i);
        return;
      }
      if (coveredToEnd(op, input.key)) {
        dropped.push(i);
        return;
      }
    }
    if (input.type === "txn") {
      let hit: Sighting | undefined;
      for (const sub of [...input.success, ...input.failure]) {
        if (sub.type !== "put" || !unique(sub.key, sub.value)) continue;
        const s = seen.get(kvId(sub.key, sub.value));
        if (s !== undefined && (hit === undefined || s.time < hit.time)) hit = s;
      }
      if (hit !== undefined && hit.time >= op.call) {
        operations.push({ ...op, return: Math.min(op.return, hit.time), persistedRevision: hit.revision });
        resolved.push(i);
        return;
      }
      const branchLost = (branch: readonly TxnRequestOp[]): boolean =>
        !branch.some((o) => o.type !== "range") ||
        branch.some((o) => o.type === "put" && unique(o.key, o.value) && !seen.has(kvId(o.key, o.value)) && coveredToEnd(op, o.key));
      if (hit === undefined && branchLost(input.success) && branchLost(input.failure)) {
        dropped.push(i);
        return;
      }
    }
    operations.push(op);
  });
  return { operations, watches: history.watches, patch: { resolved, dropped } };
}

/** countPuts counts, per (key, value), the puts of the history (plain and in either txn branch). */
function countPuts(ops: readonly Operation[]): Map<string, number> {
  const out = new Map<string, number>();
  const add = (key: string, value: string): void => {
    out.set(kvId(key, value), (out.get(kvId(key, value)) ?? 0) + 1);
  };
  for (const op of ops) {
    if (op.input.type === "put") add(op.input.key, op.input.value);
    if (op.input.type === "txn") for (const sub of [...op.input.success, ...op.input.failure]) if (sub.type === "put") add(sub.key, sub.value);
  }
  return out;
}

/** sightings: the earliest time each (key, value) was seen, in a watch put event or a known answer's kv. */
function sightings(history: History): Map<string, Sighting> {
  const out = new Map<string, Sighting>();
  const see = (kv: KeyValue, time: number, prev?: { kv: KeyValue | undefined }): void => {
    const k = kvId(kv.key, kv.value);
    const old = out.get(k);
    const s: Sighting = { revision: kv.modRevision, time, kv, prevKnown: prev !== undefined };
    if (prev?.kv !== undefined) s.prevKv = prev.kv;
    if (old === undefined) {
      out.set(k, s);
      return;
    }
    if (time < old.time) old.time = time;
    if (!old.prevKnown && s.prevKnown) {
      old.prevKnown = true;
      if (s.prevKv !== undefined) old.prevKv = s.prevKv;
    }
  };
  for (const w of history.watches) {
    for (const r of w.responses) {
      for (const e of r.events) {
        if (e.type === "put") see(e.kv, r.time, w.request.prevKv === true ? { kv: e.prevKv } : undefined);
      }
    }
  }
  for (const op of history.operations) {
    const out2 = op.output;
    if (out2 === undefined) continue;
    const results = out2.type === "txn" ? out2.results : [out2];
    for (const r of results) {
      if (r.type === "range") for (const kv of r.kvs) see(kv, op.return);
      else if (r.type === "put" && r.prevKv !== undefined) see(r.prevKv, op.return);
      else if (r.type === "delete") for (const kv of r.prevKvs ?? []) see(kv, op.return);
    }
  }
  return out;
}

/** highestRevision: the highest revision any answer, event or progress notify reports. */
function highestRevision(history: History): number {
  let max = 0;
  for (const op of history.operations) {
    if (op.output !== undefined && op.output.type !== "error") max = Math.max(max, op.output.revision);
    if (op.persistedRevision !== undefined) max = Math.max(max, op.persistedRevision);
  }
  for (const w of history.watches) max = Math.max(max, lastObserved(w));
  return max;
}

/** lastObserved: the last revision a watch observed (its last event or progress notify); 0 if none. */
function lastObserved(w: WatchHistory): number {
  let to = 0;
  for (const r of w.responses) {
    for (const e of r.events) to = Math.max(to, e.kv.modRevision);
    if (r.progressNotify) to = Math.max(to, r.revision);
  }
  return to;
}

/**
 * revisionLowerBound answers, for an operation, a revision its write cannot be below: one past
 * the highest header revision of the operations that returned before it was called.
 */
function revisionLowerBound(ops: readonly Operation[]): (op: Operation) => number {
  const done = ops
    .filter((o) => o.output !== undefined && o.output.type !== "error" && o.return !== Infinity)
    .map((o) => ({ ret: o.return, rev: (o.output as { revision: number }).revision }))
    .sort((a, b) => a.ret - b.ret);
  const prefixMax: number[] = [];
  let m = 0;
  for (const d of done) {
    m = Math.max(m, d.rev);
    prefixMax.push(m);
  }
  return (op) => {
    let lo = 0;
    let hi = done.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((done[mid] as { ret: number }).ret < op.call) lo = mid + 1;
      else hi = mid;
    }
    return (lo === 0 ? 0 : (prefixMax[lo - 1] as number)) + 1;
  };
}

/**
 * startsBefore: the watch (or the watches it resumes without a gap) covers every revision `op`
 * can have written at: a watch "from now" created before `op` was called, or one whose start
 * revision is at or below the lowest revision `op` could have.
 */
function startsBefore(w: WatchHistory, op: Operation, history: History, lowerBound: (op: Operation) => number): boolean {
  const visited = new Set<number>();
  let cur: WatchHistory | undefined = w;
  while (cur !== undefined && !visited.has(cur.watcher)) {
    visited.add(cur.watcher);
    const start = cur.request.startRevision ?? 0;
    if (start === 0 ? cur.created < op.call : start <= lowerBound(op)) return true;
    if (cur.resumeOf === undefined) return false;
    const parent: WatchHistory | undefined = history.watches.find((x) => x.watcher === cur?.resumeOf);
    if (parent === undefined || start === 0 || start > lastObserved(parent) + 1) return false;
    cur = parent;
  }
  return false;
}
