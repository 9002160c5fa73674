import { mvccpb } from "@etcd-ts/proto";
import { MvccError } from "./errors.js";
import type { EventListener, KVStore } from "./kvstore.js";
import { WatchStream, type WatchHost, type WatchStreamOptions } from "./watch_stream.js";
import { WatcherGroup, type Watcher } from "./watcher_group.js";

/** WatchableStoreOptions bound the catch-up work of one syncWatchers call. */
export interface WatchableStoreOptions {
  /** maxRevisionsPerSync: revisions read from the backend per call (default 1000, etcd's watchBatchMaxRevs). */
  maxRevisionsPerSync?: number | undefined;
  /** maxEventsPerSync: events delivered per call, cut at a revision boundary (default 10,000; a single larger revision is delivered whole). */
  maxEventsPerSync?: number | undefined;
  /** maxWatchersPerSync: unsynced watchers caught up per call (default 512, etcd's maxWatchersPerSync). */
  maxWatchersPerSync?: number | undefined;
  /**
   * maxGapEvents: events published while a catch-up read is running that the store keeps for
   * the watchers being caught up, so they can join the synced group right after the read
   * (default: maxEventsPerSync). Past it they stay unsynced and the next call reads on.
   */
  maxGapEvents?: number | undefined;
}

export const defaultMaxRevisionsPerSync = 1000;
export const defaultMaxEventsPerSync = 10_000;
export const defaultMaxWatchersPerSync = 512;

/** Size estimate of queued responses: key, value and prevKv bytes plus fixed overheads. */
const responseOverhead = 64;
const eventOverhead = 32;
const kvOverhead = 48;

function kvSize(kv: mvccpb.KeyValue | undefined): number {
  return kv === undefined ? 0 : kvOverhead + kv.key.length + kv.value.length;
}

function eventSize(e: mvccpb.Event): number {
  return eventOverhead + kvSize(e.kv) + kvSize(e.prevKv);
}

function responseSize(events: mvccpb.Event[]): number {
  let n = responseOverhead;
  for (let i = 0; i < events.length; i++) n += eventSize(events[i] as mvccpb.Event);
  return n;
}

/** revOf is an event's revision (every event of the store carries its kv). */
function revOf(e: mvccpb.Event): bigint {
  return (e.kv as mvccpb.KeyValue).modRevision;
}

const noop: EventListener = () => undefined;

/**
 * WatchableStore is etcd's watchableStore over a KVStore: it owns the store's event listener
 * and fans each revision out to the synced watchers of every stream, and catches unsynced
 * watchers up from the backend when the server calls syncWatchers.
 *
 * - Synced watchers are indexed by key and by range (WatcherGroup): each event costs one
 *   lookup, and each matching watcher gets one response with all of its events of that
 *   revision, or none if its filters drop them all.
 * - A synced watcher whose response does not fit its stream's queue does not buffer: it
 *   becomes unsynced at that revision and later catches up from the backend (no victims).
 * - Catch-up (syncWatchers) reads a bounded range of revisions for a bounded set of unsynced
 *   watchers whose streams have room, and delivers whole revisions only. While the backend
 *   read is awaited, new revisions keep coming; the store records the ones matching the
 *   watchers being caught up (bounded by maxGapEvents), so after the read each of those
 *   watchers gets read + recorded events and moves to the synced group in the same
 *   synchronous step: nothing is missed or repeated. When the read was cut short or the
 *   record overflowed, the watcher stays unsynced with minRev after what it received.
 * - No timers: the server calls syncWatchers (etcd: every 100 ms, and right after a watch
 *   with a past start revision was created).
 */
export class WatchableStore {
  private kv: KVStore;
  /** gen counts setStore calls, so a catch-up read of a replaced store is discarded. */
  private gen = 0;
  private readonly synced = new WatcherGroup();
  private readonly unsynced = new WatcherGroup();
  /** syncing is the group of the running catch-up round (its watchers are unsynced). */
  private syncing: WatcherGroup | undefined = undefined;
  /** gapOn: revisions published now are recorded for the syncing watchers. */
  private gapOn = false;
  private gapEvents = 0;
  private gapOverflow = false;
  private readonly streams = new Set<WatchStream>();
  private readonly maxRevisionsPerSync: bigint;
  private readonly maxEventsPerSync: number;
  private readonly maxWatchersPerSync: number;
  private readonly maxGapEvents: number;
  /** scratch and touched are reused by every notify (no allocation per event for matching). */
  private readonly scratch: Watcher[] = [];
  private readonly touched: Watcher[] = [];
  private readonly listener: EventListener;
  private readonly host: WatchHost;
  private syncRunning: Promise<void> | undefined = undefined;
  private syncNext: Promise<void> | undefined = undefined;

  constructor(kv: KVStore, opts: WatchableStoreOptions = {}) {
    this.kv = kv;
    this.maxRevisionsPerSync = BigInt(Math.max(1, opts.maxRevisionsPerSync ?? defaultMaxRevisionsPerSync));
    this.maxEventsPerSync = Math.max(1, opts.maxEventsPerSync ?? defaultMaxEventsPerSync);
    this.maxWatchersPerSync = Math.max(1, opts.maxWatchersPerSync ?? defaultMaxWatchersPerSync);
    this.maxGapEvents = Math.max(0, opts.maxGapEvents ?? this.maxEventsPerSync);
    this.listener = (events, revision) => this.onRevision(events, revision);
    const store = this;
    this.host = {
      get currentRevision() {
        return store.kv.currentRevision;
      },
      addWatcher: (w, startRev) => this.addWatcher(w, startRev),
      removeWatcher: (w) => this.removeWatcher(w),
      progress: (w) => this.progress(w),
      streamClosed: (s) => {
        this.streams.delete(s);
      },
    };
    kv.onEvents(this.listener);
  }

  /** store is the KVStore watched now. */
  get store(): KVStore {
    return this.kv;
  }

  /**
   * setStore switches to a new KVStore (after a snapshot install, etcd's Restore): the old
   * store's listener is detached, and every synced watcher becomes unsynced, having observed
   * the old store through its current revision, and catches up from the new store (or is
   * canceled with compactRevision when the new store has compacted past that point).
   */
  setStore(kv: KVStore): void {
    const observed = this.kv.currentRevision;
    this.kv.onEvents(noop);
    this.kv = kv;
    this.gen++;
    this.gapOn = false;
    kv.onEvents(this.listener);
    for (const w of this.synced.watchers()) {
      if (w.minRev <= observed) w.minRev = observed + 1n;
      w.state = "unsynced";
      this.unsynced.add(w);
    }
    this.synced.clear();
  }

  /** newStream opens a watch stream (etcd's NewWatchStream). */
  newStream(opts: WatchStreamOptions = {}): WatchStream {
    const s = new WatchStream(this.host, opts);
    this.streams.add(s);
    return s;
  }

  /** syncedCount is the number of synced watchers. */
  get syncedCount(): number {
    return this.synced.size;
  }

  /** unsyncedCount is the number of watchers behind the store (including those being caught up). */
  get unsyncedCount(): number {
    return this.unsynced.size + (this.syncing?.size ?? 0);
  }

  /** streamCount is the number of open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /**
   * close closes every stream and detaches from the store. The store itself stays open (its
   * owner closes it).
   */
  close(): void {
    for (const s of [...this.streams]) s.close();
    this.kv.onEvents(noop);
    this.gen++;
    this.gapOn = false;
  }

  /**
   * syncWatchers runs one catch-up round (etcd's syncWatchers): it cancels the unsynced
   * watchers whose next revision was compacted, then catches up at most maxWatchersPerSync
   * unsynced watchers whose streams have room, over at most maxRevisionsPerSync revisions /
   * maxEventsPerSync events. Overlapping calls run one after the other (a call made while
   * one runs and another waits shares the waiting one).
   */
  syncWatchers(): Promise<void> {
    if (this.syncNext !== undefined) return this.syncNext;
    if (this.syncRunning === undefined) return this.startSync();
    const next = this.syncRunning.then(
      () => undefined,
      () => undefined,
    );
    this.syncNext = next.then(() => {
      this.syncNext = undefined;
      return this.startSync();
    });
    return this.syncNext;
  }

  private startSync(): Promise<void> {
    const run = this.syncOnce().finally(() => {
      if (this.syncRunning === run) this.syncRunning = undefined;
    });
    this.syncRunning = run;
    return run;
  }

  // ---- the host side of streams ----

  private addWatcher(w: Watcher, startRev: bigint): void {
    const cur = this.kv.currentRevision;
    if (startRev === 0n || startRev > cur) {
      w.minRev = startRev > cur ? startRev : cur + 1n;
      w.state = "synced";
      this.synced.add(w);
    } else {
      w.minRev = startRev;
      w.state = "unsynced";
      this.unsynced.add(w);
    }
  }

  private removeWatcher(w: Watcher): void {
    switch (w.state) {
      case "synced":
        this.synced.delete(w);
        break;
      case "unsynced":
        this.unsynced.delete(w);
        break;
      case "syncing":
        this.syncing?.delete(w);
        break;
      case "done":
        break;
    }
    w.state = "done";
    w.batch = undefined;
    w.gap = undefined;
  }

  private progress(w: Watcher): void {
    if (w.state !== "synced") return;
    if (w.owner.room() < responseOverhead) return;
    w.owner.push(w.id, [], this.kv.currentRevision, 0n, responseOverhead);
  }

  // ---- live fan-out ----

  private onRevision(events: mvccpb.Event[], revision: bigint): void {
    if (this.synced.size > 0) this.notify(events, revision);
    if (this.gapOn) this.recordGap(events, revision);
  }

  /**
   * collect matches events against group and appends each matching event (prevKv stripped
   * for watchers that did not ask for it, filters applied) to the watcher's batch or gap list.
   * Returns the number of events appended.
   */
  private collect(group: WatcherGroup, events: mvccpb.Event[], touched: Watcher[] | undefined): number {
    const out = this.scratch;
    let added = 0;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i] as mvccpb.Event;
      const kv = ev.kv;
      if (kv === undefined) continue;
      out.length = 0;
      group.match(kv.key, out);
      if (out.length === 0) continue;
      const rev = kv.modRevision;
      const isPut = ev.type === mvccpb.Event_EventType.PUT;
      let stripped: mvccpb.Event | undefined;
      for (let j = 0; j < out.length; j++) {
        const w = out[j] as Watcher;
        if (rev < w.minRev) continue;
        if (isPut ? w.noPut : w.noDelete) continue;
        let e = ev;
        if (!w.prevKv && ev.prevKv !== undefined) {
          if (stripped === undefined) stripped = { type: ev.type, kv, prevKv: undefined };
          e = stripped;
        }
        added++;
        if (touched === undefined) {
          if (w.gap === undefined) w.gap = [e];
          else w.gap.push(e);
        } else if (w.batch === undefined) {
          w.batch = [e];
          touched.push(w);
        } else {
          w.batch.push(e);
        }
      }
    }
    out.length = 0;
    return added;
  }

  /** notify delivers one revision to the synced watchers; those whose stream is full fall behind. */
  private notify(events: mvccpb.Event[], revision: bigint): void {
    const touched = this.touched;
    this.collect(this.synced, events, touched);
    for (let i = 0; i < touched.length; i++) {
      const w = touched[i] as Watcher;
      const evs = w.batch as mvccpb.Event[];
      w.batch = undefined;
      const size = responseSize(evs);
      if (size <= w.owner.room()) {
        w.owner.push(w.id, evs, revision, 0n, size);
        w.minRev = revision + 1n;
      } else {
        // No buffering: the watcher resumes from this revision through the backend.
        this.synced.delete(w);
        w.minRev = revision;
        w.state = "unsynced";
        this.unsynced.add(w);
      }
    }
    touched.length = 0;
  }

  /** recordGap keeps a revision published during a catch-up read for the watchers being caught up. */
  private recordGap(events: mvccpb.Event[], _revision: bigint): void {
    const group = this.syncing;
    if (group === undefined || group.size === 0) return;
    this.gapEvents += this.collect(group, events, undefined);
    if (this.gapEvents > this.maxGapEvents) {
      this.gapOn = false;
      this.gapOverflow = true;
      for (const w of group.watchers()) w.gap = undefined;
    }
  }

  // ---- catch-up ----

  private async syncOnce(): Promise<void> {
    if (this.unsynced.size === 0) return;
    const kv = this.kv;
    const gen = this.gen;
    const curRev = kv.currentRevision;
    const compactRev = kv.compactRevision;

    const chosen: Watcher[] = [];
    // The first eligible watcher (in round-robin order: chosen ones rejoin at the end) is always
    // chosen; others join while every chosen watcher's next revision stays within one read
    // window (maxRevisionsPerSync), so the read moves each of them forward and one watcher far
    // behind does not hold back the others.
    let lo = 0n;
    let hi = 0n;
    // Deleting the visited member while iterating a Set is safe; nothing is added meanwhile.
    for (const w of this.unsynced.watchers()) {
      if (chosen.length >= this.maxWatchersPerSync) break;
      // A stream with no room left: the watcher waits for its consumer.
      if (w.owner.room() < responseOverhead) continue;
      if (compactRev > 0n && w.minRev < compactRev) {
        // Its next revision is gone: one response with compactRevision, and it is removed.
        this.unsynced.delete(w);
        w.state = "done";
        w.owner.push(w.id, [], 0n, compactRev, responseOverhead);
        w.owner.dropWatcher(w);
        continue;
      }
      if (chosen.length === 0) {
        lo = hi = w.minRev;
      } else {
        const l = w.minRev < lo ? w.minRev : lo;
        const u = w.minRev > hi ? w.minRev : hi;
        if (u - l >= this.maxRevisionsPerSync) continue;
        lo = l;
        hi = u;
      }
      chosen.push(w);
    }
    if (chosen.length === 0) return;

    const group = new WatcherGroup();
    let fromRev = (chosen[0] as Watcher).minRev;
    let wantPrevKv = false;
    for (const w of chosen) {
      this.unsynced.delete(w);
      w.state = "syncing";
      group.add(w);
      if (w.minRev < fromRev) fromRev = w.minRev;
      if (w.prevKv) wantPrevKv = true;
    }
    if (fromRev < 1n) fromRev = 1n;
    this.syncing = group;

    let events: mvccpb.Event[] = [];
    let toRev = curRev;
    let complete = true;
    if (fromRev <= curRev) {
      const last = fromRev + this.maxRevisionsPerSync - 1n;
      if (last < curRev) {
        toRev = last;
        complete = false;
      }
      this.gapOn = complete;
      this.gapEvents = 0;
      this.gapOverflow = false;
      try {
        events = await kv.readEvents(fromRev, toRev, { prevKv: wantPrevKv });
      } catch (err) {
        this.backOut(group);
        // The store was replaced (and maybe closed) meanwhile, or a compaction raced the read:
        // the next round starts over (and cancels the watchers a compaction left behind).
        if (this.gen !== gen || err instanceof MvccError) return;
        throw err;
      }
      this.gapOn = false;
      if (this.gen !== gen || kv.compactRevision !== compactRev) {
        // The store was replaced or compacted while reading: the read may be stale or partial.
        this.backOut(group);
        return;
      }
      if (this.gapOverflow) complete = false;
      if (events.length > this.maxEventsPerSync) {
        const cutRev = revOf(events[this.maxEventsPerSync] as mvccpb.Event);
        let cut = this.maxEventsPerSync;
        while (cut > 0 && revOf(events[cut - 1] as mvccpb.Event) === cutRev) cut--;
        if (cut === 0) {
          // One revision larger than the bound: deliver it whole.
          cut = this.maxEventsPerSync;
          while (cut < events.length && revOf(events[cut] as mvccpb.Event) === cutRev) cut++;
        }
        const lastKept = revOf(events[cut - 1] as mvccpb.Event);
        if (cut < events.length) {
          events = events.slice(0, cut);
          toRev = lastKept;
          complete = false;
        }
      }
    }

    // Everything below runs in one synchronous step: no revision is published meanwhile.
    const throughRev = complete ? kv.currentRevision : toRev;
    this.collect(group, events, this.touched);
    this.touched.length = 0;
    for (const w of chosen) {
      if (w.state !== "syncing") continue;
      let evs = w.batch ?? [];
      if (complete && w.gap !== undefined) evs = evs.length === 0 ? w.gap : evs.concat(w.gap);
      w.batch = undefined;
      w.gap = undefined;
      this.deliverCatchUp(w, evs, throughRev, complete);
    }
    this.syncing = undefined;
    this.gapEvents = 0;
  }

  /** backOut returns the watchers of an abandoned round to the unsynced group unchanged. */
  private backOut(group: WatcherGroup): void {
    this.gapOn = false;
    this.gapEvents = 0;
    for (const w of group.watchers()) {
      w.batch = undefined;
      w.gap = undefined;
      w.state = "unsynced";
      this.unsynced.add(w);
    }
    this.syncing = undefined;
  }

  /**
   * deliverCatchUp queues the longest prefix of whole revisions of evs that fits w's stream
   * (the first revision always fits an empty queue) and places w: synced when it received
   * everything through the store's current revision, else unsynced with minRev at its first
   * revision not received.
   */
  private deliverCatchUp(w: Watcher, evs: mvccpb.Event[], throughRev: bigint, complete: boolean): void {
    if (evs.length === 0) {
      if (w.minRev <= throughRev) w.minRev = throughRev + 1n;
      this.place(w, complete);
      return;
    }
    const room = w.owner.room();
    const limit = room === Infinity ? w.owner.byteBudget() : room;
    let size = responseOverhead;
    let fit = 0;
    if (room >= 0) {
      let i = 0;
      while (i < evs.length) {
        const r = revOf(evs[i] as mvccpb.Event);
        let s = size;
        let j = i;
        while (j < evs.length && revOf(evs[j] as mvccpb.Event) === r) {
          s += eventSize(evs[j] as mvccpb.Event);
          j++;
        }
        if (s > (fit === 0 ? room : limit)) break;
        size = s;
        fit = j;
        i = j;
      }
    }
    if (fit === 0) {
      // Nothing fits now; the revisions before its first event hold nothing for it.
      const first = revOf(evs[0] as mvccpb.Event);
      if (first > w.minRev) w.minRev = first;
      this.place(w, false);
      return;
    }
    if (fit === evs.length) {
      w.owner.push(w.id, evs, throughRev, 0n, size);
      if (w.minRev <= throughRev) w.minRev = throughRev + 1n;
      this.place(w, complete);
      return;
    }
    const next = revOf(evs[fit] as mvccpb.Event);
    w.owner.push(w.id, evs.slice(0, fit), next - 1n, 0n, size);
    w.minRev = next;
    this.place(w, false);
  }

  private place(w: Watcher, synced: boolean): void {
    if (synced) {
      w.state = "synced";
      this.synced.add(w);
    } else {
      w.state = "unsynced";
      this.unsynced.add(w);
    }
  }
}
