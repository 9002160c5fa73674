import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { EndpointConnection } from "./connection.js";
import { channelCredentials, channelOptionsFor } from "./credentials.js";
import type { Endpoint } from "./endpoint.js";
import { aborted, canceledError, closedError, deadlineError, EtcdError, fromServiceError } from "./errors.js";
import type { CallOptions, Credentials, TLSOptions } from "./options.js";
import { TokenSource, type AuthState } from "./token.js";

/**
 * RetryPolicy says whether a call may be sent again after UNAVAILABLE. "repeatable" calls
 * (reads) fail over to the next endpoint on any UNAVAILABLE; "nonRepeatable" calls (writes)
 * fail over only while no server has received them, i.e. while connecting fails.
 */
export type RetryPolicy = "repeatable" | "nonRepeatable";

/** UnaryMethod is a grpc-js unary method bound to one connection's service client. */
export type UnaryMethod<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

/** ROUND_BACKOFF_MS bounds the pause after every endpoint failed once (doubles from the first). */
const ROUND_BACKOFF_MS: readonly [number, number] = [25, 500];

/**
 * Balancer owns the connections and picks the endpoint for each call: endpoints are tried in
 * order, the one that last worked is tried first, and a failing one hands over to the next.
 * With credentials it also owns the auth token every call carries (see TokenSource): a call
 * refused for its token is sent once more with a new one.
 */
export class Balancer {
  private endpoints: readonly Endpoint[];
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly dialTimeoutMs: number;
  private readonly tls: TLSOptions | undefined;
  private readonly conns = new Map<string, EndpointConnection>();
  private readonly tokens: TokenSource | undefined;
  private current = 0;
  private closed = false;

  constructor(
    endpoints: readonly Endpoint[],
    channelOptions: grpc.ChannelOptions,
    dialTimeoutMs: number,
    tls: TLSOptions | undefined,
    credentials?: Credentials,
  ) {
    if (endpoints.length === 0) throw new Error("client: no endpoints given");
    this.endpoints = endpoints;
    this.channelOptions = channelOptions;
    this.dialTimeoutMs = dialTimeoutMs;
    this.tls = tls;
    if (credentials !== undefined) {
      this.tokens = new TokenSource(credentials.username, credentials.password, async (name, password, timeoutMs) => {
        const resp = await this.run(
          this.endpoints,
          true,
          (c) => c.auth.authenticate.bind(c.auth),
          etcdserverpb.AuthenticateRequest.fromPartial({ name, password }),
          "repeatable",
          timeoutMs !== undefined ? { timeoutMs } : undefined,
          false,
        );
        return resp.token;
      });
    }
  }

  /**
   * authenticate fetches the auth token now unless the client has one (calls do it on their
   * own before the first one); see AuthState.
   */
  authenticate(opts?: CallOptions): Promise<AuthState> {
    if (this.tokens === undefined) return Promise.resolve("none");
    return this.tokens.ensure(opts?.timeoutMs ?? this.dialTimeoutMs);
  }

  /** metadata is the metadata a stream opens with: the auth token, when the client has one. */
  metadata(): grpc.Metadata {
    return this.tokens?.metadata() ?? new grpc.Metadata();
  }

  /**
   * tokenRejected tells whether a stream ended with e because of its auth token; the token is
   * then dropped, so the stream opened again (after ready) carries a new one.
   */
  tokenRejected(e: EtcdError): boolean {
    if (this.tokens === undefined || !this.tokens.shouldRefresh(e)) return false;
    this.tokens.invalidate();
    return true;
  }

  /** endpointList is the client's endpoints in the order they are tried. */
  endpointList(): readonly Endpoint[] {
    return this.endpoints;
  }

  /**
   * setEndpoints replaces the endpoints (Client.sync): the endpoint in use stays the first
   * choice if still listed; connections to endpoints no longer listed are closed, so their
   * streams break and resume on the others. An empty list changes nothing.
   */
  setEndpoints(eps: readonly Endpoint[]): void {
    if (this.closed || eps.length === 0) return;
    const cur = this.endpoints[this.current % this.endpoints.length];
    const at = cur === undefined ? -1 : eps.findIndex((e) => connKey(e) === connKey(cur));
    this.endpoints = eps;
    this.current = Math.max(0, at);
    const keep = new Set(eps.map(connKey));
    for (const [k, c] of this.conns) {
      if (keep.has(k)) continue;
      c.close();
      this.conns.delete(k);
    }
  }

  /** connection returns the (cached) connection to ep. */
  connection(ep: Endpoint): EndpointConnection {
    let c = this.conns.get(connKey(ep));
    if (c === undefined) {
      c = new EndpointConnection(ep, channelCredentials(ep, this.tls), channelOptionsFor(ep, this.tls, this.channelOptions));
      this.conns.set(connKey(ep), c);
    }
    return c;
  }

  /** unary runs one call with failover across all endpoints. */
  unary<Req, Res>(
    pick: (c: EndpointConnection) => UnaryMethod<Req, Res>,
    req: Req,
    policy: RetryPolicy,
    opts?: CallOptions,
  ): Promise<Res> {
    return this.withToken(opts, (o) => this.run(this.endpoints, true, pick, req, policy, o));
  }

  /** unaryOn runs one call against ep only (e.g. Status of a given member). */
  unaryOn<Req, Res>(
    ep: Endpoint,
    pick: (c: EndpointConnection) => UnaryMethod<Req, Res>,
    req: Req,
    policy: RetryPolicy,
    opts?: CallOptions,
  ): Promise<Res> {
    return this.withToken(opts, (o) => this.run([ep], false, pick, req, policy, o));
  }

  /**
   * ready resolves a connected endpoint for a stream (Watch, LeaseKeepAlive). Endpoints are
   * tried in order from the one that last worked; `failed` names an endpoint whose stream just
   * broke, so the search starts after it when it is the current one. Without a deadline it
   * gives up after the dial timeout, with the same errors a unary call would have.
   */
  async ready(opts: { deadline?: number; failed?: Endpoint } = {}): Promise<EndpointConnection> {
    const n = this.endpoints.length;
    if (opts.failed !== undefined && connKey(this.endpoints[this.current % n] as Endpoint) === connKey(opts.failed)) {
      this.current = (this.current + 1) % n;
    }
    const giveUp = opts.deadline ?? Date.now() + this.dialTimeoutMs;
    if (this.tokens !== undefined) await this.tokens.ensure(Math.max(0, giveUp - Date.now()));
    let idx = this.current;
    let failedInRound = 0;
    let backoff = ROUND_BACKOFF_MS[0];
    for (;;) {
      if (this.closed) throw closedError();
      const ep = this.endpoints[idx % n] as Endpoint;
      const conn = this.connection(ep);
      const state = await conn.waitReady(giveUp);
      if (this.closed) throw closedError();
      if (state === "ready") {
        this.current = idx % n;
        return conn;
      }
      if (state === "timeout") throw this.timeoutError(opts.deadline, this.endpoints);
      idx++;
      failedInRound++;
      if (failedInRound >= n) {
        failedInRound = 0;
        const left = giveUp - Date.now();
        if (left <= 0) throw this.timeoutError(opts.deadline, this.endpoints);
        await sleep(Math.min(backoff, left));
        backoff = Math.min(backoff * 2, ROUND_BACKOFF_MS[1]);
      }
    }
  }

  /** isClosed tells whether close was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }

  /**
   * withToken runs call with the auth token: fetched first when the client has none yet, and
   * fetched again (once) when the server refuses the one the call carried. The second attempt
   * gets what is left of the caller's deadline.
   */
  private async withToken<Res>(
    opts: CallOptions | undefined,
    call: (opts: CallOptions | undefined) => Promise<Res>,
  ): Promise<Res> {
    const ts = this.tokens;
    if (ts === undefined) return call(opts);
    const start = Date.now();
    const left = (): CallOptions | undefined =>
      opts?.timeoutMs === undefined ? opts : { ...opts, timeoutMs: Math.max(0, opts.timeoutMs - (Date.now() - start)) };
    await withinCall(ts.ensure(opts?.timeoutMs ?? this.dialTimeoutMs), opts?.signal, left()?.timeoutMs);
    const used = ts.current;
    try {
      return await call(left());
    } catch (e) {
      if (!ts.shouldRefresh(e) || this.closed || aborted(opts?.signal)) throw e;
      const ms = left()?.timeoutMs;
      await withinCall(ts.refresh(used, ms ?? this.dialTimeoutMs), opts?.signal, ms);
      return call(left());
    }
  }

  private async run<Req, Res>(
    endpoints: readonly Endpoint[],
    sticky: boolean,
    pick: (c: EndpointConnection) => UnaryMethod<Req, Res>,
    req: Req,
    policy: RetryPolicy,
    opts: CallOptions | undefined,
    withToken = true,
  ): Promise<Res> {
    const start = Date.now();
    const deadline = opts?.timeoutMs !== undefined ? start + opts.timeoutMs : undefined;
    // Without a deadline, connecting and retrying stop after the dial timeout.
    const giveUp = deadline ?? start + this.dialTimeoutMs;
    let idx = sticky ? this.current : 0;
    let failedInRound = 0;
    let backoff = ROUND_BACKOFF_MS[0];
    let lastErr: EtcdError | undefined;
    // unreachable: every endpoint failed to connect in a round, and none has been ready since.
    let unreachable = false;
    const signal = opts?.signal;
    for (;;) {
      if (this.closed) throw closedError();
      if (aborted(signal)) throw canceledError();
      const ep = endpoints[idx % endpoints.length] as Endpoint;
      const conn = this.connection(ep);
      const state = await conn.waitReady(giveUp);
      if (this.closed) throw closedError();
      if (aborted(signal)) throw canceledError();
      if (state === "ready") {
        unreachable = false;
        try {
          const md = withToken ? this.metadata() : new grpc.Metadata();
          const res = await invoke(pick(conn), req, md, deadline, ep, signal);
          if (sticky) this.current = idx % endpoints.length;
          return res;
        } catch (e) {
          if (!(e instanceof EtcdError)) throw e;
          if (e.local || e.code !== grpc.status.UNAVAILABLE || policy !== "repeatable") throw e;
          lastErr = e;
        }
      } else if (state === "timeout") {
        throw lastErr ?? this.timeoutError(deadline, endpoints, unreachable);
      }
      idx++;
      failedInRound++;
      if (failedInRound >= endpoints.length) {
        failedInRound = 0;
        if (state === "failed" && lastErr === undefined) unreachable = true;
        const left = giveUp - Date.now();
        if (left <= 0) throw lastErr ?? this.timeoutError(deadline, endpoints, unreachable);
        await sleep(Math.min(backoff, left));
        backoff = Math.min(backoff * 2, ROUND_BACKOFF_MS[1]);
      }
    }
  }

  private timeoutError(deadline: number | undefined, endpoints: readonly Endpoint[], unreachable = false): EtcdError {
    if (deadline !== undefined) return deadlineError(undefined, unreachable);
    const tried = endpoints.map((e) => e.raw).join(", ");
    return new EtcdError(
      grpc.status.UNAVAILABLE,
      `client: no endpoint reachable within the dial timeout (${tried})`,
      true,
    );
  }
}

function invoke<Req, Res>(
  method: UnaryMethod<Req, Res>,
  req: Req,
  md: grpc.Metadata,
  deadline: number | undefined,
  ep: Endpoint,
  signal: AbortSignal | undefined,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const callOpts: Partial<grpc.CallOptions> = deadline !== undefined ? { deadline } : {};
    const onAbort = (): void => call.cancel();
    const call = method(req, md, callOpts, (err, res) => {
      signal?.removeEventListener("abort", onAbort);
      if (err) {
        if (aborted(signal)) {
          reject(canceledError());
        } else if (err.code === grpc.status.DEADLINE_EXCEEDED && deadline !== undefined && Date.now() >= deadline) {
          reject(deadlineError(ep.raw));
        } else {
          reject(fromServiceError(err, ep.raw));
        }
        return;
      }
      resolve(res as Res);
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * withinCall waits for p (a token fetch other calls may share, so it is not cancelled
 * itself), but rejects as soon as the caller's signal aborts (CANCELLED) or its timeoutMs
 * passes (DEADLINE_EXCEEDED), as the call itself would.
 */
function withinCall<T>(p: Promise<T>, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<T> {
  if (signal === undefined && timeoutMs === undefined) return p;
  if (aborted(signal)) return Promise.reject(canceledError());
  return new Promise((resolve, reject) => {
    const onAbort = (): void => done(() => reject(canceledError()));
    const timer = timeoutMs !== undefined ? setTimeout(() => done(() => reject(deadlineError())), timeoutMs) : undefined;
    const done = (f: () => void): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      f();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => done(() => resolve(v)),
      (e: unknown) => done(() => reject(e)),
    );
  });
}

/** connKey keys cached connections: one per address and transport. */
function connKey(ep: Endpoint): string {
  return `${ep.scheme}|${ep.address}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
