import type { PeerCertificate } from "node:tls";
import { MessageDecoder } from "./decoder.js";
import { HpackEncoder } from "./h2/hpack.js";
import type { H2Stream, StreamHandler } from "./h2/stream.js";
import { Metadata } from "./metadata.js";
import { CancelState, ObservedSpan } from "./call_state.js";
import { cancelledError, GrpcError, percentEncode, Status } from "./status.js";
import type { ByteObserver, MethodObserver } from "./observer.js";
import type { BidiStream, CallStatus, MethodDefinition } from "./types.js";

/** ConnectionInfo is what a call knows of its connection. */
export interface ConnectionInfo {
  peer: string;
  /** peerCertificate reads the verified client certificate (undefined without one). */
  peerCertificate(): PeerCertificate | undefined;
}

/** CallLimits bound what one call may receive, queue and send. */
export interface CallLimits {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
  /** maxQueuedMessages: received messages the handler has not read yet before reading pauses. */
  maxQueuedMessages: number;
}

const hpack = new HpackEncoder();
/** RESPONSE_HEADERS is the HPACK block of a gRPC response's headers (the encoder keeps no state, so blocks are constants). */
const RESPONSE_HEADERS = hpack.encode([
  [":status", "200"],
  ["content-type", "application/grpc"],
]);
/** OK_TRAILERS is the HPACK block of the trailers of a call that succeeded. */
const OK_TRAILERS = hpack.encode([["grpc-status", "0"]]);
const RESOLVED = Promise.resolve();

/** statusBlock encodes a status as trailers, or as a trailers-only response (with the response headers) when headers is true. */
export function statusBlock(code: number, message: string, headers: boolean): Buffer {
  const fields: [string, string][] = headers
    ? [
        [":status", "200"],
        ["content-type", "application/grpc"],
        ["grpc-status", String(code)],
      ]
    : [["grpc-status", String(code)]];
  if (message !== "") fields.push(["grpc-message", percentEncode(message)]);
  return hpack.encode(fields);
}

interface Reader<Req> {
  resolve: (r: IteratorResult<Req>) => void;
  reject: (e: unknown) => void;
}

/**
 * Call is one gRPC call on one HTTP/2 stream: it decodes request messages as they arrive
 * (MessageDecoder bounds what is held), queues them for a streaming handler with HTTP/2 flow
 * control as backpressure, sends responses honouring the stream's write buffer, and ends the
 * call exactly once with a status. Invariant: after `finished`, nothing more is written and
 * every pending send or read has settled.
 */
export class Call<Req, Res> implements BidiStream<Req, Res>, StreamHandler {
  readonly metadata: Metadata;
  readonly values = new Map<symbol, unknown>();
  deadline: number | undefined;
  request: unknown = undefined;
  /** onFirstMessage is set for unary and server-streaming calls: it receives the one request. */
  onFirstMessage: ((req: Req) => void) | undefined;
  /** observer, when set before observeStart, is told of this call's messages and end. */
  observer: MethodObserver | undefined;
  /** bytes, when set, counts the bytes of the messages this call decodes and encodes. */
  bytes: ByteObserver | undefined;

  private readonly decoder: MessageDecoder;
  private finished = false;
  private readonly cancelState = new CancelState();
  private readonly span = new ObservedSpan();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private received = 0;
  private readonly queue: Req[] = [];
  private reader: Reader<Req> | undefined;
  private inputEnded = false;
  private inputError: GrpcError | undefined;
  private paused = false;
  private drainWaiters: { resolve: () => void; reject: (e: unknown) => void }[] | undefined;

  constructor(
    private readonly stream: H2Stream,
    readonly method: string,
    private readonly def: MethodDefinition<Req, Res>,
    private readonly conn: ConnectionInfo,
    private readonly limits: CallLimits,
    encoding: string,
  ) {
    this.metadata = new Metadata(stream.headers);
    this.decoder = new MessageDecoder(limits.maxReceiveMessageBytes, encoding);
  }

  // ---- CallContext ----

  get peer(): string {
    return this.conn.peer;
  }

  get peerCertificate(): PeerCertificate | undefined {
    return this.conn.peerCertificate();
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

  // ---- observing ----

  /** observeStart reports that the call reaches its handler (with its one request, if unary or server-streaming). */
  observeStart(): void {
    if (!this.finished) this.span.start(this.observer, this.onFirstMessage !== undefined);
  }

  // ---- receiving ----

  /** attach starts reading the request stream and watching for its end or reset. */
  attach(): void {
    this.stream.handler = this;
  }

  /** setDeadline fails the call with DEADLINE_EXCEEDED after ms. */
  setDeadline(ms: number): void {
    this.deadline = Date.now() + ms;
    this.deadlineTimer = setTimeout(() => {
      this.fail(new GrpcError(Status.DEADLINE_EXCEEDED, "context deadline exceeded"));
    }, ms);
    this.deadlineTimer.unref();
  }

  /** onStreamData decodes request DATA (StreamHandler). */
  onStreamData(chunk: Buffer): void {
    if (this.finished) return;
    try {
      this.decoder.push(chunk, (msg) => this.onMessage(msg));
    } catch (err) {
      this.fail(err instanceof GrpcError ? err : new GrpcError(Status.INTERNAL, String(err)));
    }
  }

  private onMessage(msg: Buffer): void {
    if (this.finished) return;
    const first = this.onFirstMessage;
    if (first !== undefined && this.received > 0) {
      throw new GrpcError(Status.INTERNAL, "grpc: received a second request message for a unary or server-streaming call");
    }
    let req: Req;
    try {
      req = this.def.requestDeserialize(msg);
    } catch (err) {
      throw new GrpcError(Status.INTERNAL, `grpc: error unmarshalling request: ${(err as Error).message}`);
    }
    this.bytes?.received(msg.length);
    this.received++;
    if (first !== undefined) {
      first(req);
      return;
    }
    const r = this.reader;
    if (r !== undefined) {
      this.reader = undefined;
      this.span.received();
      r.resolve({ value: req, done: false });
      return;
    }
    this.queue.push(req);
    if (!this.paused && this.queue.length >= this.limits.maxQueuedMessages) {
      // Stop consuming: HTTP/2 flow control then stops the client.
      this.paused = true;
      this.stream.pause();
    }
  }

  /** onStreamEnd: the client half-closed (StreamHandler). */
  onStreamEnd(): void {
    if (this.finished) return;
    if (this.decoder.partial) {
      this.fail(new GrpcError(Status.INTERNAL, "grpc: the request stream ended inside a message"));
      return;
    }
    if (this.onFirstMessage !== undefined) {
      if (this.received === 0) this.fail(new GrpcError(Status.INTERNAL, "grpc: the request stream ended without a request message"));
      return;
    }
    this.inputEnded = true;
    const r = this.reader;
    if (r !== undefined) {
      this.reader = undefined;
      r.resolve({ value: undefined, done: true });
    }
  }

  /** onStreamClose: the stream is gone (StreamHandler). */
  onStreamClose(): void {
    // The stream closed before a status was sent: the client reset it or went away.
    if (!this.finished) this.cancel(cancelledError());
  }

  [Symbol.asyncIterator](): AsyncIterator<Req> {
    return {
      next: () => this.next(),
      return: () => {
        this.inputEnded = true;
        this.queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private next(): Promise<IteratorResult<Req>> {
    if (this.queue.length > 0) {
      const value = this.queue.shift() as Req;
      this.span.received();
      if (this.paused && this.queue.length <= this.limits.maxQueuedMessages >> 1) {
        this.paused = false;
        this.stream.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.inputError !== undefined) return Promise.reject(this.inputError);
    if (this.cancelState.reason !== undefined) return Promise.reject(this.cancelState.reason);
    if (this.inputEnded || this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.reader = { resolve, reject };
    });
  }

  // ---- sending ----

  get bufferedBytes(): number {
    return this.stream.bufferedBytes;
  }

  send(res: Res): Promise<void> {
    if (this.finished) return Promise.reject(this.cancelState.reason ?? new GrpcError(Status.INTERNAL, "grpc: the call has already ended"));
    const payload = this.def.responseSerialize(res);
    if (payload.length > this.limits.maxSendMessageBytes) {
      return Promise.reject(
        new GrpcError(Status.RESOURCE_EXHAUSTED, `grpc: trying to send message larger than max (${payload.length} vs. ${this.limits.maxSendMessageBytes})`),
      );
    }
    const s = this.stream;
    if (!s.headersSent) s.respond(RESPONSE_HEADERS, false);
    this.span.sent();
    this.bytes?.sent(payload.length);
    if (s.sendMessage(payload)) return RESOLVED;
    return new Promise((resolve, reject) => {
      (this.drainWaiters ??= []).push({ resolve, reject });
    });
  }

  /** onStreamDrain wakes the sends waiting for the client's window (StreamHandler). */
  onStreamDrain(): void {
    const ws = this.drainWaiters;
    if (ws === undefined || ws.length === 0) return;
    this.drainWaiters = [];
    for (const w of ws) w.resolve();
  }

  // ---- ending ----

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
    if (payload.length > this.limits.maxSendMessageBytes) {
      this.fail(new GrpcError(Status.RESOURCE_EXHAUSTED, `grpc: trying to send message larger than max (${payload.length} vs. ${this.limits.maxSendMessageBytes})`));
      return;
    }
    this.markFinished();
    this.bytes?.sent(payload.length);
    this.span.sent();
    this.span.end(Status.OK);
    const s = this.stream;
    if (s.closed) return;
    s.reply(s.headersSent ? undefined : RESPONSE_HEADERS, payload, OK_TRAILERS);
  }

  /** finishOk ends a streaming call with status OK. */
  finishOk(): void {
    this.end({ code: Status.OK, message: "" });
  }

  /** fail ends the call with err's status; a handler still running is cancelled with it. */
  fail(err: GrpcError): void {
    if (this.finished) return;
    this.end({ code: err.code, message: err.message });
    if (this.cancelState.reason === undefined) this.cancel(err);
  }

  /** end sends the status (trailers-only when nothing was sent yet) and stops the call. */
  end(st: CallStatus): void {
    if (this.finished) return;
    this.markFinished();
    this.span.end(st.code);
    const s = this.stream;
    if (s.closed) return;
    // A client still sending after the status is stopped by its window: the stream drops
    // the data of an ended call without returning the stream's window.
    if (!s.headersSent) s.respond(statusBlock(st.code, st.message, true), true);
    else s.sendTrailers(st.code === Status.OK && st.message === "" ? OK_TRAILERS : statusBlock(st.code, st.message, false));
  }

  private markFinished(): void {
    this.finished = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.queue.length = 0;
  }

  /** cancel marks the call cancelled and settles everything waiting on it. */
  private cancel(reason: GrpcError): void {
    if (this.cancelState.reason !== undefined) return;
    this.markFinished();
    this.span.end(reason.code);
    this.inputError ??= reason;
    const r = this.reader;
    if (r !== undefined) {
      this.reader = undefined;
      r.reject(reason);
    }
    const ws = this.drainWaiters;
    if (ws !== undefined) {
      this.drainWaiters = [];
      for (const w of ws) w.reject(reason);
    }
    this.cancelState.cancel(reason);
  }
}
