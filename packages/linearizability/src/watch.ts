/**
 * watch.ts: checkWatch, the checker of etcd's watch guarantees (etcd.io "API guarantees",
 * Watch APIs; etcd's tests/robustness/validate/watch.go) over a recorded History. A watch's
 * events are identified by (revision, key): an event's revision is its kv.modRevision.
 *
 * Per watch:
 * - ordered: event revisions never decrease within a watch;
 * - atomic: a revision is never split over two responses, and a watch that received some of a
 *   revision's events (in its range) received all of them (assumes fragment = false);
 * - unique: no (revision, key) is delivered twice;
 * - bookmarkable: a progress notify's revision is >= every event revision before it, and no
 *   event at or below it arrives after it;
 * - filter: every event is in the watched range and at or above the start revision;
 * - header: a response's header revision is >= the revisions of its events;
 * - prevKv shape: with prevKv requested, a delete event and a put of version > 1 carry the
 *   previous kv (same incarnation: same createRevision, version - 1), a put of version 1 none.
 *
 * Across watches and the KV history:
 * - conflict: the same (revision, key) seen by two watchers, or by a watcher and a KV answer
 *   (a read's kv, a prevKv, a known write), must be the same event;
 * - unwritten / mismatch: every put event's (key, value) was written by a put or txn of the
 *   history that was called before the event arrived, with the event's lease, and, when the
 *   write's answer is known, at the event's revision (by the branch that ran); every delete
 *   event by a delete, txn delete or lease revoke covering the key, likewise; consecutive
 *   events of a key that some watch covers both of continue each other (version + 1 and the
 *   same createRevision after a put, version 1 after a delete, prevKv = the previous put);
 * - reliable: a watch delivers every event in its range (from the merged events of all
 *   watches, and from every write whose answer is known) between the first revision it is
 *   sure to cover and the last it observed. It covers from its start revision, or for a watch
 *   "from now", from its first event or from the revision of any operation called after it
 *   was created (strictly after), whichever is lower; it observed up to its last event or progress notify.
 * - resumable: a watch that resumes another (resumeOf) starts right after the last revision
 *   the other observed (no gap, no start "from now") and repeats none of its events.
 *
 * Not checked: events the merged history cannot know of (a revision no watcher received and
 * no known answer reports), compaction (a watch canceled with compactRevision is only held to
 * what it delivered), fragmented responses, filters (NoPut / NoDelete), lease expiry.
 */
import type { History, KeyValue, Operation, Request, TxnRequestOp, WatchEvent, WatchHistory, WatchRequest } from "./history.js";
import { compareKeys, inRange, isSingleKey } from "./keys.js";
import { formatKv, kvEqual, resultHadNoEffect, revisionLimit } from "./model.js";

/** WatchViolationKind names the guarantee a violation breaks (see the file comment). */
export type WatchViolationKind =
  | "ordered"
  | "atomic"
  | "unique"
  | "bookmarkable"
  | "filter"
  | "header"
  | "conflict"
  | "unwritten"
  | "mismatch"
  | "reliable"
  | "resumable";

/** WatchViolation is one broken guarantee, with the watcher, revision and key involved when there is one. */
export interface WatchViolation {
  kind: WatchViolationKind;
  watcher?: number;
  revision?: number;
  key?: string;
  message: string;
}

/** MergedEvent is one (revision, key) of the merged event history, as first received. */
export interface MergedEvent {
  revision: number;
  key: string;
  event: WatchEvent;
  /** time: the earliest time any watcher received it. */
  time: number;
  watchers: number[];
}

/** WatchCheckResult lists the violations found and the merged event history they were checked against. */
export interface WatchCheckResult {
  ok: boolean;
  violations: WatchViolation[];
  events: MergedEvent[];
}

interface Delivered {
  revision: number;
  key: string;
  event: WatchEvent;
  response: number;
  time: number;
}

/** KnownWrite is a write an answer (or a patched persisted revision) reports: its revision, key, kind and value. */
interface KnownWrite {
  revision: number;
  key: string;
  type: "put" | "delete";
  value?: string;
  op: number;
}

const id = (revision: number, key: string): string => `${revision}\u0000${key}`;

function watchCovers(req: WatchRequest, key: string): boolean {
  return inRange(req.key, req.end, key);
}

function eventEqual(a: WatchEvent, b: WatchEvent): boolean {
  if (a.type !== b.type || !kvEqual(a.kv, b.kv)) return false;
  if (a.prevKv !== undefined && b.prevKv !== undefined && !kvEqual(a.prevKv, b.prevKv)) return false;
  return true;
}

function describeEvent(e: WatchEvent): string {
  const prev = e.prevKv !== undefined ? ` prevKv=${formatKv(e.prevKv)}` : "";
  return `${e.type} ${formatKv(e.kv)}${prev}`;
}

/** checkWatch checks every watch of `history` (see the file comment). */
export function checkWatch(history: History): WatchCheckResult {
  const violations: WatchViolation[] = [];
  const report = (v: WatchViolation): void => {
    violations.push(v);
  };
  const ops = history.operations;
  const watches = history.watches;
  const byId = new Map<number, WatchHistory>();
  for (const w of watches) {
    if (byId.has(w.watcher)) report({ kind: "resumable", watcher: w.watcher, message: `watcher id ${w.watcher} recorded twice` });
    byId.set(w.watcher, w);
  }

  // Per-watch checks, and each watch's deliveries.
  const delivered = new Map<WatchHistory, Delivered[]>();
  for (const w of watches) delivered.set(w, checkOneWatch(w, report));

  // The merged event history.
  const merged = new Map<string, MergedEvent>();
  for (const w of watches) {
    for (const d of delivered.get(w) as Delivered[]) {
      const k = id(d.revision, d.key);
      const m = merged.get(k);
      if (m === undefined) {
        merged.set(k, { revision: d.revision, key: d.key, event: d.event, time: d.time, watchers: [w.watcher] });
        continue;
      }
      if (!eventEqual(m.event, d.event)) {
        report({
          kind: "conflict",
          watcher: w.watcher,
          revision: d.revision,
          key: d.key,
          message: `watcher ${w.watcher} received ${describeEvent(d.event)} but watcher ${m.watchers[0]} received ${describeEvent(m.event)} for the same revision and key`,
        });
      }
      if (m.event.prevKv === undefined && d.event.prevKv !== undefined) m.event = { ...m.event, prevKv: d.event.prevKv };
      if (!m.watchers.includes(w.watcher)) m.watchers.push(w.watcher);
      if (d.time < m.time) m.time = d.time;
    }
  }
  const events = [...merged.values()].sort((a, b) => a.revision - b.revision || compareKeys(a.key, b.key));

  // What the KV history says.
  const observed = observedKvs(ops);
  const known = knownWrites(ops);
  for (const e of events) {
    const o = observed.get(id(e.revision, e.key));
    if (o !== undefined && (e.event.type === "delete" || !kvEqual(o.kv, e.event.kv))) {
      report({
        kind: "conflict",
        revision: e.revision,
        key: e.key,
        message: `watch event ${describeEvent(e.event)} but operation ${o.op} read ${formatKv(o.kv)}`,
      });
    }
  }
  for (const kw of known) {
    const e = merged.get(id(kw.revision, kw.key));
    if (e === undefined) continue;
    if (e.event.type !== kw.type || (kw.value !== undefined && e.event.kv.value !== kw.value)) {
      report({
        kind: "conflict",
        revision: kw.revision,
        key: kw.key,
        message: `operation ${kw.op} wrote ${kw.type}${kw.value !== undefined ? ` ${JSON.stringify(kw.value)}` : ""} at this revision but watchers received ${describeEvent(e.event)}`,
      });
    }
  }

  // Each event was written by an operation of the history.
  const writers = putWriters(ops);
  for (const e of events) matchWriter(e, ops, writers, report);

  // Coverage of each watch, then continuity of each key and reliability.
  const revAfter = revisionsAfter(ops);
  const cover = new Map<WatchHistory, { from: number; to: number }>();
  for (const w of watches) cover.set(w, coverage(w, delivered.get(w) as Delivered[], revAfter));
  checkContinuity(events, watches, cover, report);
  checkReliable(watches, delivered, cover, events, known, report);
  checkResumable(watches, byId, delivered, cover, events, known, report);

  return { ok: violations.length === 0, violations, events };
}

/** checkOneWatch runs the per-watch checks and lists the watch's events in order of arrival. */
function checkOneWatch(w: WatchHistory, report: (v: WatchViolation) => void): Delivered[] {
  const out: Delivered[] = [];
  const seen = new Set<string>();
  const start = w.request.startRevision ?? 0;
  const watcher = w.watcher;
  let lastRev = 0;
  let lastResponseRev = -1;
  let notified = 0;
  w.responses.forEach((resp, ri) => {
    let maxRev = 0;
    resp.events.forEach((ev, ei) => {
      const rev = ev.kv.modRevision;
      const key = ev.kv.key;
      if (rev > maxRev) maxRev = rev;
      if (ei === 0 && rev === lastResponseRev) {
        report({ kind: "atomic", watcher, revision: rev, key, message: `revision ${rev} is split over two responses of watcher ${watcher}` });
      }
      if (rev < lastRev) {
        report({ kind: "ordered", watcher, revision: rev, key, message: `watcher ${watcher} received revision ${rev} after revision ${lastRev}` });
      }
      if (!watchCovers(w.request, key)) {
        report({ kind: "filter", watcher, revision: rev, key, message: `watcher ${watcher} received key ${JSON.stringify(key)} outside its range` });
      }
      if (start > 0 && rev < start) {
        report({ kind: "filter", watcher, revision: rev, key, message: `watcher ${watcher} started at revision ${start} but received revision ${rev}` });
      }
      const k = id(rev, key);
      if (seen.has(k)) {
        report({ kind: "unique", watcher, revision: rev, key, message: `watcher ${watcher} received revision ${rev} of key ${JSON.stringify(key)} twice` });
      }
      seen.add(k);
      if (rev <= notified) {
        report({
          kind: "bookmarkable",
          watcher,
          revision: rev,
          key,
          message: `watcher ${watcher} received revision ${rev} after a progress notify at revision ${notified}`,
        });
      }
      checkEventShape(w, ev, report);
      lastRev = Math.max(lastRev, rev);
      out.push({ revision: rev, key, event: ev, response: ri, time: resp.time });
    });
    if (resp.events.length > 0) {
      lastResponseRev = (resp.events[resp.events.length - 1] as WatchEvent).kv.modRevision;
      if (resp.revision < maxRev) {
        report({
          kind: "header",
          watcher,
          revision: maxRev,
          message: `watcher ${watcher} got a response with header revision ${resp.revision} holding an event of revision ${maxRev}`,
        });
      }
    }
    if (resp.progressNotify) {
      if (resp.revision < lastRev) {
        report({
          kind: "bookmarkable",
          watcher,
          revision: resp.revision,
          message: `watcher ${watcher} got a progress notify at revision ${resp.revision} after an event of revision ${lastRev}`,
        });
      }
      notified = Math.max(notified, resp.revision);
    }
  });
  return out;
}

/** checkEventShape checks what one event says of itself (versions, revisions, its prevKv). */
function checkEventShape(w: WatchHistory, ev: WatchEvent, report: (v: WatchViolation) => void): void {
  const kv = ev.kv;
  const rev = kv.modRevision;
  const bad = (message: string): void => report({ kind: "mismatch", watcher: w.watcher, revision: rev, key: kv.key, message });
  if (ev.type === "put") {
    if (kv.version < 1 || kv.createRevision > rev || (kv.version === 1) !== (kv.createRevision === rev)) {
      bad(`watcher ${w.watcher} received an impossible put ${formatKv(kv)}`);
    }
  }
  const p = ev.prevKv;
  if (p !== undefined) {
    if (p.key !== kv.key || p.modRevision >= rev) bad(`watcher ${w.watcher} received prevKv ${formatKv(p)} for ${describeEvent(ev)}`);
    if (ev.type === "put" && (kv.version === 1 || p.createRevision !== kv.createRevision || p.version !== kv.version - 1)) {
      bad(`watcher ${w.watcher} received prevKv ${formatKv(p)} that does not precede ${formatKv(kv)}`);
    }
  } else if (w.request.prevKv === true && (ev.type === "delete" || kv.version > 1)) {
    bad(`watcher ${w.watcher} asked for prevKv but ${describeEvent(ev)} has none`);
  }
}

/** observedKvs indexes every kv a known answer reported, by (modRevision, key). */
function observedKvs(ops: readonly Operation[]): Map<string, { kv: KeyValue; op: number }> {
  const out = new Map<string, { kv: KeyValue; op: number }>();
  const add = (kv: KeyValue | undefined, op: number): void => {
    if (kv !== undefined && !out.has(id(kv.modRevision, kv.key))) out.set(id(kv.modRevision, kv.key), { kv, op });
  };
  ops.forEach((op, i) => {
    const results = op.output === undefined ? [] : op.output.type === "txn" ? op.output.results : [op.output];
    for (const r of results) {
      if (r.type === "range") r.kvs.forEach((kv) => add(kv, i));
      else if (r.type === "put") add(r.prevKv, i);
      else if (r.type === "delete") (r.prevKvs ?? []).forEach((kv) => add(kv, i));
    }
  });
  return out;
}

function branchOf(op: Operation): readonly TxnRequestOp[] | undefined {
  if (op.input.type !== "txn" || op.output === undefined || op.output.type !== "txn") return undefined;
  return op.output.succeeded ? op.input.success : op.input.failure;
}

/** knownWrites lists the writes known answers report, with their revision and key. */
function knownWrites(ops: readonly Operation[]): KnownWrite[] {
  const out: KnownWrite[] = [];
  ops.forEach((op, i) => {
    const input = op.input;
    const output = op.output;
    if (output === undefined) {
      if (op.persistedRevision !== undefined && input.type === "put") {
        out.push({ revision: op.persistedRevision, key: input.key, type: "put", value: input.value, op: i });
      }
      return;
    }
    if (input.type === "put" && output.type === "put") {
      out.push({ revision: output.revision, key: input.key, type: "put", value: input.value, op: i });
    } else if (input.type === "delete" && output.type === "delete" && output.deleted > 0) {
      for (const key of deletedKeys(input.key, input.end, output.deleted, output.prevKvs)) {
        out.push({ revision: output.revision, key, type: "delete", op: i });
      }
    } else if (input.type === "txn" && output.type === "txn" && !resultHadNoEffect(input, output)) {
      const ops2 = branchOf(op) ?? [];
      ops2.forEach((sub, j) => {
        const res = output.results[j];
        if (sub.type === "put") out.push({ revision: output.revision, key: sub.key, type: "put", value: sub.value, op: i });
        else if (sub.type === "delete" && res !== undefined && res.type === "delete" && res.deleted > 0) {
          for (const key of deletedKeys(sub.key, sub.end, res.deleted, res.prevKvs)) {
            out.push({ revision: output.revision, key, type: "delete", op: i });
          }
        }
      });
    }
  });
  return out;
}

function deletedKeys(key: string, end: string | undefined, deleted: number, prevKvs: KeyValue[] | undefined): string[] {
  if (prevKvs !== undefined && prevKvs.length === deleted) return prevKvs.map((kv) => kv.key);
  return isSingleKey(end) && deleted === 1 ? [key] : [];
}

interface PutWriter {
  op: number;
  lease: number;
  /** branch: which txn branch holds the put (undefined: a plain put). */
  branch?: boolean;
}

/** putWriters indexes the puts of the history (plain and inside txns) by (key, value). */
function putWriters(ops: readonly Operation[]): Map<string, PutWriter[]> {
  const out = new Map<string, PutWriter[]>();
  const add = (key: string, value: string, w: PutWriter): void => {
    const k = `${key}\u0000${value}`;
    const list = out.get(k);
    if (list === undefined) out.set(k, [w]);
    else list.push(w);
  };
  ops.forEach((op, i) => {
    const input = op.input;
    if (input.type === "put") add(input.key, input.value, { op: i, lease: input.lease ?? 0 });
    if (input.type === "txn") {
      for (const sub of input.success) if (sub.type === "put") add(sub.key, sub.value, { op: i, lease: sub.lease ?? 0, branch: true });
      for (const sub of input.failure) if (sub.type === "put") add(sub.key, sub.value, { op: i, lease: sub.lease ?? 0, branch: false });
    }
  });
  return out;
}

/** deletesKey reports whether a request (a branch of a txn, when given) can delete `key`. */
function deletesKey(req: Request, key: string, branch?: readonly TxnRequestOp[]): boolean {
  if (req.type === "delete") return inRange(req.key, req.end, key);
  if (req.type === "leaseRevoke") return true;
  if (req.type === "txn") {
    const ops = branch ?? [...req.success, ...req.failure];
    return ops.some((o) => o.type === "delete" && inRange(o.key, o.end, key));
  }
  return false;
}

/** matchWriter finds an operation that can have produced a merged event; reports unwritten / mismatch. */
function matchWriter(e: MergedEvent, ops: readonly Operation[], writers: Map<string, PutWriter[]>, report: (v: WatchViolation) => void): void {
  const rev = e.revision;
  const ev = e.event;
  const reasons: string[] = [];
  if (ev.type === "put") {
    const cands = writers.get(`${e.key}\u0000${ev.kv.value}`) ?? [];
    if (cands.length === 0) {
      report({ kind: "unwritten", revision: rev, key: e.key, message: `no operation wrote ${JSON.stringify(ev.kv.value)} to ${JSON.stringify(e.key)} (event ${describeEvent(ev)})` });
      return;
    }
    for (const c of cands) {
      const op = ops[c.op] as Operation;
      const why = putMismatch(op, c, rev, ev, e.time);
      if (why === undefined) return;
      reasons.push(`operation ${c.op}: ${why}`);
    }
  } else {
    let any = false;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as Operation;
      if (!deletesKey(op.input, e.key)) continue;
      any = true;
      const why = deleteMismatch(op, rev, ev, e.key, e.time);
      if (why === undefined) return;
      reasons.push(`operation ${i}: ${why}`);
    }
    if (!any) {
      report({ kind: "unwritten", revision: rev, key: e.key, message: `no operation can have deleted ${JSON.stringify(e.key)} (event ${describeEvent(ev)})` });
      return;
    }
  }
  report({
    kind: "mismatch",
    revision: rev,
    key: e.key,
    message: `no operation of the history produced ${describeEvent(ev)}: ${reasons.slice(0, 4).join("; ")}`,
  });
}

function putMismatch(op: Operation, w: PutWriter, rev: number, ev: WatchEvent, time: number): string | undefined {
  if (op.call > time) return `called at ${op.call}, after the event arrived at ${time}`;
  if (w.lease !== ev.kv.lease) return `wrote with lease ${w.lease}, the event has lease ${ev.kv.lease}`;
  const out = op.output;
  if (out === undefined) {
    if (op.persistedRevision !== undefined && op.persistedRevision !== rev) return `took effect at revision ${op.persistedRevision}`;
    return undefined;
  }
  if (out.type === "error") return `failed with ${JSON.stringify(out.error)}`;
  if (out.revision !== rev) return `answered revision ${out.revision}`;
  if (w.branch !== undefined && out.type === "txn" && out.succeeded !== w.branch) return `ran its other branch`;
  return undefined;
}

function deleteMismatch(op: Operation, rev: number, ev: WatchEvent, key: string, time: number): string | undefined {
  if (op.call > time) return `called at ${op.call}, after the event arrived at ${time}`;
  const input = op.input;
  if (input.type === "leaseRevoke" && ev.prevKv !== undefined && ev.prevKv.lease !== input.id) {
    return `revoked lease ${input.id}, the key had lease ${ev.prevKv.lease}`;
  }
  const out = op.output;
  if (out === undefined) {
    if (op.persistedRevision !== undefined && op.persistedRevision !== rev) return `took effect at revision ${op.persistedRevision}`;
    return undefined;
  }
  if (out.type === "error") return `failed with ${JSON.stringify(out.error)}`;
  if (out.revision !== rev) return `answered revision ${out.revision}`;
  if (out.type === "delete") {
    if (out.deleted === 0) return "deleted nothing";
    if (out.prevKvs !== undefined && out.prevKvs.length === out.deleted && !out.prevKvs.some((kv) => kv.key === key)) return "did not delete the key";
  }
  if (out.type === "txn" && !deletesKey(input, key, branchOf(op))) return "ran a branch that does not delete the key";
  return undefined;
}

/**
 * revisionsAfter answers, for a time t, a revision from which a watch created at t must deliver
 * every event: min over the operations with a known answer called after t (strictly: at equal
 * times the order is unknown) of (the highest revision they can have been linearized at) + 1.
 */
function revisionsAfter(ops: readonly Operation[]): (t: number) => number {
  const points = ops
    .map((op) => ({ call: op.call, bound: revisionLimit(op.input, op.output, op.persistedRevision) + 1 }))
    .filter((p) => p.bound !== Infinity)
    .sort((a, b) => a.call - b.call);
  const suffixMin = new Array<number>(points.length + 1).fill(Infinity);
  for (let i = points.length - 1; i >= 0; i--) suffixMin[i] = Math.min(suffixMin[i + 1] as number, (points[i] as { bound: number }).bound);
  return (t) => {
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((points[mid] as { call: number }).call > t) hi = mid;
      else lo = mid + 1;
    }
    return suffixMin[lo] as number;
  };
}

/** coverage is the span of revisions a watch must deliver in full: [from, to]. */
function coverage(w: WatchHistory, events: readonly Delivered[], revAfter: (t: number) => number): { from: number; to: number } {
  const start = w.request.startRevision ?? 0;
  let from: number;
  if (start > 0) from = start;
  else from = Math.min(events[0]?.revision ?? Infinity, revAfter(w.created));
  let to = -Infinity;
  for (const e of events) to = Math.max(to, e.revision);
  for (const r of w.responses) if (r.progressNotify) to = Math.max(to, r.revision);
  return { from, to };
}

/** checkContinuity checks consecutive events of each key that one watch covers both of. */
function checkContinuity(
  events: readonly MergedEvent[],
  watches: readonly WatchHistory[],
  cover: Map<WatchHistory, { from: number; to: number }>,
  report: (v: WatchViolation) => void,
): void {
  const byKey = new Map<string, MergedEvent[]>();
  for (const e of events) {
    const list = byKey.get(e.key);
    if (list === undefined) byKey.set(e.key, [e]);
    else list.push(e);
  }
  const covered = (key: string, from: number, to: number): boolean =>
    watches.some((w) => {
      const c = cover.get(w) as { from: number; to: number };
      return watchCovers(w.request, key) && c.from <= from && c.to >= to;
    });
  for (const [key, list] of byKey) {
    for (let i = 0; i < list.length; i++) {
      const e2 = list[i] as MergedEvent;
      const ev = e2.event;
      const bad = (message: string): void => report({ kind: "mismatch", revision: e2.revision, key, message });
      // prevKv against the merged history, adjacent or not.
      const p = ev.prevKv;
      if (p !== undefined) {
        for (let j = i - 1; j >= 0; j--) {
          const e1 = list[j] as MergedEvent;
          if (e1.revision < p.modRevision) break;
          if (e1.revision > p.modRevision) {
            bad(`${describeEvent(ev)} has prevKv of revision ${p.modRevision}, but the key changed at revision ${e1.revision} in between`);
            break;
          }
          if (e1.event.type !== "put" || !kvEqual(e1.event.kv, p)) bad(`${describeEvent(ev)} has prevKv ${formatKv(p)} but revision ${p.modRevision} was ${describeEvent(e1.event)}`);
          break;
        }
      }
      if (i === 0) {
        if (covered(key, 2, e2.revision) && !(ev.type === "put" && ev.kv.version === 1)) {
          bad(`the first event of the key since revision 1 is ${describeEvent(ev)}, not a create`);
        }
        continue;
      }
      const e1 = list[i - 1] as MergedEvent;
      if (!covered(key, e1.revision, e2.revision)) continue;
      const prev = e1.event;
      if (ev.type === "put") {
        if (prev.type === "put" && (ev.kv.createRevision !== prev.kv.createRevision || ev.kv.version !== prev.kv.version + 1)) {
          bad(`${describeEvent(ev)} does not follow ${describeEvent(prev)}`);
        }
        if (prev.type === "delete" && ev.kv.version !== 1) bad(`${describeEvent(ev)} follows a delete but is not a create`);
        if (prev.type === "delete" && ev.prevKv !== undefined) bad(`${describeEvent(ev)} follows a delete but has a prevKv`);
      } else if (prev.type === "delete") {
        bad(`${describeEvent(ev)} deletes a key already deleted at revision ${e1.revision}`);
      }
    }
  }
}

/** checkReliable checks each watch delivered every known event of its range within its coverage. */
function checkReliable(
  watches: readonly WatchHistory[],
  delivered: Map<WatchHistory, Delivered[]>,
  cover: Map<WatchHistory, { from: number; to: number }>,
  events: readonly MergedEvent[],
  known: readonly KnownWrite[],
  report: (v: WatchViolation) => void,
): void {
  const revisions = events.map((e) => e.revision);
  const mergedIds = new Set(events.map((e) => id(e.revision, e.key)));
  for (const w of watches) {
    const c = cover.get(w) as { from: number; to: number };
    if (c.from > c.to) continue;
    const got = new Map<string, Delivered>();
    const gotRevisions = new Set<number>();
    for (const d of delivered.get(w) as Delivered[]) {
      got.set(id(d.revision, d.key), d);
      gotRevisions.add(d.revision);
    }
    const missing = (revision: number, key: string, what: string): void => {
      const kind = gotRevisions.has(revision) ? "atomic" : "reliable";
      const detail = kind === "atomic" ? "received other events of that revision but not this one" : `missed it (it covers revisions ${c.from}..${c.to})`;
      report({ kind, watcher: w.watcher, revision, key, message: `watcher ${w.watcher} ${detail}: ${what}` });
    };
    for (let i = lowerBound(revisions, c.from); i < events.length; i++) {
      const e = events[i] as MergedEvent;
      if (e.revision > c.to) break;
      if (watchCovers(w.request, e.key) && !got.has(id(e.revision, e.key))) missing(e.revision, e.key, describeEvent(e.event));
    }
    for (const kw of known) {
      if (kw.revision < c.from || kw.revision > c.to || !watchCovers(w.request, kw.key)) continue;
      if (got.has(id(kw.revision, kw.key))) continue;
      if (mergedIds.has(id(kw.revision, kw.key))) continue; // reported above
      missing(kw.revision, kw.key, `${kw.type} by operation ${kw.op}${kw.value !== undefined ? ` (${JSON.stringify(kw.value)})` : ""}`);
    }
  }
}

function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** checkResumable checks each resumed watch continues the one it resumes. */
function checkResumable(
  watches: readonly WatchHistory[],
  byId: Map<number, WatchHistory>,
  delivered: Map<WatchHistory, Delivered[]>,
  cover: Map<WatchHistory, { from: number; to: number }>,
  events: readonly MergedEvent[],
  known: readonly KnownWrite[],
  report: (v: WatchViolation) => void,
): void {
  for (const w of watches) {
    if (w.resumeOf === undefined) continue;
    const p = byId.get(w.resumeOf);
    if (p === undefined) {
      report({ kind: "resumable", watcher: w.watcher, message: `watcher ${w.watcher} resumes unknown watcher ${w.resumeOf}` });
      continue;
    }
    const pc = cover.get(p) as { from: number; to: number };
    const last = pc.to !== -Infinity ? pc.to : (p.request.startRevision ?? 0) > 0 ? (p.request.startRevision as number) - 1 : undefined;
    const start = w.request.startRevision ?? 0;
    if (last !== undefined) {
      if (start === 0) {
        report({ kind: "resumable", watcher: w.watcher, message: `watcher ${w.watcher} resumes watcher ${p.watcher} (observed up to revision ${last}) from "now" instead of revision ${last + 1}` });
      } else if (start > last + 1) {
        const lost = [
          ...events.filter((e) => e.revision > last && e.revision < start && watchCovers(w.request, e.key)).map((e) => `${e.revision}:${e.key}`),
          ...known.filter((k) => k.revision > last && k.revision < start && watchCovers(w.request, k.key)).map((k) => `${k.revision}:${k.key}`),
        ];
        report({
          kind: "resumable",
          watcher: w.watcher,
          revision: last + 1,
          message: `watcher ${w.watcher} resumes watcher ${p.watcher} at revision ${start}, but ${p.watcher} observed only up to ${last}${lost.length > 0 ? `; lost events ${[...new Set(lost)].join(", ")}` : ""}`,
        });
      }
    }
    const before = new Set((delivered.get(p) as Delivered[]).map((d) => id(d.revision, d.key)));
    for (const d of delivered.get(w) as Delivered[]) {
      if (before.has(id(d.revision, d.key))) {
        report({ kind: "resumable", watcher: w.watcher, revision: d.revision, key: d.key, message: `watcher ${w.watcher} repeats revision ${d.revision} of ${JSON.stringify(d.key)}, already delivered to watcher ${p.watcher}` });
      }
    }
  }
}
