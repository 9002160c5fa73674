import type { Duplex } from "node:stream";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { Call, statusBlock, type CallLimits, type ConnectionInfo } from "./call.js";
import { H2Connection } from "./h2/connection.js";
import { ErrorCode } from "./h2/frames.js";
import { HpackEncoder } from "./h2/hpack.js";
import type { H2Stream } from "./h2/stream.js";
import { LocalCall, type InvokedCall, type InvokeOptions } from "./local_call.js";
import { parseTimeout } from "./metadata.js";
import type { CallObserver, MethodObserver } from "./observer.js";
import { GrpcError, Status } from "./status.js";
import type { CallContext, CallStatus, Interceptor, MethodDefinition, ServiceDefinition, ServiceImplementation } from "./types.js";

/** GrpcServerOptions bound what one client may send and set the keepalive of sessions. */
export interface GrpcServerOptions {
  /** maxReceiveMessageBytes limits one request message, as declared and once decompressed (default 4 MiB). */
  maxReceiveMessageBytes?: number;
  /** maxSendMessageBytes limits one response message (default 2^31-1). */
  maxSendMessageBytes?: number;
  /** maxConcurrentStreams is the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection (default 2^32-1). */
  maxConcurrentStreams?: number;
  /** streamWindowBytes is each stream's HTTP/2 receive window (default 1 MiB): what a paused streaming call may hold unread. */
  streamWindowBytes?: number;
  /** connectionWindowBytes is each connection's HTTP/2 receive window (default 4 MiB). */
  connectionWindowBytes?: number;
  /** maxHeaderListBytes bounds one request's headers (HPACK-decoded size; default 64 KiB). */
  maxHeaderListBytes?: number;
  /** maxQueuedMessages: unread request messages per streaming call before reading pauses (default 16). */
  maxQueuedMessages?: number;
  /** keepaliveIntervalMs: ping each session this often (0 or >= 2h: never). */
  keepaliveIntervalMs?: number;
  /** keepaliveTimeoutMs: a session whose ping is not answered within this is closed (default 20s). */
  keepaliveTimeoutMs?: number;
  /**
   * keepaliveMinTimeMs: a client that pings more often than this (more than twice in a row)
   * is sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings", as grpc-go's enforcement policy does.
   * 0 disables the check (default 5 min, grpc-go's default).
   */
  keepaliveMinTimeMs?: number;
  /** interceptors wrap every call, outermost first. */
  interceptors?: Interceptor[];
  /**
   * errorToStatus maps an error thrown by a handler or interceptor to the status to send; it
   * returns undefined for errors it does not know, which are sent as UNKNOWN with their message
   * (as grpc-go does for a plain error) and go to onError.
   */
  errorToStatus?: (err: unknown) => CallStatus | undefined;
  /** onError reports an unexpected handler error (a bug of the handler). */
  onError?: (err: unknown, ctx: CallContext) => void;
  /**
   * onConnectionError reports an unexpected error of the HTTP/2 layer on one client's
   * connection (a bug of this server); that connection ends with GOAWAY INTERNAL_ERROR and
   * the others go on. peer is the client's "address:port".
   */
  onConnectionError?: (err: unknown, peer: string) => void;
  /**
   * observer is told of every call of every registered method (see observer.ts): asked once
   * per method at addService, then called per call with no allocation of its own.
   */
  observer?: CallObserver;
}

type AnyDef = MethodDefinition<unknown, unknown>;
type AnyHandler = (a: unknown, b?: unknown) => Promise<unknown>;

interface Route {
  def: AnyDef;
  handler: AnyHandler;
  observer: MethodObserver | undefined;
}

/** MAX_ECHOED_PATH bounds the part of an unknown path that an Unimplemented answer repeats. */
const MAX_ECHOED_PATH = 512;

/** MAX_PING_STRIKES is how many too-early pings grpc-go tolerates before GOAWAY. */
const MAX_PING_STRIKES = 2;

const hpack = new HpackEncoder();
/** UNSUPPORTED_MEDIA_TYPE is the HPACK block of an HTTP 415 answer to a request that is not gRPC. */
const UNSUPPORTED_MEDIA_TYPE = hpack.encode([[":status", "415"]]);

/**
 * GrpcServer serves gRPC (unary, server-streaming, client-streaming and bidirectional calls)
 * on HTTP/2 connections handed to it with injectConnection (H2Connection: the framing, HPACK
 * and flow control are this package's own, measured several times cheaper per call than
 * node:http2). It follows the gRPC over HTTP/2
 * spec: length-prefixed messages, gzip/deflate request compression, grpc-timeout deadlines,
 * grpc-status/grpc-message trailers (trailers-only for an immediate failure), RST_STREAM and
 * disconnects as cancellation, and grpc-go's status texts for protocol errors. Every limit
 * applies to bytes actually received: a call holds at most one partial message and a bounded
 * queue of whole ones.
 */
export class GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly services = new Set<string>();
  private readonly sessions = new Set<H2Connection>();
  private readonly conns = new WeakMap<H2Connection, ConnectionInfo>();
  private readonly limits: CallLimits;
  private readonly interceptors: Interceptor[];
  private readonly o: GrpcServerOptions;

  constructor(o: GrpcServerOptions = {}) {
    this.o = o;
    this.limits = {
      maxReceiveMessageBytes: o.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
      maxSendMessageBytes: o.maxSendMessageBytes ?? 2 ** 31 - 1,
      maxQueuedMessages: o.maxQueuedMessages ?? 16,
    };
    this.interceptors = o.interceptors ?? [];
    const windows = [o.streamWindowBytes ?? 1 << 20, o.connectionWindowBytes ?? 4 << 20];
    for (const w of windows) {
      if (!Number.isInteger(w) || w < 65_535 || w > 0x7fff_ffff) throw new Error(`grpc-server: a window must be 65535..2^31-1 bytes, got ${w}`);
    }
  }

  /**
   * addService registers handlers for a service's methods; methods without one answer
   * Unimplemented. A handler under a name the service lacks, or one that is not a function,
   * is refused here rather than never called.
   */
  addService<S extends ServiceDefinition>(service: S, impl: ServiceImplementation<S>): void {
    for (const [name, h] of Object.entries(impl)) {
      if (service[name] === undefined) throw new Error(`grpc-server: the service has no method "${name}" to handle`);
      if (typeof h !== "function") throw new Error(`grpc-server: the handler for "${name}" is not a function`);
    }
    for (const [name, def] of Object.entries(service)) {
      const [, serviceName = "", methodName = ""] = def.path.split("/");
      this.services.add(serviceName);
      const handler = (impl as Record<string, AnyHandler | undefined>)[name];
      if (handler === undefined) continue;
      if (this.routes.has(def.path)) throw new Error(`grpc-server: ${def.path} is already registered`);
      const observer = this.o.observer?.method({
        service: serviceName,
        method: methodName,
        requestStream: def.requestStream,
        responseStream: def.responseStream,
      });
      this.routes.set(def.path, { def: def as unknown as AnyDef, handler, observer });
    }
  }

  /** injectConnection serves HTTP/2 on a connection (plaintext or decrypted TLS) whose next bytes are the client preface. */
  injectConnection(socket: Duplex): void {
    const o = this.o;
    let strikes = 0;
    let last = 0;
    const minTime = o.keepaliveMinTimeMs ?? 300_000;
    const conn: H2Connection = new H2Connection(socket, {
      maxConcurrentStreams: Math.min(o.maxConcurrentStreams ?? 2 ** 32 - 1, 2 ** 32 - 1),
      streamWindow: o.streamWindowBytes ?? 1 << 20,
      connectionWindow: o.connectionWindowBytes ?? 4 << 20,
      maxHeaderListBytes: o.maxHeaderListBytes ?? 64 * 1024,
      onStream: (stream) => this.onStream(stream),
      onPing: () => {
        if (minTime <= 0) return;
        const now = Date.now();
        // As grpc-go: a ping after the server wrote headers or data resets the strikes.
        if (conn.takeSent()) strikes = 0;
        else if (last !== 0 && now - last < minTime) strikes++;
        last = now;
        if (strikes > MAX_PING_STRIKES) {
          // GOAWAY names the last stream the server took (grpc-go's maxStreamID): the client
          // knows those were processed and fails them as the connection closes; it must not
          // take them for unprocessed ones it could send again.
          // grpc-go then closes the connection; here the streams get a second to end first.
          conn.goaway(ErrorCode.ENHANCE_YOUR_CALM, "too_many_pings", 1000);
        }
      },
      onClose: () => {
        if (timer !== undefined) clearInterval(timer);
        this.sessions.delete(conn);
      },
      onInternalError: (err) => o.onConnectionError?.(err, this.conns.get(conn)?.peer ?? "@"),
    });
    this.sessions.add(conn);
    this.conns.set(conn, connectionInfo(socket));
    let timer: NodeJS.Timeout | undefined;
    const every = o.keepaliveIntervalMs ?? 0;
    if (every > 0 && every < 2 * 3600_000) {
      timer = setInterval(() => {
        const deadline = setTimeout(() => conn.destroy(), o.keepaliveTimeoutMs ?? 20_000);
        deadline.unref();
        conn.ping(() => clearTimeout(deadline));
      }, every);
      timer.unref();
    }
  }

  /** close ends every session. */
  close(): void {
    for (const s of [...this.sessions]) s.destroy();
    this.sessions.clear();
  }

  private onStream(stream: H2Stream): void {
    const headers = stream.headers;
    const ct = headers["content-type"];
    if (headers[":method"] !== "POST" || typeof ct !== "string" || !ct.startsWith("application/grpc")) {
      stream.respond(UNSUPPORTED_MEDIA_TYPE, true);
      return;
    }
    const path = String(headers[":path"]);
    const route = this.routes.get(path);
    if (route === undefined) {
      // The answer echoes at most MAX_ECHOED_PATH characters of the path (a client cannot make one small request cost a large answer).
      const [, service = "", method = ""] = path.slice(0, MAX_ECHOED_PATH).split("/");
      const msg = this.services.has(service) ? `unknown method ${method} for service ${service}` : `unknown service ${service}`;
      refuse(stream, Status.UNIMPLEMENTED, msg);
      return;
    }
    const encoding = headerString(headers["grpc-encoding"]) ?? "identity";
    if (encoding !== "identity" && encoding !== "gzip" && encoding !== "deflate") {
      refuse(stream, Status.UNIMPLEMENTED, `grpc: Decompressor is not installed for grpc-encoding "${encoding}"`);
      return;
    }
    const conn = this.conns.get(stream.conn) ?? NO_CONNECTION;
    const call = new Call<unknown, unknown>(stream, path, route.def, conn, this.limits, encoding);
    const timeout = headerString(headers["grpc-timeout"]);
    if (timeout !== undefined) {
      const ms = parseTimeout(timeout);
      if (ms === undefined) {
        refuse(stream, Status.INTERNAL, `transport: malformed grpc-timeout: ${timeout}`);
        return;
      }
      call.setDeadline(ms);
    }
    const { def, handler } = route;
    call.observer = route.observer;
    call.bytes = this.o.observer?.bytes;
    if (!def.requestStream) {
      // Unary and server-streaming calls start once their one request message is complete.
      call.onFirstMessage = (req) => {
        call.request = req;
        this.run(call, def.responseStream ? () => handler(req, call).then(() => call.finishOk()) : () => handler(req, call).then((res) => call.reply(res)));
      };
      call.attach();
      return;
    }
    call.attach();
    this.run(call, def.responseStream ? () => handler(call).then(() => call.finishOk()) : () => handler(call).then((res) => call.reply(res)));
  }

  /**
   * invoke makes a call in-process, through the same interceptors, error mapping and observer
   * as a call over HTTP/2: `requests` are the serialized request messages (exactly one for
   * unary and server-streaming methods; for the others the request side half-closes after
   * them), responses go serialized to o.onMessage. An unknown path ends UNIMPLEMENTED with
   * the texts a network call gets.
   */
  invoke(path: string, requests: readonly Buffer[], o: InvokeOptions): InvokedCall {
    const route = this.routes.get(path);
    if (route === undefined) {
      const [, service = "", method = ""] = path.split("/");
      const msg = this.services.has(service) ? `unknown method ${method} for service ${service}` : `unknown service ${service}`;
      return endedCall(Status.UNIMPLEMENTED, msg);
    }
    const { def, handler } = route;
    // The same receive limit as a network call's (the decoder's check).
    const max = this.limits.maxReceiveMessageBytes;
    const big = requests.find((b) => b.length > max);
    if (big !== undefined) return endedCall(Status.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${big.length} vs. ${max})`);
    let reqs: unknown[];
    try {
      reqs = requests.map((b) => def.requestDeserialize(b));
    } catch (err) {
      return endedCall(Status.INTERNAL, `grpc: error unmarshalling request: ${(err as Error).message}`);
    }
    if (!def.requestStream && reqs.length !== 1) {
      return endedCall(Status.INTERNAL, "grpc: a unary or server-streaming call takes exactly one request message");
    }
    // Message bytes are counted as a network call's are (ByteObserver).
    const bytes = this.o.observer?.bytes;
    if (bytes !== undefined) for (const b of requests) bytes.received(b.length);
    const counted: InvokeOptions =
      bytes === undefined
        ? o
        : {
            ...o,
            onMessage: (p) => {
              bytes.sent(p.length);
              return o.onMessage(p);
            },
          };
    const call = new LocalCall<unknown, unknown>(path, def, def.requestStream ? reqs : [], counted);
    call.observer = route.observer;
    const req = reqs[0];
    if (!def.requestStream) call.request = req;
    const run: () => Promise<void> = !def.requestStream
      ? def.responseStream
        ? () => handler(req, call).then(() => call.finishOk())
        : () => handler(req, call).then((res) => call.reply(res))
      : def.responseStream
        ? () => handler(call).then(() => call.finishOk())
        : () => handler(call).then((res) => call.reply(res));
    call.observeStart(!def.requestStream);
    let p: Promise<void>;
    try {
      p = this.interceptors.length === 0 ? run() : this.intercept(call, 0, run);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch((err: unknown) => call.fail(this.toGrpcError(err, call)));
    return { done: call.done, cancel: () => call.cancelByCaller() };
  }

  /** run calls the handler through the interceptors and ends the call with its error, if any. */
  private run(call: Call<unknown, unknown>, invoke: () => Promise<void>): void {
    call.observeStart();
    let p: Promise<void>;
    try {
      p = this.interceptors.length === 0 ? invoke() : this.intercept(call, 0, invoke);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch((err: unknown) => call.fail(this.toGrpcError(err, call)));
  }

  private intercept(ctx: CallContext, i: number, invoke: () => Promise<void>): Promise<void> {
    const ic = this.interceptors[i];
    if (ic === undefined) return invoke();
    return ic(ctx, () => this.intercept(ctx, i + 1, invoke));
  }

  private toGrpcError(err: unknown, ctx: CallContext): GrpcError {
    if (err instanceof GrpcError) return err;
    const st = this.o.errorToStatus?.(err);
    if (st !== undefined) return new GrpcError(st.code, st.message);
    // A cancelled call's handler often ends with the cancellation itself: nothing to report.
    if (!ctx.cancelled) this.o.onError?.(err, ctx);
    return new GrpcError(Status.UNKNOWN, (err as Error)?.message ?? String(err));
  }
}

/** endedCall is an in-process call that ended before it started. */
function endedCall(code: number, message: string): InvokedCall {
  return { done: Promise.resolve({ code, message }), cancel: () => undefined };
}

const NO_CONNECTION: ConnectionInfo = { peer: "", peerCertificate: () => undefined };

/** connectionInfo reads the peer address of a connection and, lazily, its verified client certificate. */
function connectionInfo(socket: Duplex): ConnectionInfo {
  const sock = socket as Partial<TLSSocket> | undefined;
  const addr = sock?.remoteAddress;
  const peer = addr === undefined ? "@" : addr.includes(":") ? `[${addr}]:${String(sock?.remotePort)}` : `${addr}:${String(sock?.remotePort)}`;
  let cert: PeerCertificate | undefined | null = null;
  return {
    peer,
    peerCertificate: () => {
      if (cert === null) {
        cert = undefined;
        if (sock !== undefined && sock.authorized === true && typeof sock.getPeerCertificate === "function") {
          const c = sock.getPeerCertificate(true);
          if (c !== undefined && Object.keys(c).length > 0) cert = c;
        }
      }
      return cert;
    },
  };
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** refuse answers a call that cannot start with a trailers-only status and reads no more of it. */
function refuse(stream: H2Stream, code: number, message: string): void {
  stream.respond(statusBlock(code, message, true), true);
}
