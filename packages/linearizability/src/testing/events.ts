/**
 * events.ts (tests only): the watch events a correct etcd emits for a generated history, and
 * watches that receive them. Operations are replayed in linearization-point order on the model;
 * each revision's changes become events (put: the kv after, delete: etcd's tombstone kv holding
 * only key and modRevision), with the previous kv attached.
 */
import type { KeyValue, Operation, WatchEvent, WatchHistory, WatchResponse } from "../history.js";
import { inRange } from "../keys.js";
import { apply, initialState, kvEqual } from "../model.js";

/** RevisionEvents is one revision's events and the time (linearization point) it happened. */
export interface RevisionEvents {
  revision: number;
  time: number;
  events: WatchEvent[];
}

/** eventsOf replays `ops` in the order of `pointOf` (Infinity: never applied) and lists each revision's events. */
export function eventsOf(ops: readonly Operation[], pointOf: readonly number[]): RevisionEvents[] {
  const order = ops.map((_, i) => i).filter((i) => (pointOf[i] as number) !== Infinity);
  order.sort((a, b) => (pointOf[a] as number) - (pointOf[b] as number));
  let state = initialState();
  const out: RevisionEvents[] = [];
  for (const i of order) {
    const before = state;
    const r = apply(state, (ops[i] as Operation).input);
    state = r.next;
    if (!r.wrote) continue;
    const events: WatchEvent[] = [];
    const keys = new Set([...before.kvs.keys(), ...state.kvs.keys()]);
    for (const key of [...keys].sort()) {
      const a = before.kvs.get(key);
      const b = state.kvs.get(key);
      if (b !== undefined && (a === undefined || !kvEqual(a, b))) {
        events.push(a === undefined ? { type: "put", kv: b } : { type: "put", kv: b, prevKv: a });
      } else if (b === undefined && a !== undefined) {
        events.push({ type: "delete", kv: tombstone(key, state.revision), prevKv: a });
      }
    }
    out.push({ revision: state.revision, time: pointOf[i] as number, events });
  }
  return out;
}

/** tombstone is the kv of a delete event: key and modRevision only. */
export function tombstone(key: string, revision: number): KeyValue {
  return { key, value: "", createRevision: 0, modRevision: revision, version: 0, lease: 0 };
}

/** WatchSpec describes a watch to build from the events. */
export interface WatchSpec {
  watcher: number;
  client: number;
  key: string;
  end?: string;
  startRevision?: number;
  prevKv?: boolean;
  /** created: the creation time; a "from now" watch sees revisions made after it. */
  created: number;
  /** delay: how long after a revision happened the watcher receives it. */
  delay: number;
  /** until: the watcher stops receiving after this time (default: receives everything). */
  until?: number;
  /** progressAt: a final progress notify at this time with the last revision (default: after the last event). */
  progressAt?: number;
}

/** buildWatch delivers the events a correct etcd would send to the watch, one response per revision. */
export function buildWatch(revs: readonly RevisionEvents[], spec: WatchSpec): WatchHistory {
  const responses: WatchResponse[] = [];
  const start = spec.startRevision ?? 0;
  let last = 0;
  let lastTime = spec.created;
  for (const r of revs) {
    if (start > 0 ? r.revision < start : r.time <= spec.created) {
      last = Math.max(last, r.revision);
      continue;
    }
    const time = Math.max(r.time, spec.created) + spec.delay;
    if (spec.until !== undefined && time > spec.until) break;
    last = r.revision;
    const events = r.events
      .filter((e) => inRange(spec.key, spec.end, e.kv.key))
      .map((e) => {
        if (spec.prevKv === true || e.prevKv === undefined) return e;
        const { prevKv: _p, ...rest } = e;
        return rest;
      });
    if (events.length === 0) continue;
    responses.push({ time, revision: r.revision, events, progressNotify: false });
    lastTime = time;
  }
  if (spec.until === undefined || (spec.progressAt !== undefined && spec.progressAt <= spec.until)) {
    responses.push({ time: spec.progressAt ?? lastTime + 1, revision: Math.max(last, 1), events: [], progressNotify: true });
  }
  const request: WatchHistory["request"] = { key: spec.key };
  if (spec.end !== undefined) request.end = spec.end;
  if (spec.startRevision !== undefined) request.startRevision = spec.startRevision;
  if (spec.prevKv !== undefined) request.prevKv = spec.prevKv;
  return { watcher: spec.watcher, client: spec.client, created: spec.created, request, responses };
}
