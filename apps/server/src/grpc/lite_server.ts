import {
  constants as h2,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Duplex } from "node:stream";
import { gunzipSync, inflateSync } from "node:zlib";
import { status as Status } from "@grpc/grpc-js";

/** MethodDefinition is the part of a ts-proto grpc-js method definition the server uses. */
export interface MethodDefinition<Req, Res> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize: (b: Buffer) => Req;
  responseSerialize: (r: Res) => Buffer;
}

/** UnaryCall is what a unary handler receives: the decoded request and the request headers. */
export interface UnaryCall<Req> {
  request: Req;
  metadata: IncomingHttpHeaders;
}

/** CallError is how a handler reports a failure: a gRPC status code and its message. */
export interface CallError {
  code: number;
  details: string;
}

/** UnaryHandler answers a call through `cb` exactly once. */
export type UnaryHandler<Req, Res> = (call: UnaryCall<Req>, cb: (err: CallError | null, res?: Res) => void) => void;

/** ServiceHandlers maps a service's method names to their unary handlers. */
export type ServiceHandlers = Record<string, UnaryHandler<never, unknown>>;

/** LiteServerOptions bound what one client may send and set the keepalive of sessions. */
export interface LiteServerOptions {
  maxReceiveMessageBytes: number;
  maxConcurrentStreams: number;
  /** keepaliveIntervalMs: ping each idle session this often (0 or >= 2h: never). */
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
}

interface Route {
  def: MethodDefinition<unknown, unknown>;
  handler: UnaryHandler<unknown, unknown>;
}

/**
 * GrpcLiteServer serves gRPC unary methods directly on node:http2, with the wire format of
 * the gRPC spec (5-byte length-prefixed messages, grpc-status trailers), the status texts of
 * grpc-go for protocol errors, and far less work per call than a general gRPC server. The
 * client listener hands it HTTP/2 connections (injectConnection), plaintext or decrypted TLS.
 * Streaming methods are not served yet: they answer Unimplemented.
 */
export class GrpcLiteServer {
  private readonly routes = new Map<string, Route>();
  private readonly services = new Set<string>();
  private readonly http2: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(private readonly o: LiteServerOptions) {
    this.http2 = createServer({
      settings: { maxConcurrentStreams: Math.min(o.maxConcurrentStreams, 2 ** 32 - 1) },
      maxSessionMemory: 64,
    });
    this.http2.on("session", (s: ServerHttp2Session) => this.onSession(s));
    this.http2.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.onStream(stream, headers));
  }

  /** addService registers the unary handlers of a service; the service's other methods answer Unimplemented. */
  addService(service: Record<string, MethodDefinition<unknown, never>>, impl: ServiceHandlers): void {
    for (const name of Object.keys(impl)) {
      // A handler under a name the service lacks would never be called: refuse it loudly.
      if (service[name] === undefined) throw new Error(`grpc: the service has no method "${name}" to handle`);
    }
    for (const [name, def] of Object.entries(service)) {
      this.services.add(def.path.split("/")[1] ?? "");
      const handler = impl[name];
      if (handler === undefined || def.requestStream || def.responseStream) continue;
      this.routes.set(def.path, {
        def: def as unknown as MethodDefinition<unknown, unknown>,
        handler: handler as unknown as UnaryHandler<unknown, unknown>,
      });
    }
  }

  /** injectConnection serves HTTP/2 on a connection whose preface has been seen. */
  injectConnection(socket: Duplex): void {
    this.http2.emit("connection", socket);
  }

  /** close ends every session. */
  close(): void {
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
  }

  private onSession(s: ServerHttp2Session): void {
    this.sessions.add(s);
    s.on("error", () => s.destroy());
    let timer: NodeJS.Timeout | undefined;
    const every = this.o.keepaliveIntervalMs;
    if (every > 0 && every < 2 * 3600_000) {
      timer = setInterval(() => {
        const deadline = setTimeout(() => s.destroy(), this.o.keepaliveTimeoutMs);
        deadline.unref();
        try {
          s.ping(() => clearTimeout(deadline));
        } catch {
          s.destroy();
        }
      }, every);
      timer.unref();
    }
    s.on("close", () => {
      if (timer !== undefined) clearInterval(timer);
      this.sessions.delete(s);
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on("error", () => undefined);
    const ct = headers[h2.HTTP2_HEADER_CONTENT_TYPE];
    if (headers[h2.HTTP2_HEADER_METHOD] !== "POST" || typeof ct !== "string" || !ct.startsWith("application/grpc")) {
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 415 }, { endStream: true });
      return;
    }
    const path = String(headers[h2.HTTP2_HEADER_PATH] ?? "");
    const route = this.routes.get(path);
    if (route === undefined) {
      const [, service = "", method = ""] = path.split("/");
      const msg = this.services.has(service) ? `unknown method ${method} for service ${service}` : `unknown service ${service}`;
      stream.resume();
      fail(stream, Status.UNIMPLEMENTED, msg);
      return;
    }
    const max = this.o.maxReceiveMessageBytes;
    const chunks: Buffer[] = [];
    let received = 0;
    let refused = false;
    stream.on("data", (chunk: Buffer) => {
      if (refused) return;
      chunks.push(chunk);
      received += chunk.length;
      if (received >= 5) {
        const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
        const len = head.readUInt32BE(1);
        if (len > max) {
          refused = true;
          fail(stream, Status.RESOURCE_EXHAUSTED, `grpc: received message larger than max (${len} vs. ${max})`);
        }
      }
    });
    stream.on("end", () => {
      if (refused) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      let msg: Buffer;
      try {
        msg = unframe(body, headers["grpc-encoding"]);
      } catch (err) {
        fail(stream, Status.INTERNAL, (err as Error).message);
        return;
      }
      let request: unknown;
      try {
        request = route.def.requestDeserialize(msg);
      } catch (err) {
        fail(stream, Status.INTERNAL, `grpc: error unmarshalling request: ${(err as Error).message}`);
        return;
      }
      let answered = false;
      try {
        route.handler({ request, metadata: headers }, (err, res) => {
          if (answered) return;
          answered = true;
          if (err !== null) fail(stream, err.code, err.details);
          else reply(stream, route.def.responseSerialize(res));
        });
      } catch (err) {
        if (!answered) fail(stream, Status.INTERNAL, String((err as Error)?.message ?? err));
      }
    });
  }
}

/** unframe extracts the single message of a unary request body. */
function unframe(body: Buffer, encoding: string | string[] | undefined): Buffer {
  if (body.length < 5) throw new Error("grpc: request is missing its message");
  const len = body.readUInt32BE(1);
  if (body.length !== 5 + len) throw new Error("grpc: a unary request must hold exactly one message");
  const msg = body.subarray(5);
  if (body[0] === 0) return msg;
  if (encoding === "gzip") return gunzipSync(msg);
  if (encoding === "deflate") return inflateSync(msg);
  throw new Error(`grpc: compressed flag set with encoding ${String(encoding ?? "identity")}`);
}

const OK_TRAILERS = { "grpc-status": "0" };

function reply(stream: ServerHttp2Stream, payload: Buffer): void {
  if (stream.destroyed || stream.closed) return;
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200, [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc" }, { waitForTrailers: true });
  stream.once("wantTrailers", () => stream.sendTrailers(OK_TRAILERS));
  stream.end(frame);
}

/** fail answers with a trailers-only response carrying the status and its message. */
function fail(stream: ServerHttp2Stream, code: number, message: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond(
    {
      [h2.HTTP2_HEADER_STATUS]: 200,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
      "grpc-status": String(code),
      "grpc-message": percentEncode(message),
    },
    { endStream: true },
  );
}

/** percentEncode encodes a grpc-message as the gRPC spec asks (bytes outside 0x20-0x7e, and '%'). */
export function percentEncode(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
