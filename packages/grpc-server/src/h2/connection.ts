import type { Duplex } from "node:stream";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  goawayFrame,
  MAX_FRAME_SIZE_LIMIT,
  MAX_WINDOW,
  pingFrame,
  PREFACE,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.js";
import { frame, frameHeader } from "../decoder.js";
import { HeaderListTooLarge, HpackDecoder, HpackError } from "./hpack.js";
import { H2Stream, type RequestHeaders } from "./stream.js";

/** H2ConnectionOptions configure one server connection. */
export interface H2ConnectionOptions {
  /** maxConcurrentStreams: streams the client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused. */
  maxConcurrentStreams: number;
  /** streamWindow: the receive window of each stream, in bytes (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindow: number;
  /** connectionWindow: the connection's receive window, in bytes. */
  connectionWindow: number;
  /** maxHeaderListBytes bounds one request's decoded header list (name + value + 32 per field). */
  maxHeaderListBytes: number;
  /** onStream is called for each new request stream with its validated headers. */
  onStream: (stream: H2Stream) => void;
  /** onPing is called for each PING the client sends (not for acknowledgements). */
  onPing?: () => void;
  /** onClose is called once when the connection is gone. */
  onClose?: () => void;
  /**
   * onInternalError reports an error thrown while handling the client's frames that is not
   * the client's protocol error (a bug of this server): the connection ends with GOAWAY
   * INTERNAL_ERROR instead of the error escaping the socket's event (which would end the
   * process and every other client's calls).
   */
  onInternalError?: (err: unknown) => void;
}

/** HIGH_WATER_BYTES: above this much unsent output (in the socket or this turn's frames), the connection stops reading and streams wait for drain. */
const HIGH_WATER_BYTES = 1 << 20;
/** MAX_HELD_BYTES: above this much data held for paused streams, the connection's window is no longer returned on receipt. */
const MAX_HELD_BYTES = 16 << 20;
/** RESET_BURST and RESET_PER_SECOND: a token bucket of streams the client may reset before the server ends them (as nghttp2 bounds the "rapid reset" attack). */
const RESET_BURST = 1000;
const RESET_PER_SECOND = 33;
const EMPTY = Buffer.alloc(0);
/** CONCAT_MAX_BYTES: a batch of frames up to this size is copied into one buffer for one write. */
const CONCAT_MAX_BYTES = 256 * 1024;
/** COPY_MAX_BYTES: a message up to this size is copied behind its gRPC prefix; a larger one goes out as views of itself. */
const COPY_MAX_BYTES = 64 * 1024;
/** MAX_HEADER_BLOCK_BYTES bounds a header block assembled from HEADERS and CONTINUATION frames. */
const MAX_HEADER_BLOCK_BYTES = 256 * 1024;
/** MAX_CONTINUATIONS bounds the CONTINUATION frames of one header block (a flood of empty ones costs the server, not the client). */
const MAX_CONTINUATIONS = 64;
/** GRPC_PREFIX_BYTES is gRPC's message length prefix. */
const GRPC_PREFIX_BYTES = 5;
/** CONNECTION_HEADERS are connection-specific fields HTTP/2 forbids (RFC 7540 section 8.1.2.2). */
const CONNECTION_HEADERS = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);
const PSEUDO_HEADERS = new Set([":method", ":scheme", ":path", ":authority"]);

/** H2ProtocolError is a connection error: the connection sends GOAWAY with code and ends. */
class H2ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** PendingHeaders is a header block being assembled from HEADERS and CONTINUATION frames. */
interface PendingHeaders {
  streamId: number;
  endStream: boolean;
  chunks: Buffer[];
  bytes: number;
  /** selfDependent: the HEADERS named its own stream as its dependency (a stream error once decoded). */
  selfDependent: boolean;
}

/**
 * H2Connection is the server side of one HTTP/2 connection (RFC 7540) carrying gRPC: it parses
 * frames from the socket, decodes request headers (HPACK), keeps the streams and both levels
 * of flow control, and writes the frames of one event-loop turn in one socket write. It
 * implements what a gRPC server needs and refuses the rest by the RFC's rules: no server push,
 * priorities ignored, PING answered, GOAWAY sent on a connection error. Bounds: streams
 * (maxConcurrentStreams), a header block (256 KiB) and list (maxHeaderListBytes), data held
 * per stream (its window), unsent output (reading stops above 1 MiB in the socket).
 */
export class H2Connection {
  readonly socket: Duplex;
  private readonly o: H2ConnectionOptions;
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder: HpackDecoder;
  /** lastStreamId is the highest stream ID the client opened (processed or refused). */
  lastStreamId = 0;
  /** sentSincePing: HEADERS or DATA were written since the last takeSent (grpc-go's ping strike reset). */
  private sentSincePing = false;
  private prefaceSeen = false;
  private inbuf: Buffer | undefined;
  private pendingHeaders: PendingHeaders | undefined;
  private connRecvWindow: number;
  private connRecvUnacked = 0;
  private connSendWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** blocked: streams with queued data waiting for window, in the order they blocked. */
  private readonly blocked = new Set<H2Stream>();
  /** drainWaiters: streams whose handler waits for onStreamDrain. */
  private readonly drainWaiters = new Set<H2Stream>();
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private congested = false;
  /** heldBytes is the data held for paused streams (H2Stream.heldLen summed). */
  private heldBytes = 0;
  /** resetTokens and resetAt: the client's reset budget (RESET_BURST, refilled RESET_PER_SECOND) and when it was last refilled (ms). */
  private resetTokens = RESET_BURST;
  private resetAt = 0;
  /** goawaySent: no new stream is accepted. */
  private goawaySent = false;
  /** goawayLastId is the last stream ID the first GOAWAY named (later ones may not name a higher one). */
  private goawayLastId: number | undefined;
  /** failed: a connection error was sent; nothing more is read. */
  private failed = false;
  private destroyed = false;
  private pingSeq = 0;
  private readonly pings = new Map<string, () => void>();

  constructor(socket: Duplex, o: H2ConnectionOptions) {
    this.socket = socket;
    this.o = o;
    this.decoder = new HpackDecoder(4096, o.maxHeaderListBytes);
    this.connRecvWindow = Math.max(o.connectionWindow, DEFAULT_WINDOW);
    const settings: [number, number][] = [[Setting.INITIAL_WINDOW_SIZE, o.streamWindow]];
    if (o.maxConcurrentStreams < 0xffff_ffff) settings.unshift([Setting.MAX_CONCURRENT_STREAMS, o.maxConcurrentStreams]);
    this.push(settingsFrame(settings));
    if (this.connRecvWindow > DEFAULT_WINDOW) this.push(windowUpdateFrame(0, this.connRecvWindow - DEFAULT_WINDOW));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.destroy());
    socket.on("close", () => this.destroy());
    socket.on("error", () => this.destroy());
    socket.on("drain", () => this.onSocketDrain());
    socket.resume();
  }

  /** streamCount is the number of open (or half-closed) streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** takeSent tells whether HEADERS or DATA were written since the last call, and forgets it. */
  takeSent(): boolean {
    const s = this.sentSincePing;
    this.sentSincePing = false;
    return s;
  }

  /** ping sends a PING; onAck is called when the client acknowledges it. */
  ping(onAck: () => void): void {
    if (this.destroyed) return;
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(++this.pingSeq >>> 0, 4);
    this.pings.set(payload.toString("latin1"), onAck);
    this.push(pingFrame(payload, false));
  }

  /**
   * goaway tells the client no stream after the last one it opened will be processed
   * (GOAWAY with code and debug text); the connection then ends once its streams are closed,
   * or after graceMs at the latest.
   */
  goaway(code: number, debug: string, graceMs: number): void {
    if (this.destroyed || this.goawaySent) return;
    this.goawaySent = true;
    this.push(goawayFrame((this.goawayLastId ??= this.lastStreamId), code, Buffer.from(debug, "latin1")));
    if (this.streams.size === 0) this.endAfterFlush();
    else setTimeout(() => this.destroy(), graceMs).unref();
  }

  /** destroy ends the connection at once; every stream is closed. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.out = [];
    this.outBytes = 0;
    this.socket.destroy();
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    this.drainWaiters.clear();
    for (const s of streams) this.markClosed(s);
    this.pings.clear();
    this.o.onClose?.();
  }

  // ---- reading ----

  private onData(chunk: Buffer): void {
    if (this.destroyed || this.failed) return;
    let buf = chunk;
    if (this.inbuf !== undefined) {
      buf = Buffer.concat([this.inbuf, chunk]);
      this.inbuf = undefined;
    }
    let at = 0;
    try {
      if (!this.prefaceSeen) {
        if (buf.length < PREFACE.length) {
          if (!PREFACE.subarray(0, buf.length).equals(buf)) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "bad connection preface");
          this.inbuf = buf;
          return;
        }
        if (!PREFACE.equals(buf.subarray(0, PREFACE.length))) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "bad connection preface");
        this.prefaceSeen = true;
        at = PREFACE.length;
      }
      while (buf.length - at >= FRAME_HEADER_BYTES) {
        const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
        if (length > DEFAULT_MAX_FRAME_SIZE) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
        const end = at + FRAME_HEADER_BYTES + length;
        if (end > buf.length) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        const streamId = buf.readUInt32BE(at + 5) & 0x7fff_ffff;
        this.onFrame(type, flags, streamId, buf, at + FRAME_HEADER_BYTES, end);
        at = end;
        if (this.destroyed || this.failed) return;
        if (this.outBytes + this.socket.writableLength > HIGH_WATER_BYTES) {
          // Answers pile up faster than the client reads them: the rest waits until they drain.
          if (at < buf.length) this.inbuf = buf.subarray(at);
          this.holdReading();
          return;
        }
      }
    } catch (err) {
      if (err instanceof H2ProtocolError) {
        this.connectionError(err.code, err.message);
        return;
      }
      this.o.onInternalError?.(err);
      this.connectionError(ErrorCode.INTERNAL_ERROR, "internal error");
      return;
    }
    if (at < buf.length) this.inbuf = buf.subarray(at);
  }

  private onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const ph = this.pendingHeaders;
    if (ph !== undefined && (type !== FrameType.CONTINUATION || id !== ph.streamId)) {
      throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    // Clients open odd streams only: a frame for an even one refers to no stream that can exist.
    if ((id & 1) === 0 && id !== 0 && type <= FrameType.CONTINUATION && type !== FrameType.PRIORITY) {
      throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame on the even stream ${id}`);
    }
    switch (type) {
      case FrameType.DATA:
        this.onDataFrame(flags, id, buf, start, end);
        return;
      case FrameType.HEADERS:
        this.onHeadersFrame(flags, id, buf, start, end);
        return;
      case FrameType.CONTINUATION:
        if (ph === undefined) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without HEADERS");
        if (ph.chunks.length > MAX_CONTINUATIONS) throw new H2ProtocolError(ErrorCode.ENHANCE_YOUR_CALM, "too many CONTINUATION frames");
        this.addHeaderChunk(ph, buf.subarray(start, end));
        if ((flags & Flag.END_HEADERS) !== 0) {
          this.pendingHeaders = undefined;
          this.onHeaderBlock(ph.streamId, ph.endStream, ph.chunks.length === 1 ? ph.chunks[0]! : Buffer.concat(ph.chunks), ph.selfDependent);
        }
        return;
      case FrameType.PRIORITY:
        if (id === 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (end - start !== 5) this.streamError(id, ErrorCode.FRAME_SIZE_ERROR);
        else if ((buf.readUInt32BE(start) & 0x7fff_ffff) === id) this.streamError(id, ErrorCode.PROTOCOL_ERROR);
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(id, end - start);
        return;
      case FrameType.SETTINGS:
        this.onSettings(flags, id, buf, start, end);
        return;
      case FrameType.PUSH_PROMISE:
        throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FrameType.PING:
        if (id !== 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
        if (end - start !== 8) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "PING of bad size");
        if ((flags & Flag.ACK) !== 0) {
          const key = buf.toString("latin1", start, end);
          const cb = this.pings.get(key);
          if (cb !== undefined) {
            this.pings.delete(key);
            cb();
          }
          return;
        }
        this.push(pingFrame(buf.subarray(start, end), true));
        this.o.onPing?.();
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (end - start < 8) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY of bad size");
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(id, buf, start, end);
        return;
      default:
        return; // unknown frame types are ignored (RFC 7540 section 4.1)
    }
  }

  private onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    const frameLen = end - start;
    let dataStart = start;
    let dataEnd = end;
    if ((flags & Flag.PADDED) !== 0) {
      if (frameLen < 1) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "DATA too short for padding");
      const pad = buf[start]!;
      dataStart = start + 1;
      dataEnd = end - pad;
      if (dataEnd < dataStart) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "padding longer than DATA");
    }
    this.connRecvWindow -= frameLen;
    if (this.connRecvWindow < 0) throw new H2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "connection window exceeded");
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastStreamId) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      this.consumedConn(frameLen); // a closed stream's data is dropped
      return;
    }
    if (s.remoteEnded) {
      this.consumedConn(frameLen);
      this.streamError(id, ErrorCode.STREAM_CLOSED);
      return;
    }
    s.recvWindow -= frameLen;
    if (s.recvWindow < 0) {
      this.consumedConn(frameLen);
      this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    const dataLen = dataEnd - dataStart;
    // Padding is consumed at once; the data when the handler takes it.
    if (frameLen > dataLen) this.consumed(s, frameLen - dataLen);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (s.endQueued) {
      // The call is over: its data is dropped, and only the connection's window returned, so
      // a client still sending is stopped by the stream's window.
      this.consumedConn(dataLen);
    } else if (dataLen > 0) {
      const chunk = buf.subarray(dataStart, dataEnd);
      if (s.paused) {
        // Held data is bounded by the stream's window, which is returned only on delivery; the
        // connection's is returned now (up to MAX_HELD_BYTES held), so that paused streams
        // cannot stall the others.
        this.hold(s, chunk);
        if (this.heldBytes <= MAX_HELD_BYTES) this.consumedConn(dataLen);
        else s.heldUncredited += dataLen;
      } else {
        this.consumed(s, dataLen);
        s.handler?.onStreamData(chunk);
      }
    }
    if (endStream) this.onRemoteEnd(s);
  }

  private onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    let at = start;
    let blockEnd = end;
    if ((flags & Flag.PADDED) !== 0) {
      if (end - start < 1) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short for padding");
      const pad = buf[at]!;
      at++;
      blockEnd = end - pad;
    }
    let selfDependent = false;
    if ((flags & Flag.PRIORITY) !== 0) {
      if (blockEnd - at >= 4) selfDependent = (buf.readUInt32BE(at) & 0x7fff_ffff) === id;
      at += 5;
    }
    if (blockEnd < at) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "HEADERS padding or priority past the frame");
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const block = buf.subarray(at, blockEnd);
    if ((flags & Flag.END_HEADERS) === 0) {
      const ph: PendingHeaders = { streamId: id, endStream, chunks: [], bytes: 0, selfDependent };
      this.addHeaderChunk(ph, block);
      this.pendingHeaders = ph;
      return;
    }
    this.onHeaderBlock(id, endStream, block, selfDependent);
  }

  private addHeaderChunk(ph: PendingHeaders, chunk: Buffer): void {
    ph.bytes += chunk.length;
    if (ph.bytes > MAX_HEADER_BLOCK_BYTES) throw new H2ProtocolError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    // Copied: the read buffer the frames came in is not kept across reads.
    ph.chunks.push(Buffer.from(chunk));
  }

  /** onHeaderBlock handles a complete header block: a new request, or trailers of an open one. */
  private onHeaderBlock(id: number, endStream: boolean, block: Buffer, selfDependent: boolean): void {
    const existing = this.streams.get(id);
    if (existing !== undefined || id <= this.lastStreamId) {
      // Trailers (or a late block on a closed stream): decoded to keep the HPACK state.
      this.decodeBlock(block, undefined);
      if (existing === undefined) return;
      if (!endStream || existing.remoteEnded) {
        this.streamError(id, existing.remoteEnded ? ErrorCode.STREAM_CLOSED : ErrorCode.PROTOCOL_ERROR);
        return;
      }
      this.onRemoteEnd(existing);
      return;
    }
    this.lastStreamId = id;
    const headers: RequestHeaders = Object.create(null) as RequestHeaders;
    const valid = this.decodeBlock(block, headers);
    if (this.goawaySent) return; // after GOAWAY, new streams are not processed (decoded for HPACK only)
    // A stream cannot depend on itself (RFC 7540 section 5.3.1).
    if (!valid || selfDependent || !validRequest(headers)) {
      this.push(rstStreamFrame(id, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    if (this.streams.size >= this.o.maxConcurrentStreams) {
      this.push(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
      return;
    }
    const s = new H2Stream(id, this, headers, this.o.streamWindow, this.peerInitialWindow);
    this.streams.set(id, s);
    if (endStream) s.remoteEnded = true;
    this.o.onStream(s);
    // A request without a body (END_STREAM on HEADERS) ends its input at once.
    if (endStream && !s.closed) s.handler?.onStreamEnd();
  }

  /**
   * decodeBlock decodes a header block into headers (undefined: only for the HPACK state). It
   * returns false when the fields break HTTP/2's rules for requests (the stream is refused);
   * a malformed block is a connection error.
   */
  private decodeBlock(block: Buffer, headers: RequestHeaders | undefined): boolean {
    let valid = true;
    let regularSeen = false;
    try {
      this.decoder.decode(block, 0, block.length, (name, value) => {
        if (headers === undefined || !valid) return;
        if (name.charCodeAt(0) === 58 /* ':' */) {
          if (regularSeen || !PSEUDO_HEADERS.has(name) || headers[name] !== undefined) valid = false;
        } else {
          regularSeen = true;
          if (name !== name.toLowerCase() || CONNECTION_HEADERS.has(name) || (name === "te" && value !== "trailers")) valid = false;
        }
        const prev = headers[name];
        if (prev === undefined) headers[name] = value;
        else if (typeof prev === "string") headers[name] = [prev, value];
        else prev.push(value);
      });
    } catch (err) {
      if (err instanceof HeaderListTooLarge) return false;
      if (err instanceof HpackError) throw new H2ProtocolError(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
    return valid;
  }

  private onRstStream(id: number, length: number): void {
    if (id === 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (length !== 4) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM of bad size");
    if (id > this.lastStreamId) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    const s = this.streams.get(id);
    if (s === undefined) return;
    if (!s.endQueued) {
      // A call cancelled before it ended costs the server its handler's work: bounded per connection.
      const now = Date.now();
      this.resetTokens = Math.min(RESET_BURST, this.resetTokens + ((now - this.resetAt) / 1000) * RESET_PER_SECOND);
      this.resetAt = now;
      if (--this.resetTokens < 0) throw new H2ProtocolError(ErrorCode.ENHANCE_YOUR_CALM, "too many streams reset");
    }
    this.close(s);
  }

  private onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    if ((flags & Flag.ACK) !== 0) {
      if (end !== start) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      return;
    }
    if ((end - start) % 6 !== 0) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS of bad size");
    for (let at = start; at < end; at += 6) {
      const key = buf.readUInt16BE(at);
      const value = buf.readUInt32BE(at + 2);
      switch (key) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "bad SETTINGS_ENABLE_PUSH");
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new H2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE too large");
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) throw new H2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "stream window too large");
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "bad SETTINGS_MAX_FRAME_SIZE");
          this.peerMaxFrameSize = value;
          break;
        default:
          break; // HEADER_TABLE_SIZE: the encoder uses no dynamic table; others need nothing
      }
    }
    this.push(SETTINGS_ACK);
    this.flushBlocked();
  }

  private onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new H2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE of bad size");
    const inc = buf.readUInt32BE(start) & 0x7fff_ffff;
    if (id === 0) {
      if (inc === 0) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.connSendWindow += inc;
      if (this.connSendWindow > MAX_WINDOW) throw new H2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, "connection window too large");
      this.flushBlocked();
      return;
    }
    if (id > this.lastStreamId) throw new H2ProtocolError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
    const s = this.streams.get(id);
    if (s === undefined) return;
    if (inc === 0) {
      this.streamError(id, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (s.queue.length > 0) {
      this.flushStream(s);
      this.maybeDrain(s);
    }
  }

  /** hold copies a paused stream's data into its held buffer (one buffer, not a view per frame). */
  private hold(s: H2Stream, chunk: Buffer): void {
    const need = s.heldLen + chunk.length;
    if (s.held === undefined || s.held.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(2 * need, this.o.streamWindow), 4096));
      if (s.held !== undefined) s.held.copy(grown, 0, 0, s.heldLen);
      s.held = grown;
    }
    chunk.copy(s.held, s.heldLen);
    s.heldLen = need;
    this.heldBytes += chunk.length;
  }

  /** dropHeld forgets a stream's held data, returning the connection window still owed for it. */
  private dropHeld(s: H2Stream): void {
    this.heldBytes -= s.heldLen;
    s.held = undefined;
    s.heldLen = 0;
    if (s.heldUncredited > 0) {
      const n = s.heldUncredited;
      s.heldUncredited = 0;
      this.consumedConn(n);
    }
  }

  private onRemoteEnd(s: H2Stream): void {
    s.remoteEnded = true;
    if (s.paused && s.heldLen > 0) {
      s.heldEnd = true;
      return;
    }
    if (s.localEnded) {
      this.close(s);
      return;
    }
    s.handler?.onStreamEnd();
  }

  /** releaseHeld delivers what a paused stream held (H2Stream.resume). */
  releaseHeld(s: H2Stream): void {
    const held = s.held;
    const n = s.heldLen;
    this.dropHeld(s);
    if (held !== undefined && n > 0 && !s.closed && !s.endQueued) {
      // One chunk: the handler may pause again inside it; what it then decodes stays bounded
      // by the stream's window, which comes back only now.
      this.consumedStream(s, n);
      s.handler?.onStreamData(held.subarray(0, n));
    }
    if (s.heldEnd && !s.closed) {
      s.heldEnd = false;
      if (s.localEnded) this.close(s);
      else s.handler?.onStreamEnd();
    }
    this.scheduleFlush();
  }

  /** consumed returns n bytes of window to the client, for the stream and the connection, in batches. */
  private consumed(s: H2Stream, n: number): void {
    this.consumedConn(n);
    this.consumedStream(s, n);
  }

  /** consumedStream returns n bytes of the stream's window to the client, in batches. */
  private consumedStream(s: H2Stream, n: number): void {
    if (s.remoteEnded) return;
    s.recvUnacked += n;
    if (s.recvUnacked >= this.o.streamWindow >>> 1 || s.recvUnacked >= 65_536) {
      this.push(windowUpdateFrame(s.id, s.recvUnacked));
      s.recvWindow += s.recvUnacked;
      s.recvUnacked = 0;
    }
  }

  private consumedConn(n: number): void {
    this.connRecvUnacked += n;
    if (this.connRecvUnacked >= this.o.connectionWindow >>> 2 || this.connRecvUnacked >= 1 << 20) {
      this.push(windowUpdateFrame(0, this.connRecvUnacked));
      this.connRecvWindow += this.connRecvUnacked;
      this.connRecvUnacked = 0;
    }
  }

  // ---- writing ----

  /** emitHeaders writes a HEADERS frame (and CONTINUATIONs for a large block). */
  emitHeaders(s: H2Stream, block: Buffer, endStream: boolean): void {
    if (endStream && s.queue.length > 0) {
      s.queue.push({ data: undefined, block, end: true });
      return;
    }
    this.sentSincePing = true;
    this.push(this.headersFrames(s.id, block, endStream));
    if (endStream) this.localEnd(s);
  }

  /** emitTrailers writes the trailers, or queues them behind data waiting for window. */
  emitTrailers(s: H2Stream, block: Buffer): void {
    this.emitHeaders(s, block, true);
  }

  /** emitMessage writes one gRPC message as DATA; false when the stream should wait for drain. */
  emitMessage(s: H2Stream, payload: Uint8Array): boolean {
    this.sentSincePing = true;
    const len = GRPC_PREFIX_BYTES + payload.length;
    if (s.queue.length === 0 && len <= this.peerMaxFrameSize && len <= s.sendWindow && len <= this.connSendWindow) {
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
      writeFrameHeader(out, 0, len, FrameType.DATA, 0, s.id);
      out[FRAME_HEADER_BYTES] = 0;
      out.writeUInt32BE(payload.length, FRAME_HEADER_BYTES + 1);
      out.set(payload, FRAME_HEADER_BYTES + GRPC_PREFIX_BYTES);
      s.sendWindow -= len;
      this.connSendWindow -= len;
      this.push(out);
    } else {
      this.emitFramed(s, payload);
    }
    if (s.queue.length === 0 && !this.congested) return true;
    s.wantsDrain = true;
    this.drainWaiters.add(s);
    return false;
  }

  /** emitReply writes a unary response (headers, message, trailers), in one buffer when it fits the windows. */
  emitReply(s: H2Stream, headersBlock: Buffer | undefined, payload: Uint8Array, trailers: Buffer): void {
    this.sentSincePing = true;
    const len = GRPC_PREFIX_BYTES + payload.length;
    const hlen = headersBlock === undefined ? 0 : FRAME_HEADER_BYTES + headersBlock.length;
    if (
      s.queue.length === 0 &&
      len <= this.peerMaxFrameSize &&
      len <= s.sendWindow &&
      len <= this.connSendWindow &&
      (headersBlock?.length ?? 0) <= this.peerMaxFrameSize &&
      trailers.length <= this.peerMaxFrameSize
    ) {
      const out = Buffer.allocUnsafe(hlen + FRAME_HEADER_BYTES + len + FRAME_HEADER_BYTES + trailers.length);
      let at = 0;
      if (headersBlock !== undefined) {
        writeFrameHeader(out, 0, headersBlock.length, FrameType.HEADERS, Flag.END_HEADERS, s.id);
        headersBlock.copy(out, FRAME_HEADER_BYTES);
        at = hlen;
      }
      writeFrameHeader(out, at, len, FrameType.DATA, 0, s.id);
      at += FRAME_HEADER_BYTES;
      out[at] = 0;
      out.writeUInt32BE(payload.length, at + 1);
      out.set(payload, at + GRPC_PREFIX_BYTES);
      at += len;
      writeFrameHeader(out, at, trailers.length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, s.id);
      trailers.copy(out, at + FRAME_HEADER_BYTES);
      s.sendWindow -= len;
      this.connSendWindow -= len;
      this.push(out);
      this.localEnd(s);
      return;
    }
    if (headersBlock !== undefined) this.push(this.headersFrames(s.id, headersBlock, false));
    this.emitFramed(s, payload);
    this.emitHeaders(s, trailers, true);
  }

  /**
   * emitFramed sends one gRPC message as DATA after anything queued. A message of more than
   * COPY_MAX_BYTES is sent as its 5-byte prefix followed by views of the payload, so a large
   * answer is not copied whole to prepend the prefix (the payload must not change until sent).
   */
  private emitFramed(s: H2Stream, payload: Uint8Array): void {
    if (payload.length <= COPY_MAX_BYTES) {
      this.emitData(s, frame(payload), false);
      return;
    }
    this.emitData(s, frameHeader(payload.length), false);
    this.emitData(s, Buffer.from(payload.buffer, payload.byteOffset, payload.length), false);
  }

  /** emitData sends data within the windows and queues the rest (in order, after anything queued). */
  private emitData(s: H2Stream, data: Buffer, end: boolean): void {
    if (s.queue.length > 0) {
      s.queue.push({ data, block: undefined, end });
      s.queuedBytes += data.length;
      return;
    }
    const sent = this.sendWithinWindow(s, data, end);
    if (sent < data.length || (data.length === 0 && end && sent < 0)) {
      const rest = data.subarray(Math.max(sent, 0));
      s.queue.push({ data: rest, block: undefined, end });
      s.queuedBytes += rest.length;
      this.blocked.add(s);
    }
  }

  /** sendWithinWindow writes DATA frames of data[0, n) allowed by the windows; returns n. */
  private sendWithinWindow(s: H2Stream, data: Buffer, end: boolean): number {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(data.length - off, s.sendWindow, this.connSendWindow, this.peerMaxFrameSize);
      if (n <= 0) break;
      const last = off + n === data.length;
      const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(head, 0, n, FrameType.DATA, last && end ? Flag.END_STREAM : 0, s.id);
      this.push(head);
      this.push(data.subarray(off, off + n));
      s.sendWindow -= n;
      this.connSendWindow -= n;
      off += n;
    }
    if (data.length === 0 && end) {
      const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(head, 0, 0, FrameType.DATA, Flag.END_STREAM, s.id);
      this.push(head);
    }
    if (off === data.length && end) this.localEnd(s);
    return off;
  }

  /** flushStream sends what the windows now allow of a stream's queue. */
  private flushStream(s: H2Stream): void {
    while (s.queue.length > 0) {
      const item = s.queue[0]!;
      if (item.data === undefined) {
        s.queue.shift();
        this.push(this.headersFrames(s.id, item.block as Buffer, true));
        this.localEnd(s);
        continue;
      }
      const n = this.sendWithinWindow(s, item.data, item.end);
      s.queuedBytes -= n;
      if (n < item.data.length) {
        item.data = item.data.subarray(n);
        this.blocked.add(s);
        return;
      }
      s.queue.shift();
    }
    this.blocked.delete(s);
  }

  /** flushBlocked sends queued data of every blocked stream, in the order they blocked, while the connection window lasts. */
  private flushBlocked(): void {
    for (const s of this.blocked) {
      if (this.connSendWindow <= 0) return;
      if (s.sendWindow <= 0 && s.queue[0]?.data !== undefined) continue;
      this.blocked.delete(s);
      this.flushStream(s);
      this.maybeDrain(s);
    }
  }

  private maybeDrain(s: H2Stream): void {
    if (!s.wantsDrain || s.queue.length > 0 || this.congested || s.closed) return;
    s.wantsDrain = false;
    this.drainWaiters.delete(s);
    s.handler?.onStreamDrain();
  }

  /** headersFrames encodes a header block as HEADERS plus CONTINUATIONs within the peer's frame size. */
  private headersFrames(id: number, block: Buffer, endStream: boolean): Buffer {
    const max = this.peerMaxFrameSize;
    if (block.length <= max) {
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
      writeFrameHeader(out, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), id);
      block.copy(out, FRAME_HEADER_BYTES);
      return out;
    }
    const frames = Math.ceil(block.length / max);
    const out = Buffer.allocUnsafe(frames * FRAME_HEADER_BYTES + block.length);
    let at = 0;
    for (let i = 0, off = 0; i < frames; i++, off += max) {
      const n = Math.min(max, block.length - off);
      const last = i === frames - 1;
      const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
      const flags = (last ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
      writeFrameHeader(out, at, n, type, flags, id);
      block.copy(out, at + FRAME_HEADER_BYTES, off, off + n);
      at += FRAME_HEADER_BYTES + n;
    }
    return out;
  }

  /** localEnd: END_STREAM left for s; a stream the client also ended is closed. */
  private localEnd(s: H2Stream): void {
    s.localEnded = true;
    s.endQueued = true;
    if (s.remoteEnded && !s.heldEnd) this.close(s);
    else if (s.held !== undefined) {
      // Held data of a finished call is dropped.
      this.dropHeld(s);
      if (s.heldEnd) this.close(s);
    }
    // As grpc-go's server: a client still sending after the status is told to stop, without
    // error (the reset follows the trailers on the same connection, so it cannot overtake them).
    if (!s.remoteEnded && !s.closed) this.resetStream(s, ErrorCode.NO_ERROR);
  }

  /** resetStream sends RST_STREAM for s and closes it. */
  resetStream(s: H2Stream, code: number): void {
    this.push(rstStreamFrame(s.id, code));
    this.close(s);
  }

  private streamError(id: number, code: number): void {
    this.push(rstStreamFrame(id, code));
    const s = this.streams.get(id);
    if (s !== undefined) this.close(s);
  }

  /** close removes s from the connection and tells its handler, once. */
  private close(s: H2Stream): void {
    if (s.closed) return;
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.drainWaiters.delete(s);
    if (s.held !== undefined) this.dropHeld(s);
    this.markClosed(s);
    if (this.goawaySent && this.streams.size === 0) this.endAfterFlush();
  }

  private markClosed(s: H2Stream): void {
    if (s.closed) return;
    s.closed = true;
    s.remoteEnded = true;
    s.queue.length = 0;
    s.queuedBytes = 0;
    const h = s.handler;
    s.handler = undefined;
    h?.onStreamClose();
  }

  private connectionError(code: number, message: string): void {
    if (this.destroyed || this.failed) return;
    this.failed = true;
    this.goawaySent = true;
    this.inbuf = undefined;
    this.pendingHeaders = undefined;
    this.push(goawayFrame((this.goawayLastId ??= this.lastStreamId), code, Buffer.from(message, "latin1")));
    this.endAfterFlush();
    // Nothing more is read: the streams end now, not when the client closes.
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const st of streams) this.markClosed(st);
  }

  /** endAfterFlush writes what is pending, ends the socket and lets the streams go. */
  private endAfterFlush(): void {
    this.flush();
    const sock = this.socket;
    if (!this.destroyed) {
      sock.end();
      setTimeout(() => this.destroy(), 1000).unref();
    }
  }

  /** push adds a frame to this turn's output. */
  private push(b: Buffer): void {
    if (this.destroyed) return;
    this.out.push(b);
    this.outBytes += b.length;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.out.length === 0) return;
    this.flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  /** flush writes this turn's frames in one socket write. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.destroyed || this.out.length === 0) return;
    const out = this.out;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    const sock = this.socket;
    let ok: boolean;
    if (out.length === 1) ok = sock.write(out[0]!);
    else if (bytes <= CONCAT_MAX_BYTES) ok = sock.write(Buffer.concat(out, bytes));
    else {
      sock.cork();
      for (const b of out) sock.write(b);
      sock.uncork();
      ok = sock.writableLength <= HIGH_WATER_BYTES;
    }
    if (!ok && sock.writableLength > HIGH_WATER_BYTES && !this.congested) {
      // The client does not read fast enough: stop reading its requests until the socket drains.
      this.congested = true;
      sock.pause();
    }
  }

  /** holdReading stops reading the socket until the output has drained (onSocketDrain). */
  private holdReading(): void {
    this.flush();
    if (this.socket.writableNeedDrain) {
      // 'drain' is due: reading resumes then.
      this.congested = true;
      this.socket.pause();
    } else setImmediate(() => this.onData(EMPTY)); // no drain to wait for: go on after other work
  }

  private onSocketDrain(): void {
    if (!this.congested || this.destroyed) return;
    this.congested = false;
    this.socket.resume();
    for (const s of [...this.drainWaiters]) this.maybeDrain(s);
    // Frames left unparsed when reading stopped.
    if (this.inbuf !== undefined && !this.congested) this.onData(EMPTY);
  }
}

/** validRequest checks the pseudo-headers a request must have (RFC 7540 section 8.1.2.3). */
function validRequest(h: RequestHeaders): boolean {
  return typeof h[":method"] === "string" && typeof h[":path"] === "string" && h[":path"] !== "" && typeof h[":scheme"] === "string";
}
