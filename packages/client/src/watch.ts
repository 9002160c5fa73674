import * as grpc from "@grpc/grpc-js";
import { etcdserverpb, type mvccpb } from "@etcd-ts/proto";
import type { Balancer } from "./balancer.js";
import { keyRange, type Bytes } from "./bytes.js";
import type { EndpointConnection } from "./connection.js";
import type { Endpoint } from "./endpoint.js";
import { closedError, EtcdError, fromStatus } from "./errors.js";

/** WATCH_ID_NONE is the watch ID etcd answers with when a response belongs to no watch (-1). */
export const WATCH_ID_NONE = -1n;

/** Messages of the errors a watch ends with, as etcd's server and Go client word them. */
export const ERR_COMPACTED = "etcdserver: mvcc: required revision has been compacted";
export const ERR_FUTURE_REV = "etcdserver: mvcc: required revision is a future revision";
export const ERR_NO_LEADER = "etcdserver: no leader";

/** RESUME_BACKOFF_MS bounds the pause before a broken watch stream is opened again. */
const RESUME_BACKOFF_MS: readonly [number, number] = [50, 1000];

/** WatchOptions select what a watch reports. Revisions are full 64-bit values. */
export interface WatchOptions {
  /** rangeEnd watches [key, rangeEnd) instead of the single key ("\0": every key >= key). */
  rangeEnd?: Bytes;
  /** prefix watches every key that starts with key (an empty key: every key). */
  prefix?: boolean;
  /** fromKey watches every key >= key (an empty key: every key). */
  fromKey?: boolean;
  /** startRevision is the first revision reported (default: the next one, i.e. from now). */
  startRevision?: bigint;
  /** prevKv adds each event's previous key-value (when the server still has it). */
  prevKv?: boolean;
  /** noPut drops put events on the server (etcd's NOPUT filter). */
  noPut?: boolean;
  /** noDelete drops delete events on the server (etcd's NODELETE filter). */
  noDelete?: boolean;
  /** progressNotify asks for empty responses carrying the revision when nothing happens for a while. */
  progressNotify?: boolean;
  /**
   * fragment lets the server split responses larger than its request size limit; the
   * client reassembles them, so the iterator still yields whole responses.
   */
  fragment?: boolean;
  /**
   * watchId asks for this watch ID instead of one the server picks (etcd >= 3.4). Two
   * watches of one client must not ask for the same ID; the second fails.
   */
  watchId?: bigint;
  /**
   * requireLeader makes the member end the watch with "etcdserver: no leader" when it loses
   * its leader, instead of waiting silently. Such watches share a stream of their own.
   */
  requireLeader?: boolean;
  /** signal cancels the watch, like return(): the iterator ends without an error. */
  signal?: AbortSignal;
}

/**
 * WatchResponse is one response of a watch: its events (fragments already put together),
 * or a progress notification. `progressNotify` is set for a response that carries no events
 * and only tells that everything up to header.revision has been reported.
 */
export interface WatchResponse extends etcdserverpb.WatchResponse {
  progressNotify: boolean;
}

/**
 * WatchCanceledError ends a watch the server canceled: `compactRevision` is set when the
 * start revision was compacted (code OUT_OF_RANGE, etcd's "required revision has been
 * compacted"), otherwise the server's cancel reason is the message (FAILED_PRECONDITION).
 * `response` is the canceling response as the server sent it.
 */
export class WatchCanceledError extends EtcdError {
  readonly response: WatchResponse;
  readonly compactRevision: bigint;

  constructor(response: WatchResponse, endpoint: string | undefined) {
    const [code, msg] =
      response.compactRevision !== 0n
        ? [grpc.status.OUT_OF_RANGE, ERR_COMPACTED]
        : response.cancelReason !== ""
          ? [grpc.status.FAILED_PRECONDITION, response.cancelReason]
          : [grpc.status.OUT_OF_RANGE, ERR_FUTURE_REV];
    super(code, msg, false, endpoint);
    this.name = "WatchCanceledError";
    this.response = response;
    this.compactRevision = response.compactRevision;
  }
}

function toWatchResponse(r: etcdserverpb.WatchResponse): WatchResponse {
  const progressNotify =
    r.events.length === 0 && !r.canceled && !r.created && r.compactRevision === 0n && (r.header?.revision ?? 0n) !== 0n;
  return { ...r, progressNotify };
}

type Waiter = { resolve: (r: IteratorResult<WatchResponse>) => void; reject: (e: unknown) => void };

/**
 * Watch is one watch: an async iterator of its responses. It ends (done) after return(),
 * cancel() or an aborted signal, and rejects with an EtcdError when the server cancels it
 * (WatchCanceledError, e.g. on compaction) or the client is closed. After a broken stream it
 * is created again, on any endpoint, from the revision after the last one it reported, so
 * no event is lost or repeated. Responses are buffered until read.
 */
export class Watch implements AsyncIterableIterator<WatchResponse> {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  /** created resolves with the server's first "created" response (its header has the revision). */
  readonly created: Promise<WatchResponse>;
  /** watchId is the ID the server gave the watch (-1 while it is being created). */
  watchId = WATCH_ID_NONE;
  /** nextRevision is where the watch starts again after a broken stream (0: from now). */
  nextRevision: bigint;
  /** order is the creation order on the client, to resume watches in order. */
  readonly order: number;

  /** @internal */ readonly opts: WatchOptions;
  /** @internal */ userCanceled = false;
  private readonly buffer: WatchResponse[] = [];
  private readonly waiters: Waiter[] = [];
  private ended = false;
  private error: unknown;
  private resolveCreated!: (r: WatchResponse) => void;
  private rejectCreated!: (e: unknown) => void;
  private isCreated = false;
  private readonly onCancel: (w: Watch) => void;
  private readonly abortListener: (() => void) | undefined;

  /** @internal */
  constructor(key: Bytes, opts: WatchOptions, order: number, onCancel: (w: Watch) => void) {
    const r = keyRange(key, opts);
    this.key = r.key;
    this.rangeEnd = r.rangeEnd;
    this.opts = opts;
    this.order = order;
    this.nextRevision = opts.startRevision ?? 0n;
    this.onCancel = onCancel;
    this.created = new Promise<WatchResponse>((resolve, reject) => {
      this.resolveCreated = resolve;
      this.rejectCreated = reject;
    });
    this.created.catch(() => {});
    if (opts.signal !== undefined) {
      const listener = (): void => this.cancel();
      this.abortListener = listener;
      opts.signal.addEventListener("abort", listener, { once: true });
    }
  }

  /** @internal createRequest is the request that (re)creates the watch from nextRevision. */
  createRequest(): etcdserverpb.WatchRequest {
    const filters: etcdserverpb.WatchCreateRequest_FilterType[] = [];
    if (this.opts.noPut === true) filters.push(etcdserverpb.WatchCreateRequest_FilterType.NOPUT);
    if (this.opts.noDelete === true) filters.push(etcdserverpb.WatchCreateRequest_FilterType.NODELETE);
    return etcdserverpb.WatchRequest.fromPartial({
      createRequest: {
        key: this.key,
        rangeEnd: this.rangeEnd,
        startRevision: this.nextRevision,
        progressNotify: this.opts.progressNotify === true,
        filters,
        prevKv: this.opts.prevKv === true,
        watchId: this.opts.watchId ?? 0n,
        fragment: this.opts.fragment === true,
      },
    });
  }

  /** @internal onCreated records a "created" answer. */
  onCreated(r: etcdserverpb.WatchResponse): void {
    this.watchId = r.watchId;
    // A watch from "now" starts after the revision the member had when it created it.
    if (this.nextRevision === 0n) this.nextRevision = (r.header?.revision ?? 0n) + 1n;
    if (!this.isCreated) {
      this.isCreated = true;
      this.resolveCreated(toWatchResponse(r));
    }
  }

  /** @internal deliver hands a (reassembled) response to the reader. */
  deliver(r: etcdserverpb.WatchResponse): void {
    if (this.ended) return;
    const last = r.events[r.events.length - 1];
    if (last !== undefined) {
      const next = (last.kv?.modRevision ?? 0n) + 1n;
      if (next > this.nextRevision) this.nextRevision = next;
    } else if (!r.canceled && r.compactRevision === 0n) {
      // A progress notification: everything up to header.revision has been reported.
      const next = (r.header?.revision ?? 0n) + 1n;
      if (next > this.nextRevision) this.nextRevision = next;
    }
    this.push(toWatchResponse(r));
  }

  /** @internal fail ends the watch with err once the buffered responses are read. */
  fail(err: unknown): void {
    if (this.ended) return;
    this.error = err;
    this.finish();
    if (!this.isCreated) this.rejectCreated(err);
  }

  /** @internal end ends the watch without an error. */
  end(): void {
    if (this.ended) return;
    this.finish();
    if (!this.isCreated) this.rejectCreated(new EtcdError(grpc.status.CANCELLED, "client: watch canceled", true));
  }

  /** isDone tells whether the watch has ended (canceled, failed or closed). */
  get isDone(): boolean {
    return this.ended;
  }

  /** cancel stops the watch: the server is told, and the iterator ends after what is buffered. */
  cancel(): void {
    if (this.ended || this.userCanceled) return;
    this.userCanceled = true;
    this.end();
    this.onCancel(this);
  }

  next(): Promise<IteratorResult<WatchResponse>> {
    const r = this.buffer.shift();
    if (r !== undefined) return Promise.resolve({ value: r, done: false });
    if (this.ended) {
      if (this.error !== undefined) {
        const e = this.error;
        this.error = undefined;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<WatchResponse>> {
    this.cancel();
    this.buffer.length = 0;
    this.error = undefined;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<WatchResponse> {
    return this;
  }

  /** events iterates over the events of the watch's responses, one by one. */
  async *events(): AsyncGenerator<mvccpb.Event, void, undefined> {
    try {
      for await (const r of this) yield* r.events;
    } finally {
      this.cancel();
    }
  }

  private push(r: WatchResponse): void {
    const w = this.waiters.shift();
    if (w !== undefined) w.resolve({ value: r, done: false });
    else this.buffer.push(r);
  }

  private finish(): void {
    this.ended = true;
    if (this.abortListener !== undefined) this.opts.signal?.removeEventListener("abort", this.abortListener);
    for (const w of this.waiters.splice(0)) {
      if (this.error !== undefined) {
        const e = this.error;
        this.error = undefined;
        w.reject(e);
      } else {
        w.resolve({ value: undefined, done: true });
      }
    }
  }
}

/**
 * WatchStream is one bidirectional Watch stream that carries many watches. Creates go out
 * one at a time (etcd answers them in order); when the stream breaks, every live watch is
 * created again on a new stream from its next revision.
 */
class WatchStream {
  private readonly balancer: Balancer;
  private readonly requireLeader: boolean;
  private readonly onIdle: (s: WatchStream) => void;
  private call: grpc.ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse> | undefined;
  private conn: EndpointConnection | undefined;
  private lastFailed: Endpoint | undefined;
  private opening = false;
  private closed = false;
  /** queue holds watches waiting to be created; the head is in flight when inflight is set. */
  private queue: Watch[] = [];
  private inflight = false;
  private readonly active = new Map<bigint, Watch>();
  private readonly partial = new Map<bigint, etcdserverpb.WatchResponse>();
  private progressPending: Array<() => void> = [];
  private backoffMs = RESUME_BACKOFF_MS[0];
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(balancer: Balancer, requireLeader: boolean, onIdle: (s: WatchStream) => void) {
    this.balancer = balancer;
    this.requireLeader = requireLeader;
    this.onIdle = onIdle;
  }

  add(w: Watch): void {
    this.queue.push(w);
    this.open();
    this.sendNextCreate();
  }

  /** requestProgress asks the member for a progress notification to every watch of the stream. */
  requestProgress(): Promise<void> {
    return new Promise((resolve) => {
      if (this.call !== undefined) {
        this.call.write(etcdserverpb.WatchRequest.fromPartial({ progressRequest: {} }));
        resolve();
        return;
      }
      this.progressPending.push(resolve);
      this.open();
    });
  }

  cancel(w: Watch): void {
    const i = this.queue.indexOf(w);
    if (i > 0 || (i === 0 && !this.inflight)) {
      this.queue.splice(i, 1);
    } else if (i < 0 && this.active.get(w.watchId) === w && this.call !== undefined) {
      // The watch stays in `active` until the server confirms the cancel.
      this.call.write(etcdserverpb.WatchRequest.fromPartial({ cancelRequest: { watchId: w.watchId } }));
    } else if (i < 0 && this.active.get(w.watchId) === w) {
      this.active.delete(w.watchId);
    }
    this.maybeIdle();
  }

  /**
   * close ends every watch of the stream with err. The Watcher forgets a closed stream, so
   * the next watch opens a new one (a closed stream would hold it unsent forever).
   */
  close(err: EtcdError): void {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.dropCall();
    for (const w of [...this.active.values(), ...this.queue]) w.fail(err);
    this.active.clear();
    this.queue = [];
    for (const r of this.progressPending.splice(0)) r();
    this.onIdle(this);
  }

  private get empty(): boolean {
    return this.queue.length === 0 && this.active.size === 0 && this.progressPending.length === 0;
  }

  private maybeIdle(): void {
    if (!this.empty || this.closed) return;
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.dropCall();
    this.onIdle(this);
  }

  private open(): void {
    if (this.call !== undefined || this.opening || this.closed || this.retryTimer !== undefined) return;
    this.opening = true;
    const failed = this.lastFailed;
    this.lastFailed = undefined;
    this.balancer.ready(failed !== undefined ? { failed } : {}).then(
      (conn) => {
        this.opening = false;
        if (this.closed) return;
        this.start(conn);
      },
      (e: unknown) => {
        this.opening = false;
        if (this.closed) return;
        if (this.balancer.isClosed) {
          this.close(e instanceof EtcdError ? e : closedError());
          return;
        }
        // A server refused the client's credentials: the watches cannot be created.
        if (e instanceof EtcdError && !e.local) {
          this.close(e);
          return;
        }
        // No endpoint reachable yet: keep trying, as etcd's Go client does.
        this.scheduleRetry();
      },
    );
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    const ms = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, RESUME_BACKOFF_MS[1]);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open();
    }, ms);
  }

  private start(conn: EndpointConnection): void {
    const md = this.balancer.metadata();
    if (this.requireLeader) md.set("hasleader", "true");
    const call = conn.watch.watch(md);
    this.call = call;
    this.conn = conn;
    this.inflight = false;
    call.on("data", (r: etcdserverpb.WatchResponse) => this.onData(r));
    // grpc-js emits "error" and then "status" for a failed call; "status" alone ends a clean one.
    call.on("error", () => {});
    call.on("status", (st: grpc.StatusObject) => this.onBroken(call, st));
    for (const r of this.progressPending.splice(0)) {
      call.write(etcdserverpb.WatchRequest.fromPartial({ progressRequest: {} }));
      r();
    }
    this.sendNextCreate();
    this.maybeIdle();
  }

  private sendNextCreate(): void {
    if (this.call === undefined || this.inflight) return;
    while (this.queue.length > 0 && (this.queue[0] as Watch).isDone) this.queue.shift();
    const head = this.queue[0];
    if (head === undefined) {
      this.maybeIdle();
      return;
    }
    this.inflight = true;
    this.call.write(head.createRequest());
  }

  private endpointName(): string | undefined {
    return this.conn?.endpoint.raw;
  }

  private onData(r: etcdserverpb.WatchResponse): void {
    if (r.created) {
      const head = this.queue.shift();
      this.inflight = false;
      if (head !== undefined) {
        if (r.canceled || r.watchId === WATCH_ID_NONE) {
          head.fail(new WatchCanceledError(toWatchResponse(r), this.endpointName()));
        } else if (head.isDone) {
          this.call?.write(etcdserverpb.WatchRequest.fromPartial({ cancelRequest: { watchId: r.watchId } }));
          this.active.set(r.watchId, head);
        } else {
          this.backoffMs = RESUME_BACKOFF_MS[0];
          this.active.set(r.watchId, head);
          head.onCreated(r);
        }
      }
      this.sendNextCreate();
      return;
    }
    if (r.watchId === WATCH_ID_NONE) {
      // A progress notification for the whole stream.
      for (const w of this.active.values()) w.deliver(r);
      return;
    }
    const w = this.active.get(r.watchId);
    if (r.canceled) {
      this.active.delete(r.watchId);
      this.partial.delete(r.watchId);
      if (w !== undefined) {
        if (w.userCanceled || w.isDone) w.end();
        else w.fail(new WatchCanceledError(toWatchResponse(r), this.endpointName()));
      }
      this.maybeIdle();
      return;
    }
    if (w === undefined) return;
    let whole = r;
    const part = this.partial.get(r.watchId);
    if (part !== undefined) {
      part.events.push(...r.events);
      part.header = r.header;
      whole = part;
    }
    if (r.fragment) {
      if (part === undefined) this.partial.set(r.watchId, { ...r, events: [...r.events] });
      return;
    }
    this.partial.delete(r.watchId);
    whole.fragment = false;
    w.deliver(whole);
  }

  private onBroken(
    call: grpc.ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>,
    st: grpc.StatusObject,
  ): void {
    if (call !== this.call || this.closed) return;
    this.dropCall();
    const err = st.code !== grpc.status.OK ? fromStatus(st.code, st.details, this.endpointName()) : undefined;
    // A stream refused for its auth token is opened again with a new one.
    if (err !== undefined && !retryable(err, this.requireLeader) && !this.balancer.tokenRejected(err)) {
      this.close(err);
      return;
    }
    this.lastFailed = this.conn?.endpoint;
    // Create every live watch again, in creation order, from its next revision.
    const live = [...this.active.values()].filter((w) => !w.isDone).sort((a, b) => a.order - b.order);
    this.active.clear();
    this.partial.clear();
    this.queue = [...live, ...this.queue.filter((w) => !w.isDone)];
    this.inflight = false;
    if (this.empty) {
      this.maybeIdle();
      return;
    }
    this.scheduleRetry();
  }

  private dropCall(): void {
    const call = this.call;
    this.call = undefined;
    this.inflight = false;
    if (call === undefined) return;
    call.removeAllListeners("data");
    call.removeAllListeners("status");
    call.removeAllListeners("error");
    call.on("error", () => {});
    call.cancel();
  }
}

/**
 * retryable tells whether a broken watch or keep-alive stream is worth opening again: the
 * member went away or the connection broke (UNAVAILABLE, INTERNAL, or an unexpected
 * CANCELLED/UNKNOWN from a dying connection), as in etcd's Go client. "etcdserver: no
 * leader" ends streams that asked for a leader.
 */
export function retryable(err: EtcdError, requireLeader: boolean): boolean {
  if (err.local) return false;
  if (requireLeader && err.details === ERR_NO_LEADER) return false;
  return (
    err.code === grpc.status.UNAVAILABLE ||
    err.code === grpc.status.INTERNAL ||
    err.code === grpc.status.CANCELLED ||
    err.code === grpc.status.UNKNOWN
  );
}

/**
 * Watcher runs the client's watches over one Watch stream (plus one for watches that require
 * a leader), opened on the first watch and closed when the last one ends.
 */
export class Watcher {
  private readonly balancer: Balancer;
  private readonly streams = new Map<boolean, WatchStream>();
  private counter = 0;
  private closed = false;

  constructor(balancer: Balancer) {
    this.balancer = balancer;
  }

  /** watch starts watching key (see WatchOptions for ranges and filters). */
  watch(key: Bytes, opts: WatchOptions = {}): Watch {
    if (this.closed) {
      const w = new Watch(key, opts, this.counter++, () => {});
      w.fail(closedError());
      return w;
    }
    const stream = this.stream(opts.requireLeader === true);
    const w = new Watch(key, opts, this.counter++, (x) => stream.cancel(x));
    if (opts.signal?.aborted === true) {
      w.end();
      return w;
    }
    stream.add(w);
    return w;
  }

  /**
   * requestProgress asks the member serving the watch stream for a progress notification: every
   * watch of the stream then yields a response with progressNotify set and the member's
   * current revision (etcd answers only once all its watches have caught up).
   */
  requestProgress(opts: { requireLeader?: boolean } = {}): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return this.stream(opts.requireLeader === true).requestProgress();
  }

  /** close ends every watch with the client's "closed" error. */
  close(): void {
    this.closed = true;
    for (const s of this.streams.values()) s.close(closedError());
    this.streams.clear();
  }

  private stream(requireLeader: boolean): WatchStream {
    let s = this.streams.get(requireLeader);
    if (s === undefined) {
      s = new WatchStream(this.balancer, requireLeader, (idle) => {
        if (this.streams.get(requireLeader) === idle) this.streams.delete(requireLeader);
      });
      this.streams.set(requireLeader, s);
    }
    return s;
  }
}
