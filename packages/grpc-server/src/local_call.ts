import type { MethodObserver } from "./observer.js";
import type { Metadata } from "./metadata.js";
import { CancelState, ObservedSpan } from "./call_state.js";
import { cancelledError, GrpcError, Status } from "./status.js";
import type { BidiStream, CallStatus, MethodDefinition } from "./types.js";

/**
 * InvokeOptions describe an in-process call (see GrpcServer.invoke): who calls, with what
 * metadata, and where its response messages go.
 */
export interface InvokeOptions {
  /** metadata is the call's request metadata (as if sent as HTTP/2 headers). */
  metadata: Metadata;
  /** peer is the caller's "address:port", as CallContext.peer reports it. */
  peer: string;
  /**
   * onMessage receives each response message, serialized (the one response of a unary call,
   * each message of a stream). A returned promise is the backpressure: the handler's send
   * resolves only when it does.
   */
  onMessage(payload: Buffer): void | Promise<void>;
}

/** InvokedCall is an in-process call under way: how it ended, and a way to cancel it. */
export interface InvokedCall {
  /** done resolves with the call's status once it ended (never rejects). */
  readonly done: Promise<CallStatus>;
  /** cancel cancels the call as a client's RST_STREAM would (status CANCELLED). */
  cancel(): void;
}

/**
 * LocalCall is one gRPC call made in the same process: its request messages are given whole
 * (the request side is then half-closed), its responses go to a callback, and it ends exactly
 * once with a status, like Call does on an HTTP/2 stream. It serializes responses and
 * deserializes requests with the method definition, so a handler sees exactly what it would
 * see over the network.
 */
export class LocalCall<Req, Res> implements BidiStream<Req, Res> {
  readonly values = new Map<symbol, unknown>();
  readonly deadline = undefined;
  readonly peerCertificate = undefined;
  readonly bufferedBytes = 0;
  request: unknown = undefined;
  /** observer, when set before observeStart, is told of this call's messages and end. */
  observer: MethodObserver | undefined;

  private finished = false;
  private readonly cancelState = new CancelState();
  private readonly span = new ObservedSpan();
  private readonly queue: Req[];
  private settle!: (st: CallStatus) => void;
  readonly done: Promise<CallStatus>;

  constructor(
    readonly method: string,
    private readonly def: MethodDefinition<Req, Res>,
    requests: readonly Req[],
    private readonly o: InvokeOptions,
  ) {
    this.queue = [...requests];
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  get metadata(): Metadata {
    return this.o.metadata;
  }

  get peer(): string {
    return this.o.peer;
  }

  get cancelled(): boolean {
    return this.cancelState.reason !== undefined;
  }

  get signal(): AbortSignal {
    return this.cancelState.signal;
  }

  onCancel(cb: (reason: Error) => void): void {
    this.cancelState.onCancel(cb, this.finished);
  }

  /** observeStart reports that the call reaches its handler. */
  observeStart(withRequest: boolean): void {
    if (!this.finished) this.span.start(this.observer, withRequest);
  }

  [Symbol.asyncIterator](): AsyncIterator<Req> {
    return {
      next: () => {
        if (this.cancelState.reason !== undefined) return Promise.reject(this.cancelState.reason);
        if (this.queue.length === 0 || this.finished) return Promise.resolve({ value: undefined, done: true });
        this.span.received();
        return Promise.resolve({ value: this.queue.shift() as Req, done: false });
      },
      return: () => {
        this.queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  send(res: Res): Promise<void> {
    if (this.finished) return Promise.reject(this.cancelState.reason ?? new GrpcError(Status.INTERNAL, "grpc: the call has already ended"));
    const payload = this.def.responseSerialize(res);
    this.span.sent();
    return Promise.resolve(this.o.onMessage(payload));
  }

  /** reply ends a unary or client-streaming call with its one response. */
  reply(res: Res): void {
    if (this.finished) return;
    let payload: Buffer;
    try {
      payload = this.def.responseSerialize(res);
    } catch (err) {
      this.fail(new GrpcError(Status.INTERNAL, `grpc: error while marshaling: ${(err as Error).message}`));
      return;
    }
    this.span.sent();
    void this.o.onMessage(payload);
    this.end({ code: Status.OK, message: "" });
  }

  /** finishOk ends a streaming call with status OK. */
  finishOk(): void {
    this.end({ code: Status.OK, message: "" });
  }

  /** fail ends the call with err's status; a handler still running is cancelled with it. */
  fail(err: GrpcError): void {
    if (this.finished) return;
    this.end({ code: err.code, message: err.message });
    this.cancel(err);
  }

  /** cancelByCaller cancels a call that has not ended yet, as a client's reset would (CANCELLED). */
  cancelByCaller(): void {
    if (!this.finished) this.cancel(cancelledError());
  }

  /** cancel marks the call cancelled and settles everything waiting on it. */
  private cancel(reason: GrpcError): void {
    if (this.cancelState.reason !== undefined) return;
    this.end({ code: reason.code, message: reason.message });
    this.cancelState.cancel(reason);
  }

  private end(st: CallStatus): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.length = 0;
    this.span.end(st.code);
    this.settle(st);
  }
}
