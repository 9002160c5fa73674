import type { PeerCertificate } from "node:tls";
import type { Metadata } from "./metadata.js";

/**
 * MethodDefinition is the part of a method definition the server needs; ts-proto's grpc-js
 * service objects (`etcdserverpb.KVService`, ...) have this shape.
 */
export interface MethodDefinition<Req, Res> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(b: Buffer): Req;
  responseSerialize(r: Res): Buffer;
}

/** ServiceDefinition maps method names to their definitions. */
export type ServiceDefinition = Record<string, MethodDefinition<unknown, never>>;

/**
 * CallContext is what every handler and interceptor knows of its call: the method, the
 * request metadata, who called (address and, over TLS, the verified client certificate),
 * the deadline, and whether the call has been cancelled. `values` carries what interceptors
 * attach for the handler (an authenticated user, say).
 */
export interface CallContext {
  /** method is the full method path, "/package.Service/Method". */
  readonly method: string;
  /**
   * request is the request message of a unary or server-streaming call, decoded before
   * interceptors run; undefined for client-streaming and bidirectional calls, whose messages
   * come through the stream.
   */
  readonly request: unknown;
  readonly metadata: Metadata;
  /** peer is the client's "address:port" ("@" on a unix socket). */
  readonly peer: string;
  /** peerCertificate is the client's certificate when TLS verified one, else undefined. */
  readonly peerCertificate: PeerCertificate | undefined;
  /** deadline is when the call times out, in Date.now() milliseconds; undefined without grpc-timeout. */
  readonly deadline: number | undefined;
  /** cancelled: the client cancelled, disconnected, or the deadline passed; nothing more is sent. */
  readonly cancelled: boolean;
  /** signal aborts when the call is cancelled (its reason is the GrpcError). */
  readonly signal: AbortSignal;
  /** onCancel calls cb once if the call is cancelled before it finishes. */
  onCancel(cb: (reason: Error) => void): void;
  readonly values: Map<symbol, unknown>;
}

/**
 * ServerStream is the sending side of a server-streaming or bidirectional call. send resolves
 * once the message is handed to HTTP/2 below its buffer limit: a handler that awaits each send
 * holds at most one message in memory for a client that stops reading. It rejects once the
 * call is cancelled or finished.
 */
export interface ServerStream<Res> extends CallContext {
  send(res: Res): Promise<void>;
  /** bufferedBytes is how much sent data waits for the client's flow-control window. */
  readonly bufferedBytes: number;
}

/**
 * ClientStream is the receiving side of a client-streaming or bidirectional call: iterate it
 * for the request messages. The iteration ends when the client half-closes and throws the
 * GrpcError of a cancelled call or a malformed message. Reading slowly slows the client down
 * (HTTP/2 flow control); nothing is buffered without bound.
 */
export interface ClientStream<Req> extends CallContext, AsyncIterable<Req> {}

/** BidiStream is both sides of a bidirectional call. */
export interface BidiStream<Req, Res> extends ServerStream<Res>, ClientStream<Req> {}

export type UnaryHandler<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res>;
export type ServerStreamingHandler<Req, Res> = (req: Req, call: ServerStream<Res>) => Promise<void>;
export type ClientStreamingHandler<Req, Res> = (call: ClientStream<Req>) => Promise<Res>;
export type BidiStreamingHandler<Req, Res> = (call: BidiStream<Req, Res>) => Promise<void>;

type ReqOf<D> = D extends { requestDeserialize(b: Buffer): infer R } ? R : never;
type ResOf<D> = D extends { responseSerialize(r: infer R): Buffer } ? R : never;

/** HandlerFor is the handler type of a method definition, by its call kind. */
export type HandlerFor<D> = D extends { requestStream: true; responseStream: true }
  ? BidiStreamingHandler<ReqOf<D>, ResOf<D>>
  : D extends { requestStream: true }
    ? ClientStreamingHandler<ReqOf<D>, ResOf<D>>
    : D extends { responseStream: true }
      ? ServerStreamingHandler<ReqOf<D>, ResOf<D>>
      : UnaryHandler<ReqOf<D>, ResOf<D>>;

/** ServiceImplementation holds handlers for some or all methods of a service (others answer Unimplemented). */
export type ServiceImplementation<S> = { [K in keyof S]?: HandlerFor<S[K]> };

/**
 * Interceptor wraps every call: it may fail it before the handler runs (throw), attach values
 * to ctx, and see how the handler ended (next() rejects with the handler's error).
 */
export type Interceptor = (ctx: CallContext, next: () => Promise<void>) => Promise<void>;

/** CallStatus is how a call ended. */
export interface CallStatus {
  code: number;
  message: string;
}
