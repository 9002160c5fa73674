import type { H2Connection } from "./connection.js";

/** RequestHeaders are a request's header fields by lower-case name (pseudo-headers included); a repeated name holds every value in order. */
export type RequestHeaders = Record<string, string | string[]>;

/**
 * StreamHandler receives what happens on one stream. Its methods are called synchronously
 * from the connection's frame processing; none is called after onStreamClose.
 */
export interface StreamHandler {
  /** onStreamData gets request DATA bytes in order; the buffer may be a view of the connection's read buffer, valid until the handler returns unless kept (it is never reused by the connection). */
  onStreamData(chunk: Buffer): void;
  /** onStreamEnd: the client ended its side of the stream (END_STREAM). */
  onStreamEnd(): void;
  /** onStreamClose: the stream is closed, whatever the cause (both sides ended, a reset either way, the connection ended). Called exactly once. */
  onStreamClose(): void;
  /** onStreamDrain: data a send reported as not ready has left (see H2Stream.send*). */
  onStreamDrain(): void;
}

/** OutItem is data or trailers waiting for flow-control window, in send order. */
export interface OutItem {
  /** data is DATA payload still to send (undefined for trailers). */
  data: Buffer | undefined;
  /** block is a trailers header block (sent with END_STREAM) when data is undefined. */
  block: Buffer | undefined;
  /** end sets END_STREAM on the last DATA frame of data. */
  end: boolean;
}

/**
 * H2Stream is the server side of one client-initiated HTTP/2 stream (RFC 7540 section 5.1):
 * open, then half-closed on either side, then closed. It owns the stream's two flow-control
 * windows: recvWindow is the credit granted to the client (returned as the handler consumes
 * data, never while paused), sendWindow the credit the client granted (data beyond it waits
 * in `queue`, in order, ahead of the trailers). Invariants: frames are emitted in send order;
 * END_STREAM is emitted at most once and nothing after it; onStreamClose is called once.
 */
export class H2Stream {
  handler: StreamHandler | undefined;
  /** headersSent: the response HEADERS were emitted. */
  headersSent = false;
  /** remoteEnded: the client sent END_STREAM (or the stream was reset). */
  remoteEnded = false;
  /** endQueued: END_STREAM has been sent or queued; nothing more may be sent. */
  endQueued = false;
  /** localEnded: END_STREAM has left (been handed to the socket). */
  localEnded = false;
  closed = false;
  /** paused: received data is held (its stream window not returned) until resume. */
  paused = false;
  recvWindow: number;
  /** recvUnacked: consumed bytes whose stream window has not been returned yet. */
  recvUnacked = 0;
  sendWindow: number;
  readonly queue: OutItem[] = [];
  /** queuedBytes: DATA bytes in queue. */
  queuedBytes = 0;
  /** wantsDrain: a send reported not ready; onStreamDrain is due when it is. */
  wantsDrain = false;
  /** held[0, heldLen): data received while paused, copied into one buffer (heldEnd: END_STREAM came after it). */
  held: Buffer | undefined;
  heldLen = 0;
  /** heldUncredited: held bytes whose connection window was not returned on receipt (the connection held too much). */
  heldUncredited = 0;
  heldEnd = false;

  constructor(
    readonly id: number,
    readonly conn: H2Connection,
    readonly headers: RequestHeaders,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  /** bufferedBytes is how much sent data waits for the client's flow-control window. */
  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  /** respond sends the response headers (an HPACK block), with END_STREAM for a trailers-only response. */
  respond(block: Buffer, endStream: boolean): void {
    if (this.endQueued || this.closed) return;
    this.headersSent = true;
    if (endStream) this.endQueued = true;
    this.conn.emitHeaders(this, block, endStream);
  }

  /**
   * sendMessage sends one gRPC message (payload without its 5-byte prefix, uncompressed). It
   * returns false when the caller should wait for onStreamDrain before sending more: data waits
   * for the client's window or the connection's socket is congested.
   */
  sendMessage(payload: Uint8Array): boolean {
    if (this.endQueued || this.closed) return true;
    return this.conn.emitMessage(this, payload);
  }

  /**
   * reply sends a unary response whole: the response headers (headersBlock, undefined when
   * already sent), the message and the trailers, in one write when the windows allow.
   */
  reply(headersBlock: Buffer | undefined, payload: Uint8Array, trailersBlock: Buffer): void {
    if (this.endQueued || this.closed) return;
    if (headersBlock !== undefined) this.headersSent = true;
    this.endQueued = true;
    this.conn.emitReply(this, headersBlock, payload, trailersBlock);
  }

  /** sendTrailers ends the stream with trailers, after any data still waiting for window. */
  sendTrailers(block: Buffer): void {
    if (this.endQueued || this.closed) return;
    this.endQueued = true;
    this.conn.emitTrailers(this, block);
  }

  /** pause holds received data (its stream window is not returned, so the client soon stops). */
  pause(): void {
    this.paused = true;
  }

  /** resume delivers held data and returns its stream window. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.conn.releaseHeld(this);
  }

  /** reset ends the stream at once with RST_STREAM and an HTTP/2 error code. */
  reset(code: number): void {
    if (this.closed) return;
    this.conn.resetStream(this, code);
  }
}
