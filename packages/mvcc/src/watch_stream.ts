import type { mvccpb } from "@etcd-ts/proto";
import { Watcher, type WatcherOwner } from "./watcher_group.js";

/** WatchFilters drop event types from a watcher's responses (etcd's FilterFuncs). */
export interface WatchFilters {
  noPut?: boolean | undefined;
  noDelete?: boolean | undefined;
}

/**
 * WatchCreate is a watch as the stream creates it.
 * - `end`: undefined = the key alone; an empty Buffer = every key >= key; else [key, end).
 * - `startRev`: 0 = from the next revision on; <= the current revision = catch up from there
 *   (through syncWatchers); > the current revision = only revisions >= startRev.
 * - `id`: the client-chosen watch ID. undefined, 0n (etcd's AutoWatchID: the wire's "not
 *   provided") and -1n (etcd's InvalidWatchID) ask for an automatic ID; any other value is
 *   used as given, as etcd does.
 */
export interface WatchCreate {
  key: Buffer;
  end: Buffer | undefined;
  startRev: bigint;
  prevKv: boolean;
  filters?: WatchFilters | undefined;
  id?: bigint | undefined;
}

/**
 * WatchResponse is one response for one watcher (etcd's mvcc.WatchResponse).
 * - `events`: whole revisions, in revision order (never a part of a revision). Shared with the
 *   store and other watchers: do not mutate them.
 * - `revision`: for a live response, the revision of its events; for a catch-up response, the
 *   revision the watcher has now observed the store through (>= its last event's revision; no
 *   later response holds an event at or below it); for a progress response, the store's
 *   revision; 0 for a compaction response (as etcd).
 * - `compactRevision` > 0: the watcher was canceled and removed because the revision it had to
 *   continue from was compacted; no further response comes for it.
 */
export interface WatchResponse {
  watchId: bigint;
  events: mvccpb.Event[];
  revision: bigint;
  compactRevision: bigint;
}

/** WatchErrorCode names why a watch request failed. */
export type WatchErrorCode = "duplicate_id" | "empty_range" | "not_exist" | "too_many" | "closed";

const watchErrorMessages: Record<WatchErrorCode, string> = {
  duplicate_id: "mvcc: duplicate watch ID provided on the WatchStream",
  empty_range: "mvcc: watcher range is empty",
  not_exist: "mvcc: watcher does not exist",
  too_many: "mvcc: too many watchers on the watch stream",
  closed: "mvcc: watch stream is closed",
};

/** WatchError is a failed watch request, with etcd's message where etcd has one. */
export class WatchError extends Error {
  readonly code: WatchErrorCode;

  constructor(code: WatchErrorCode) {
    super(watchErrorMessages[code]);
    this.name = "WatchError";
    this.code = code;
  }
}

/** WatchStreamOptions bound one stream. */
export interface WatchStreamOptions {
  /** maxWatchers caps the watchers open on the stream at once (default 100,000). */
  maxWatchers?: number | undefined;
  /** maxPendingBytes caps the estimated size of the queued responses (default 16 MiB); one response always fits an empty queue. */
  maxPendingBytes?: number | undefined;
  /** maxQueued caps the number of queued responses (default 128, etcd's chanBufLen). */
  maxQueued?: number | undefined;
}

export const defaultMaxWatchersPerStream = 100_000;
export const defaultMaxPendingBytes = 16 * 1024 * 1024;
export const defaultMaxQueued = 128;

/**
 * WatchHost is what a stream needs from its watchable store (implemented by WatchableStore,
 * not by callers).
 */
export interface WatchHost {
  readonly currentRevision: bigint;
  /** addWatcher places a new watcher in the synced or unsynced group according to startRev. */
  addWatcher(w: Watcher, startRev: bigint): void;
  /** removeWatcher takes a watcher out of whatever group holds it. */
  removeWatcher(w: Watcher): void;
  /** progress queues a progress response for w if it is synced. */
  progress(w: Watcher): void;
  /** streamClosed forgets a closed stream. */
  streamClosed(s: WatchStream): void;
}

const autoId = (id: bigint | undefined): boolean => id === undefined || id === 0n || id === -1n;

/**
 * WatchStream is one client stream's watchers and the bounded queue of their responses
 * (etcd's watchStream with its channel). The store pushes responses only when they fit;
 * a watcher whose response does not fit falls behind and catches up from the backend later,
 * so the queue never grows past its bounds. Create streams with WatchableStore.newStream.
 */
export class WatchStream implements WatcherOwner {
  private readonly host: WatchHost;
  private readonly maxWatchers: number;
  private readonly maxPendingBytes: number;
  private readonly maxQueued: number;
  private readonly byId = new Map<bigint, Watcher>();
  private nextId = 0n;
  private closed = false;
  /** The queue: responses[head..] with their estimated sizes. */
  private responses: WatchResponse[] = [];
  private sizes: number[] = [];
  private head = 0;
  private bytes = 0;
  private waiters: Array<(r: WatchResponse | undefined) => void> = [];

  /** @internal use WatchableStore.newStream. */
  constructor(host: WatchHost, opts: WatchStreamOptions = {}) {
    this.host = host;
    this.maxWatchers = opts.maxWatchers ?? defaultMaxWatchersPerStream;
    this.maxPendingBytes = opts.maxPendingBytes ?? defaultMaxPendingBytes;
    this.maxQueued = opts.maxQueued ?? defaultMaxQueued;
  }

  /**
   * watch creates a watcher and returns its ID. It throws WatchError: empty_range (end is
   * non-empty and key >= end), duplicate_id (the ID is in use on this stream), too_many
   * (maxWatchers reached), closed (the stream is closed). Automatic IDs count up from 0 and
   * skip IDs in use.
   */
  watch(req: WatchCreate): bigint {
    if (req.end !== undefined && req.end.length > 0 && Buffer.compare(req.key, req.end) >= 0) throw new WatchError("empty_range");
    if (this.closed) throw new WatchError("closed");
    let id: bigint;
    if (autoId(req.id)) {
      if (this.byId.size >= this.maxWatchers) throw new WatchError("too_many");
      while (this.byId.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else {
      id = req.id as bigint;
      if (this.byId.has(id)) throw new WatchError("duplicate_id");
      if (this.byId.size >= this.maxWatchers) throw new WatchError("too_many");
    }
    const w = new Watcher(
      id,
      req.key,
      req.end,
      req.startRev,
      { prevKv: req.prevKv, noPut: req.filters?.noPut === true, noDelete: req.filters?.noDelete === true },
      this,
    );
    this.host.addWatcher(w, req.startRev);
    this.byId.set(id, w);
    return id;
  }

  /**
   * cancel removes a watcher and drops its responses still queued; it returns false when the
   * stream has no watcher with that ID (etcd's ErrWatcherNotExist).
   */
  cancel(id: bigint): boolean {
    const w = this.byId.get(id);
    if (w === undefined || this.closed) return false;
    this.host.removeWatcher(w);
    this.byId.delete(id);
    this.purge(id);
    return true;
  }

  /**
   * requestProgress queues {watchId: id, events: [], revision: current} when that watcher is
   * synced and the queue has room (etcd's RequestProgress); otherwise it does nothing.
   */
  requestProgress(id: bigint): void {
    const w = this.byId.get(id);
    if (w === undefined || this.closed) return;
    this.host.progress(w);
  }

  /**
   * allSynced: every watcher of the stream is synced (none is behind the store or catching
   * up), so once the queue is delivered the client has seen every event up to rev.
   */
  get allSynced(): boolean {
    for (const w of this.byId.values()) if (w.state !== "synced") return false;
    return true;
  }

  /** rev is the store's current revision (etcd's watchStream.Rev). */
  get rev(): bigint {
    return this.host.currentRevision;
  }

  /** next resolves with the next queued response, or undefined once the stream is closed. */
  next(): Promise<WatchResponse | undefined> {
    const r = this.poll();
    if (r !== undefined || this.closed) return Promise.resolve(r);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
    });
  }

  /** poll takes the next queued response at once, or undefined when none is queued. */
  poll(): WatchResponse | undefined {
    if (this.head >= this.responses.length) return undefined;
    const r = this.responses[this.head] as WatchResponse;
    this.bytes -= this.sizes[this.head] as number;
    this.head++;
    if (this.head === this.responses.length) {
      this.responses = [];
      this.sizes = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.responses.length) {
      this.responses = this.responses.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    return r;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchResponse> {
    for (;;) {
      const r = await this.next();
      if (r === undefined) return;
      yield r;
    }
  }

  /** close cancels every watcher and drops every queued response; pending next() calls resolve undefined. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.byId.values()) this.host.removeWatcher(w);
    this.byId.clear();
    this.responses = [];
    this.sizes = [];
    this.head = 0;
    this.bytes = 0;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(undefined);
    this.host.streamClosed(this);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** watcherCount is the number of watchers open on the stream. */
  get watcherCount(): number {
    return this.byId.size;
  }

  /** pendingBytes is the estimated size of the queued responses. */
  get pendingBytes(): number {
    return this.bytes;
  }

  /** queued is the number of queued responses. */
  get queued(): number {
    return this.responses.length - this.head;
  }

  // ---- WatcherOwner, for the store ----

  /** @internal room is how many bytes one more response may take: -1 when closed or no slot is left, Infinity when the queue is empty. */
  room(): number {
    if (this.closed) return -1;
    const n = this.responses.length - this.head;
    if (n === 0) return Infinity;
    if (n >= this.maxQueued) return -1;
    const left = this.maxPendingBytes - this.bytes;
    return left < 0 ? 0 : left;
  }

  /** @internal byteBudget is maxPendingBytes: what a response of several revisions may take even in an empty queue. */
  byteBudget(): number {
    return this.maxPendingBytes;
  }

  /** @internal push queues a response (the store checked room()). */
  push(watchId: bigint, events: mvccpb.Event[], revision: bigint, compactRevision: bigint, size: number): void {
    if (this.closed) return;
    const r: WatchResponse = { watchId, events, revision, compactRevision };
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter(r);
      return;
    }
    this.responses.push(r);
    this.sizes.push(size);
    this.bytes += size;
  }

  /** @internal dropWatcher forgets a watcher the store removed (after compaction). */
  dropWatcher(w: Watcher): void {
    if (this.byId.get(w.id) === w) this.byId.delete(w.id);
  }

  /** purge drops the queued responses of one watcher. */
  private purge(id: bigint): void {
    if (this.head >= this.responses.length) return;
    const responses: WatchResponse[] = [];
    const sizes: number[] = [];
    let bytes = 0;
    for (let i = this.head; i < this.responses.length; i++) {
      const r = this.responses[i] as WatchResponse;
      if (r.watchId === id) continue;
      const size = this.sizes[i] as number;
      responses.push(r);
      sizes.push(size);
      bytes += size;
    }
    this.responses = responses;
    this.sizes = sizes;
    this.head = 0;
    this.bytes = bytes;
  }
}
