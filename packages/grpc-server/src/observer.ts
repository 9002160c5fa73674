/**
 * observer.ts declares how the server reports its calls to whoever counts them (metrics):
 * the embedder implements CallObserver; the server asks it once per registered method for a
 * MethodObserver and then reports each call of that method to it, allocating nothing per call.
 */

/** MethodInfo names a registered method and its call kind. */
export interface MethodInfo {
  /** service is the fully-qualified service name, "package.Service". */
  readonly service: string;
  /** method is the method name alone, "Method". */
  readonly method: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/**
 * MethodObserver receives the events of the calls of one method. For every call that
 * started, handled is reported exactly once, after it; received and sent only in between.
 */
export interface MethodObserver {
  /**
   * started: the call reached its handler (interceptors included): for unary and
   * server-streaming calls once its request message arrived, for the others at once.
   * Calls refused before (unknown method, bad encoding or timeout header) are not reported.
   */
  started(): void;
  /** received: one request message was handed to the handler. */
  received(): void;
  /** sent: one response message was handed to HTTP/2. */
  sent(): void;
  /**
   * handled: the call ended with status `code` (a gRPC status code; CANCELLED when the client
   * reset the stream or went away) after `seconds` since started.
   */
  handled(code: number, seconds: number): void;
}

/**
 * ByteObserver counts the bytes of messages (without gRPC framing) of every call, whatever
 * becomes of the call: each request message decoded and each response message encoded.
 */
export interface ByteObserver {
  received(bytes: number): void;
  sent(bytes: number): void;
}

/** CallObserver hands out the MethodObserver of each method as the server registers it. */
export interface CallObserver {
  method(info: MethodInfo): MethodObserver;
  /** bytes, when present, counts message bytes (see ByteObserver). */
  readonly bytes?: ByteObserver;
}
