import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { AuthError } from "@etcd-ts/auth";
import type { BidiStream, ServiceImplementation } from "@etcd-ts/grpc-server";
import { WatchError, type WatchFilters, type WatchResponse as StoreResponse, type WatchStream } from "@etcd-ts/mvcc";
import type { EtcdServer } from "../etcd_server.js";
import { varintSize, writeVarint } from "../varint.js";
import { credentialsOf } from "./auth.js";

/** MIN_PROGRESS_NOTIFY_MS is the shortest progress notification interval etcd allows (minWatchProgressInterval). */
export const MIN_PROGRESS_NOTIFY_MS = 100;

/**
 * MAX_CTRL_QUEUED bounds the control answers (created, canceled, progress) waiting to be
 * sent; past it no more requests are read, so a client that sends requests without reading
 * answers is stopped by flow control (etcd's ctrlStream holds 16).
 */
const MAX_CTRL_QUEUED = 16;

/** PROGRESS_RETRY_MS is how often a pending RequestProgress is checked while watchers catch up. */
const PROGRESS_RETRY_MS = 20;

/** INVALID_WATCH_ID is the watch ID of answers that belong to no watcher (clientv3.InvalidWatchID). */
const INVALID_WATCH_ID = -1n;

/** WatchServiceOptions are the member's watch settings. */
export interface WatchServiceOptions {
  /**
   * maxResponseBytes is the size above which a response of a watcher created with `fragment`
   * is split (etcd: --max-request-bytes plus its gRPC overhead allowance).
   */
  maxResponseBytes: number;
  /** progressNotifyMs is --experimental-watch-progress-notify-interval (at least MIN_PROGRESS_NOTIFY_MS). */
  progressNotifyMs: number;
  /** clientCertAuth is --client-cert-auth: a verified client certificate's common name is the stream's user when it sends no token. */
  clientCertAuth?: boolean;
}

/**
 * WatchServiceDefinition is etcdserverpb.WatchService whose responses may also be sent
 * already encoded (a Buffer): an event response is assembled from the header and the events'
 * encodings, each event encoded once for all the watchers it reaches.
 */
export const WatchServiceDefinition = {
  watch: {
    ...etcdserverpb.WatchService.watch,
    responseSerialize: (r: etcdserverpb.WatchResponse | Buffer): Buffer =>
      Buffer.isBuffer(r) ? r : etcdserverpb.WatchService.watch.responseSerialize(r),
  },
} as const;

type Call = BidiStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse | Buffer>;

/** watchService implements etcdserverpb.Watch on an EtcdServer (register it with WatchServiceDefinition). */
export function watchService(s: EtcdServer, o: WatchServiceOptions): ServiceImplementation<typeof WatchServiceDefinition> {
  return { watch: (call) => new ServerWatchStream(s, o, call).run() };
}

/** WATCH_EVENTS_TAG is the tag of WatchResponse.events (field 11, length-delimited). */
const WATCH_EVENTS_TAG = (11 << 3) | 2;

/**
 * encodedEvents caches each event's encoding as a WatchResponse field (tag, length, Event),
 * keyed by the event object the store hands to every watcher of a revision, so a fan-out to
 * N watchers encodes each event once. Entries go when the events do.
 */
const encodedEvents = new WeakMap<mvccpb.Event, Buffer>();

function encodedEvent(ev: mvccpb.Event): Buffer {
  let b = encodedEvents.get(ev);
  if (b === undefined) {
    const body = mvccpb.Event.encode(ev).finish();
    b = Buffer.allocUnsafe(1 + varintSize(body.length) + body.length);
    b[0] = WATCH_EVENTS_TAG;
    b.set(body, writeVarint(b, 1, body.length));
    encodedEvents.set(ev, b);
  }
  return b;
}

/**
 * headerCache holds the last header encoded as WatchResponse field 1 (tag, length,
 * ResponseHeader): every watcher of a revision gets the same header.
 */
let headerCache: { h: etcdserverpb.ResponseHeader; bytes: Buffer } | undefined;

function encodedHeader(h: etcdserverpb.ResponseHeader): Buffer {
  const c = headerCache;
  if (c !== undefined && c.h.revision === h.revision && c.h.raftTerm === h.raftTerm && c.h.memberId === h.memberId && c.h.clusterId === h.clusterId) {
    return c.bytes;
  }
  const body = etcdserverpb.ResponseHeader.encode(h).finish();
  const bytes = Buffer.allocUnsafe(1 + varintSize(body.length) + body.length);
  bytes[0] = (1 << 3) | 2;
  const at = writeVarint(bytes, 1, body.length);
  bytes.set(body, at);
  headerCache = { h, bytes };
  return bytes;
}

/** encodeHead encodes a plain event response's header and watch ID (no flags set), as ts-proto would. */
function encodeHead(r: etcdserverpb.WatchResponse): Uint8Array {
  const plain = !r.created && !r.canceled && r.compactRevision === 0n && r.cancelReason === "" && !r.fragment;
  if (!plain || r.header === undefined || r.watchId < 0n || r.watchId > BigInt(Number.MAX_SAFE_INTEGER)) {
    return etcdserverpb.WatchResponse.encode({ ...r, events: [] }).finish();
  }
  const header = encodedHeader(r.header);
  if (r.watchId === 0n) return header;
  const id = Number(r.watchId);
  const b = Buffer.allocUnsafe(header.length + 1 + varintSize(id));
  header.copy(b, 0);
  b[header.length] = (2 << 3) | 0;
  writeVarint(b, header.length + 1, id);
  return b;
}

/** encodeWithEvents encodes r (its events ignored) followed by events, from the cache. */
export function encodeWithEvents(r: etcdserverpb.WatchResponse, events: mvccpb.Event[]): Buffer {
  const head = encodeHead(r);
  const parts: Uint8Array[] = [head];
  let size = head.length;
  for (const ev of events) {
    const e = encodedEvent(ev);
    parts.push(e);
    size += e.length;
  }
  return Buffer.concat(parts, size);
}

/**
 * ServerWatchStream serves one Watch call (etcd's serverWatchStream): requests create and
 * cancel watchers on one store watch stream and ask for progress; one send loop writes, in
 * order, the control answers (created, canceled, progress) and the watchers' event
 * responses, each send awaited, so a client that stops reading leaves responses queued in the
 * store's bounded stream, whose watchers then fall back to catching up from the store. A
 * watcher's events are never sent before its "created" answer, nor after its "canceled" one.
 * The call ends when the client cancels it; everything it held is freed then.
 */
class ServerWatchStream {
  private readonly ws: WatchStream;
  private readonly ctrl: etcdserverpb.WatchResponse[] = [];
  /** active are the watchers whose "created" answer is queued or sent and that are not canceled. */
  private readonly active = new Set<bigint>();
  /** progress holds the watchers created with progress_notify: true when one is due at the next tick. */
  private readonly progress = new Map<bigint, boolean>();
  private readonly fragment = new Set<bigint>();
  private wake: (() => void) | undefined;
  /** held is the store response taken for sending: null when none, undefined once the store stream ended. */
  private held: StoreResponse | undefined | null = null;
  /** pulling: a next() on the store stream is outstanding. */
  private pulling = false;
  /** progressWanted: the client sent a RequestProgress not answered yet. */
  private progressWanted = false;
  private progressTimer: NodeJS.Timeout | undefined;
  /** ctrlRoom wakes the receive loop once the control queue has room again. */
  private ctrlRoom: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly s: EtcdServer,
    private readonly o: WatchServiceOptions,
    private readonly call: Call,
  ) {
    this.ws = s.newWatchStream();
  }

  async run(): Promise<void> {
    const interval = Math.max(this.o.progressNotifyMs, MIN_PROGRESS_NOTIFY_MS);
    // etcd adds up to 10% jitter to the interval.
    const ticker = setInterval(() => this.progressTick(), interval + Math.floor(Math.random() * (interval / 10)));
    ticker.unref();
    const stop = (): void => this.close();
    this.call.onCancel(stop);
    try {
      const recv = this.recvLoop();
      await Promise.all([recv, this.sendLoop()]);
    } finally {
      clearInterval(ticker);
      this.close();
    }
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.progressTimer !== undefined) clearTimeout(this.progressTimer);
    this.ws.close();
    this.notify();
    this.roomFreed();
  }

  private roomFreed(): void {
    const r = this.ctrlRoom;
    this.ctrlRoom = undefined;
    r?.();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private header(rev: bigint): etcdserverpb.ResponseHeader {
    return this.s.header(rev);
  }

  private pushCtrl(r: etcdserverpb.WatchResponse): void {
    this.ctrl.push(r);
    this.notify();
  }

  /**
   * recvLoop handles the client's requests until it half-closes (the stream then stays open
   * for events, as in etcd, until the client cancels) or the call fails.
   */
  private async recvLoop(): Promise<void> {
    try {
      for await (const req of this.call) {
        if (this.closed) return;
        if (this.ctrl.length >= MAX_CTRL_QUEUED) await new Promise<void>((resolve) => (this.ctrlRoom = resolve));
        if (this.closed) return;
        if (req.createRequest !== undefined) {
          const refused = this.s.auth.enabled ? await this.watchRefusal(req.createRequest) : undefined;
          if (this.closed) return;
          this.create(req.createRequest, refused);
        }
        else if (req.cancelRequest !== undefined) this.cancel(req.cancelRequest.watchId);
        else if (req.progressRequest !== undefined) {
          // Not tied to a watcher: clients deliver it to every watcher of the stream. It is
          // answered once no earlier event can follow it (see progressDue).
          this.progressWanted = true;
          this.notify();
        }
      }
    } catch {
      this.close();
    }
  }

  /** create starts a watcher, or answers etcd's created-and-canceled response with `refused`, the reason auth refused it. */
  private create(c: etcdserverpb.WatchCreateRequest, refused: string | undefined): void {
    const key = c.key.length === 0 ? Buffer.from([0]) : c.key;
    const end = c.rangeEnd.length === 0 ? undefined : c.rangeEnd.length === 1 && c.rangeEnd[0] === 0 ? Buffer.alloc(0) : c.rangeEnd;
    if (refused !== undefined) {
      // etcd answers a watch the user may not read with a created-and-canceled response.
      const r = response(this.header(this.ws.rev), INVALID_WATCH_ID);
      r.created = true;
      r.canceled = true;
      r.cancelReason = refused;
      this.pushCtrl(r);
      return;
    }
    const filters: WatchFilters = {};
    for (const f of c.filters) {
      if (f === etcdserverpb.WatchCreateRequest_FilterType.NOPUT) filters.noPut = true;
      else if (f === etcdserverpb.WatchCreateRequest_FilterType.NODELETE) filters.noDelete = true;
    }
    const wsrev = this.ws.rev;
    const startRev = c.startRevision === 0n ? wsrev + 1n : c.startRevision;
    let id: bigint;
    let reason = "";
    try {
      id = this.ws.watch({
        key,
        end,
        startRev,
        prevKv: c.prevKv,
        filters,
        ...(c.watchId !== 0n ? { id: c.watchId } : {}),
      });
    } catch (err) {
      if (!(err instanceof WatchError)) throw err;
      id = INVALID_WATCH_ID;
      reason = err.message;
    }
    const r = response(this.header(wsrev), id);
    r.created = true;
    if (reason !== "") {
      r.canceled = true;
      r.cancelReason = reason;
    } else {
      this.active.add(id);
      if (c.progressNotify) this.progress.set(id, true);
      if (c.fragment) this.fragment.add(id);
      // A watcher from a past revision catches up from the store: start now, not at the next tick.
      if (startRev <= wsrev) this.s.kickWatchSync();
    }
    this.pushCtrl(r);
  }

  /**
   * watchRefusal checks that the stream's user may read the watched range, with its
   * credentials resolved again (a token may have been invalidated since the stream began,
   * or made on another member moments ago) at the current auth revision, as etcd's
   * isWatchPermitted does; it returns etcd's cancel reason, or undefined.
   */
  private async watchRefusal(c: etcdserverpb.WatchCreateRequest): Promise<string | undefined> {
    const key = c.key.length === 0 ? Buffer.from([0]) : c.key;
    try {
      const info = await credentialsOf(this.s, this.call, this.o.clientCertAuth === true);
      this.s.auth.isRangePermitted(info, key, Buffer.from(c.rangeEnd));
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      if (err.code === "invalid_auth_token") return "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token";
      if (err.code === "auth_old_revision") return "rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old";
      if (err.code === "user_empty") return "rpc error: code = InvalidArgument desc = etcdserver: user name is empty";
      return "rpc error: code = PermissionDenied desc = etcdserver: permission denied";
    }
    return undefined;
  }

  /** cancel removes a watcher and answers "canceled"; an unknown ID gets no answer (etcd 3.4). */
  private cancel(id: bigint): void {
    if (!this.ws.cancel(id)) return;
    this.forget(id);
    // A response of the canceled watcher already taken from the store is dropped too (a
    // new watcher may reuse the ID).
    if (this.held !== null && this.held !== undefined && this.held.watchId === id) this.held = null;
    const r = response(this.header(this.ws.rev), id);
    r.canceled = true;
    this.pushCtrl(r);
  }

  private forget(id: bigint): void {
    this.active.delete(id);
    this.progress.delete(id);
    this.fragment.delete(id);
  }

  /** progressTick asks for a progress notification for every progress_notify watcher that got no events since the last tick. */
  private progressTick(): void {
    for (const [id, due] of this.progress) {
      if (due) this.ws.requestProgress(id);
      this.progress.set(id, true);
    }
  }

  /**
   * sendLoop sends, in order of priority: the control answers, a RequestProgress answer once
   * it is due (see progressDue), and the store's responses one at a time.
   */
  private async sendLoop(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const c = this.ctrl.shift();
      if (c !== undefined) {
        if (!(await this.send(c))) return;
        if (this.ctrl.length < MAX_CTRL_QUEUED) this.roomFreed();
        continue;
      }
      const held = this.held;
      if (held !== null) {
        this.held = null;
        if (held === undefined) return;
        if (!(await this.sendStore(held))) return;
        continue;
      }
      if (this.progressWanted && this.progressDue()) {
        this.progressWanted = false;
        if (!(await this.send(response(this.header(this.ws.rev), INVALID_WATCH_ID)))) return;
        continue;
      }
      if (!this.pulling) this.pull();
      if (this.held !== null) continue;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** pull asks the store stream for its next response; it becomes `held` and wakes the send loop. */
  private pull(): void {
    const r = this.ws.poll();
    if (r !== undefined) {
      this.held = r;
      return;
    }
    this.pulling = true;
    this.ws.next().then(
      (next) => {
        this.pulling = false;
        this.held = next;
        this.notify();
      },
      () => {
        this.pulling = false;
        this.held = undefined;
        this.notify();
      },
    );
  }

  /**
   * progressDue tells whether a RequestProgress can be answered: every watcher of the stream
   * is synced and nothing of the store is waiting to be sent, so no event at or below the
   * revision it reports can follow it. Until then it is checked again every
   * PROGRESS_RETRY_MS (watchers catching up may have no events left to send).
   */
  private progressDue(): boolean {
    if (this.ws.queued === 0 && this.ws.allSynced) return true;
    if (this.progressTimer === undefined) {
      this.progressTimer = setTimeout(() => {
        this.progressTimer = undefined;
        this.notify();
      }, PROGRESS_RETRY_MS);
      this.progressTimer.unref();
    }
    return false;
  }

  /** sendStore sends one watcher's response from the store, if that watcher is still active. */
  private async sendStore(r: StoreResponse): Promise<boolean> {
    if (!this.active.has(r.watchId)) return true;
    const out = response(this.header(r.revision), r.watchId);
    out.events = r.events;
    if (r.compactRevision !== 0n) {
      out.compactRevision = r.compactRevision;
      out.canceled = true;
      this.forget(r.watchId);
    }
    if (r.events.length > 0 && this.progress.has(r.watchId)) this.progress.set(r.watchId, false);
    if (this.fragment.has(r.watchId)) return this.sendFragments(out);
    return this.send(out.events.length === 0 ? out : encodeWithEvents(out, out.events));
  }

  /**
   * sendFragments sends a response bigger than maxResponseBytes as several, each with as many
   * events as fit (at least one) and `fragment` set on all but the last (etcd's sendFragments).
   */
  private async sendFragments(r: etcdserverpb.WatchResponse): Promise<boolean> {
    const max = this.o.maxResponseBytes;
    const whole = encodeWithEvents(r, r.events);
    if (r.events.length < 2 || whole.length < max) return this.send(whole);
    const base = etcdserverpb.WatchResponse.encode({ ...r, events: [], fragment: true }).finish().length;
    let i = 0;
    while (i < r.events.length) {
      const events: mvccpb.Event[] = [];
      let size = base;
      while (i < r.events.length) {
        const ev = r.events[i] as mvccpb.Event;
        // An event's share of the response: its encoding plus the field tag and length prefix.
        const n = encodedEvent(ev).length;
        if (events.length > 0 && size + n >= max) break;
        events.push(ev);
        size += n;
        i++;
      }
      const part: etcdserverpb.WatchResponse = { ...r, events, fragment: i < r.events.length };
      if (!(await this.send(encodeWithEvents(part, events)))) return false;
    }
    return true;
  }

  private async send(r: etcdserverpb.WatchResponse | Buffer): Promise<boolean> {
    try {
      await this.call.send(r);
      return true;
    } catch {
      this.close();
      return false;
    }
  }
}

/** response is an empty WatchResponse for watch ID id with header h. */
function response(h: etcdserverpb.ResponseHeader, id: bigint): etcdserverpb.WatchResponse {
  return {
    header: h,
    watchId: id,
    created: false,
    canceled: false,
    compactRevision: 0n,
    cancelReason: "",
    fragment: false,
    events: [],
  };
}

