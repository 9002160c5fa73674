import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Balancer } from "./balancer.js";
import type { EndpointConnection } from "./connection.js";
import type { Endpoint } from "./endpoint.js";
import { closedError, deadlineError, EtcdError, fromStatus } from "./errors.js";
import type { CallOptions } from "./options.js";
import { retryable } from "./watch.js";

/** ERR_LEASE_NOT_FOUND is etcd's message for a lease that does not exist (any more). */
export const ERR_LEASE_NOT_FOUND = "etcdserver: requested lease not found";

/** RETRY_STREAM_MS is the pause before a broken keep-alive stream is opened again (Go's retryConnWait). */
const RETRY_STREAM_MS = 500;
/** TICK_MS is how often due keep-alives are sent and overdue leases checked. */
const TICK_MS = 250;

/** leaseNotFound is the error of a lease the server no longer has. */
export function leaseNotFound(endpoint?: string): EtcdError {
  return new EtcdError(grpc.status.NOT_FOUND, ERR_LEASE_NOT_FOUND, false, endpoint);
}

/** LeaseGrantOptions: a lease ID of the caller's choosing (default: the server picks one). */
export interface LeaseGrantOptions extends CallOptions {
  id?: bigint;
}

/** TimeToLiveOptions: keys asks for the keys attached to the lease. */
export interface TimeToLiveOptions extends CallOptions {
  keys?: boolean;
}

/** KeepAliveOptions configure a kept-alive lease. */
export interface KeepAliveOptions {
  /**
   * firstResponseTimeoutMs is how long the first keep-alive may go unanswered before the
   * lease is given up as lost (later ones: the lease's TTL). Default: dial timeout + 1 s.
   */
  firstResponseTimeoutMs?: number;
  /** signal stops keeping the lease alive, like close(). */
  signal?: AbortSignal;
}

type KeepAliveWaiter = { resolve: (r: IteratorResult<etcdserverpb.LeaseKeepAliveResponse>) => void };

/**
 * KeptAliveLease is a lease the client keeps alive: it sends a keep-alive over the client's
 * LeaseKeepAlive stream when a third of the TTL has passed since the last answer. Events:
 * - "keepalive" (LeaseKeepAliveResponse): the server renewed the lease;
 * - "lost" (EtcdError): the lease is gone, because the server answered TTL <= 0 (revoked or
 *   expired; NOT_FOUND "etcdserver: requested lease not found") or no answer came within the
 *   TTL (a local DEADLINE_EXCEEDED error). Nothing is sent for it afterwards.
 * `lost` is also a promise, and the object iterates over the keep-alive answers until then.
 * close() stops the keep-alives without revoking; the lease then expires by itself.
 */
export class KeptAliveLease extends EventEmitter {
  readonly id: bigint;
  /** ttl is the TTL (seconds) of the last answer; 0 until the first. */
  ttl = 0n;
  /** lost resolves with the reason once the lease is lost; it never resolves after close(). */
  readonly lost: Promise<EtcdError>;
  /** ended resolves once the lease is lost or closed. */
  readonly ended: Promise<void>;
  /** @internal */ nextSendAt = 0;
  /** @internal */ deadline: number;
  private resolveLost!: (e: EtcdError) => void;
  private resolveEnded!: () => void;
  private done = false;
  private readonly queue: etcdserverpb.LeaseKeepAliveResponse[] = [];
  private readonly waiters: KeepAliveWaiter[] = [];
  private readonly owner: LeaseKeeper;

  /** @internal */
  constructor(id: bigint, owner: LeaseKeeper, firstTimeoutMs: number) {
    super();
    this.id = id;
    this.owner = owner;
    this.deadline = Date.now() + firstTimeoutMs;
    this.lost = new Promise((resolve) => (this.resolveLost = resolve));
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  /** isDone tells whether the lease was lost or closed. */
  get isDone(): boolean {
    return this.done;
  }

  /** close stops keeping the lease alive (it is not revoked). */
  close(): void {
    if (this.done) return;
    this.finish();
    this.owner.remove(this);
  }

  /** @internal onAnswer records a keep-alive answer. */
  onAnswer(r: etcdserverpb.LeaseKeepAliveResponse, endpoint: string | undefined): void {
    if (this.done) return;
    if (r.TTL <= 0n) {
      this.markLost(leaseNotFound(endpoint));
      return;
    }
    this.ttl = r.TTL;
    const ttlMs = Number(r.TTL) * 1000;
    this.nextSendAt = Date.now() + ttlMs / 3;
    this.deadline = Date.now() + ttlMs;
    const w = this.waiters.shift();
    if (w !== undefined) w.resolve({ value: r, done: false });
    else this.queue.push(r);
    this.emit("keepalive", r);
  }

  /** @internal markLost ends the lease with err. */
  markLost(err: EtcdError): void {
    if (this.done) return;
    this.finish();
    this.owner.remove(this);
    this.resolveLost(err);
    this.emit("lost", err);
  }

  next(): Promise<IteratorResult<etcdserverpb.LeaseKeepAliveResponse>> {
    const r = this.queue.shift();
    if (r !== undefined) return Promise.resolve({ value: r, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push({ resolve }));
  }

  [Symbol.asyncIterator](): AsyncIterator<etcdserverpb.LeaseKeepAliveResponse> {
    return { next: () => this.next(), return: async () => ({ value: undefined, done: true }) };
  }

  private finish(): void {
    this.done = true;
    this.resolveEnded();
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }
}

/**
 * LeaseKeeper owns the client's LeaseKeepAlive stream: one stream for every kept-alive lease,
 * opened on the first and closed with the last, reopened (on any endpoint) when it breaks.
 */
class LeaseKeeper {
  private readonly balancer: Balancer;
  private readonly leases = new Map<bigint, Set<KeptAliveLease>>();
  private call: grpc.ClientDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse> | undefined;
  private conn: EndpointConnection | undefined;
  private lastFailed: Endpoint | undefined;
  private opening = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private ticker: NodeJS.Timeout | undefined;

  constructor(balancer: Balancer) {
    this.balancer = balancer;
  }

  add(l: KeptAliveLease): void {
    let set = this.leases.get(l.id);
    if (set === undefined) {
      set = new Set();
      this.leases.set(l.id, set);
    }
    set.add(l);
    this.ticker ??= setInterval(() => this.tick(), TICK_MS);
    this.open();
    this.tick();
  }

  remove(l: KeptAliveLease): void {
    const set = this.leases.get(l.id);
    if (set === undefined) return;
    set.delete(l);
    if (set.size === 0) this.leases.delete(l.id);
    if (this.leases.size === 0) this.stop();
  }

  close(): void {
    for (const set of [...this.leases.values()]) for (const l of [...set]) l.close();
    this.stop();
  }

  private stop(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.dropCall();
  }

  /** tick sends the keep-alives that are due and gives up leases whose answers are overdue. */
  private tick(): void {
    const now = Date.now();
    for (const [id, set] of [...this.leases]) {
      let due = false;
      for (const l of [...set]) {
        if (l.deadline < now) l.markLost(deadlineError(this.conn?.endpoint.raw));
        else if (l.nextSendAt <= now) due = true;
      }
      if (due && this.call !== undefined && this.leases.has(id)) {
        this.call.write(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: id }));
        // Until the answer sets the next time, do not send again for a while.
        for (const l of set) l.nextSendAt = now + RETRY_STREAM_MS;
      }
    }
  }

  private open(): void {
    if (this.call !== undefined || this.opening || this.retryTimer !== undefined || this.leases.size === 0) return;
    this.opening = true;
    const failed = this.lastFailed;
    this.lastFailed = undefined;
    this.balancer.ready(failed !== undefined ? { failed } : {}).then(
      (conn) => {
        this.opening = false;
        if (this.leases.size === 0) return;
        this.start(conn);
      },
      (e: unknown) => {
        this.opening = false;
        if (this.balancer.isClosed) {
          for (const set of [...this.leases.values()]) for (const l of [...set]) l.markLost(closedError());
          return;
        }
        // A server refused the client's credentials: the leases cannot be kept alive.
        if (e instanceof EtcdError && !e.local) {
          for (const set of [...this.leases.values()]) for (const l of [...set]) l.markLost(e);
          return;
        }
        this.scheduleRetry();
      },
    );
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.leases.size === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open();
    }, RETRY_STREAM_MS);
  }

  private start(conn: EndpointConnection): void {
    const md = this.balancer.metadata();
    // As etcd's Go client: a member without a leader cannot renew leases; the stream fails
    // and is opened again, on the next endpoint first.
    md.set("hasleader", "true");
    const call = conn.lease.leaseKeepAlive(md);
    this.call = call;
    this.conn = conn;
    call.on("data", (r: etcdserverpb.LeaseKeepAliveResponse) => {
      for (const l of [...(this.leases.get(r.ID) ?? [])]) l.onAnswer(r, conn.endpoint.raw);
      if (this.leases.size === 0) this.stop();
    });
    call.on("error", () => {});
    call.on("status", (st: grpc.StatusObject) => {
      if (call !== this.call) return;
      // Whatever broke the stream, open it again (as etcd's Go client does): a lease is only
      // given up when its deadline passes or the server says it is gone.
      this.dropCall();
      this.lastFailed = conn.endpoint;
      // A stream refused for its auth token opens again with a new one.
      if (st.code !== grpc.status.OK) this.balancer.tokenRejected(fromStatus(st.code, st.details, conn.endpoint.raw));
      // Everything sent on the broken stream may be lost: send again at once on the new one.
      for (const set of this.leases.values()) for (const l of set) l.nextSendAt = 0;
      this.scheduleRetry();
    });
    // Send what is due now on the new stream.
    for (const set of this.leases.values()) for (const l of set) if (l.ttl === 0n) l.nextSendAt = 0;
    this.tick();
  }

  private dropCall(): void {
    const call = this.call;
    this.call = undefined;
    if (call === undefined) return;
    call.removeAllListeners("data");
    call.removeAllListeners("status");
    call.on("error", () => {});
    call.cancel();
  }
}

/**
 * Lease wraps etcdserverpb.Lease. Grant, revoke, time-to-live and list are unary calls
 * (grant and revoke fail over only while no server received them); keepAliveOnce opens a
 * stream for one renewal; keepAlive keeps a lease alive until it is lost or closed.
 */
export class Lease {
  private readonly balancer: Balancer;
  private readonly keeper: LeaseKeeper;
  private readonly firstTimeoutMs: number;

  constructor(balancer: Balancer, dialTimeoutMs: number) {
    this.balancer = balancer;
    this.keeper = new LeaseKeeper(balancer);
    this.firstTimeoutMs = dialTimeoutMs + 1000;
  }

  /** grant creates a lease of ttl seconds; opts.id picks its ID (etcd: "lease already exists" if taken). */
  grant(ttl: bigint | number, opts: LeaseGrantOptions = {}): Promise<etcdserverpb.LeaseGrantResponse> {
    return this.balancer.unary(
      (c) => c.lease.leaseGrant.bind(c.lease),
      etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: BigInt(ttl), ID: opts.id ?? 0n }),
      "nonRepeatable",
      opts,
    );
  }

  /** revoke deletes the lease and every key attached to it. */
  revoke(id: bigint, opts?: CallOptions): Promise<etcdserverpb.LeaseRevokeResponse> {
    return this.balancer.unary(
      (c) => c.lease.leaseRevoke.bind(c.lease),
      etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: id }),
      "nonRepeatable",
      opts,
    );
  }

  /**
   * timeToLive reports the lease's granted and remaining TTL (TTL -1 for a lease that does not
   * exist), and with opts.keys the keys attached to it.
   */
  timeToLive(id: bigint, opts: TimeToLiveOptions = {}): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    return this.balancer.unary(
      (c) => c.lease.leaseTimeToLive.bind(c.lease),
      etcdserverpb.LeaseTimeToLiveRequest.fromPartial({ ID: id, keys: opts.keys === true }),
      "repeatable",
      opts,
    );
  }

  /** leases lists every lease the cluster has. */
  leases(opts?: CallOptions): Promise<etcdserverpb.LeaseLeasesResponse> {
    return this.balancer.unary(
      (c) => c.lease.leaseLeases.bind(c.lease),
      etcdserverpb.LeaseLeasesRequest.create(),
      "repeatable",
      opts,
    );
  }

  /**
   * keepAliveOnce renews the lease once over a stream of its own and returns the answer. A
   * lease the server no longer has (TTL <= 0) rejects with NOT_FOUND "etcdserver: requested
   * lease not found", as etcd's Go client does. A stream that breaks is tried again on the
   * next endpoint until opts.timeoutMs (default: the dial timeout) passes.
   */
  async keepAliveOnce(id: bigint, opts: CallOptions = {}): Promise<etcdserverpb.LeaseKeepAliveResponse> {
    const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : undefined;
    let failed: Endpoint | undefined;
    for (;;) {
      const conn = await this.balancer.ready({ ...(deadline !== undefined ? { deadline } : {}), ...(failed !== undefined ? { failed } : {}) });
      try {
        const r = await keepAliveOnceOn(conn, this.balancer.metadata(), id, deadline);
        if (r.TTL <= 0n) throw leaseNotFound(conn.endpoint.raw);
        return r;
      } catch (e) {
        if (!(e instanceof EtcdError) || e.local) throw e;
        if (!retryable(e, false) && !this.balancer.tokenRejected(e)) throw e;
        if (deadline !== undefined && Date.now() >= deadline) throw deadlineError(conn.endpoint.raw);
        failed = conn.endpoint;
      }
    }
  }

  /**
   * keepAlive keeps lease id alive until it is lost or closed (see KeptAliveLease). Leases of
   * one client share one LeaseKeepAlive stream.
   */
  keepAlive(id: bigint, opts: KeepAliveOptions = {}): KeptAliveLease {
    const l = new KeptAliveLease(id, this.keeper, opts.firstResponseTimeoutMs ?? this.firstTimeoutMs);
    if (this.balancer.isClosed) {
      l.markLost(closedError());
      return l;
    }
    if (opts.signal !== undefined) {
      if (opts.signal.aborted) {
        l.close();
        return l;
      }
      opts.signal.addEventListener("abort", () => l.close(), { once: true });
    }
    this.keeper.add(l);
    return l;
  }

  /** grantKeptAlive grants a lease (ttl seconds, opts.id) and keeps it alive. */
  async grantKeptAlive(
    ttl: bigint | number,
    opts: LeaseGrantOptions & KeepAliveOptions = {},
  ): Promise<KeptAliveLease> {
    const g = await this.grant(ttl, opts);
    return this.keepAlive(g.ID, opts);
  }

  /** close stops every keep-alive of the client (the leases are not revoked). */
  close(): void {
    this.keeper.close();
  }
}

function keepAliveOnceOn(
  conn: EndpointConnection,
  md: grpc.Metadata,
  id: bigint,
  deadline: number | undefined,
): Promise<etcdserverpb.LeaseKeepAliveResponse> {
  return new Promise((resolve, reject) => {
    const call = conn.lease.leaseKeepAlive(md, deadline !== undefined ? { deadline } : {});
    let settled = false;
    call.on("data", (r: etcdserverpb.LeaseKeepAliveResponse) => {
      if (settled) return;
      settled = true;
      resolve(r);
      call.cancel();
    });
    call.on("error", () => {});
    call.on("status", (st: grpc.StatusObject) => {
      if (settled) return;
      settled = true;
      if (st.code === grpc.status.DEADLINE_EXCEEDED && deadline !== undefined && Date.now() >= deadline) {
        reject(deadlineError(conn.endpoint.raw));
      } else {
        reject(fromStatus(st.code === grpc.status.OK ? grpc.status.UNAVAILABLE : st.code, st.details, conn.endpoint.raw));
      }
    });
    call.write(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: id }));
  });
}
