import { connect, type Socket } from "node:net";

/**
 * h2-client.ts is a minimal HTTP/2 client for gRPC unary calls with pre-encoded
 * messages, built for load generation: one socket, requests written as ready-made frames
 * coalesced into one write per event-loop turn, no per-request stream objects, timers or
 * header maps. It speaks just enough HTTP/2 (RFC 7540) to be correct against grpc-go and
 * grpc-js servers: SETTINGS (+ACK), PING (+ACK), WINDOW_UPDATE and connection flow
 * control in both directions, RST_STREAM, GOAWAY, padded frames, CONTINUATION.
 *
 * Response header blocks are not HPACK-decoded. A unary gRPC call succeeded exactly when
 * the server sent a length-prefixed message and then ended the stream with trailers (a
 * failed call is a trailers-only response: no message), so success is decided from the
 * frames alone and a failure carries no gRPC status text. unary() does not keep the
 * response; call() hands it back (for requests built from an earlier answer).
 *
 * openStream() starts a streaming call (client, server or bidi streaming, e.g. etcd's
 * Watch): messages are sent as they come, each respecting the stream's and the
 * connection's send windows (queued while either is closed), and every message received
 * is handed to the caller as soon as its last byte arrives. Memory stays bounded: a
 * message that spans DATA frames is reassembled into one buffer of its announced size,
 * refused above maxMessageBytes; nothing else is buffered, and the receive windows are
 * replenished only as messages are handed over.
 */

const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_WINDOW_UPDATE = 0x8;
const FRAME_CONTINUATION = 0x9;

const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;

const RST_CANCEL = 0x8;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const MAX_WINDOW = 0x7fffffff;
const DEFAULT_WINDOW = 65535;
const MAX_STREAM_ID = 0x7fffffff;

/** H2Callback receives a call's outcome: null on success, else the error. */
export type H2Callback = (err: Error | null) => void;

/**
 * H2ResponseCallback receives a call's outcome and, on success, its response message
 * (the gRPC length prefix removed).
 */
export type H2ResponseCallback = (err: Error | null, response: Buffer | undefined) => void;

/** DEFAULT_MAX_MESSAGE_BYTES bounds one received message (grpc-go's default send limit is 2^31-1; etcd answers far less). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** H2StreamHandler receives what a streaming call brings. */
export interface H2StreamHandler {
  /**
   * onMessage gets each complete message, prefix removed, as buf[start, end); the bytes are
   * only valid during the call (copy what must be kept).
   */
  onMessage(buf: Buffer, start: number, end: number): void;
  /**
   * onEnd is called once when the stream is over for any reason but the caller's own
   * cancel(): the server ended it (trailers; their status is not decoded), reset it, went
   * away, or the connection failed. `messages` is how many messages arrived before.
   */
  onEnd(err: Error, messages: number): void;
}

/** H2Stream is the caller's handle on a streaming call opened with H2Connection.openStream. */
export interface H2Stream {
  /** id is the HTTP/2 stream ID. */
  readonly id: number;
  /** send queues one message (grpcFrame output); it goes out as the flow-control windows allow. */
  send(payload: Buffer): void;
  /** queuedBytes is the number of bytes waiting for send window. */
  readonly queuedBytes: number;
  /** cancel resets the stream (RST_STREAM CANCEL); the handler is not called afterwards. */
  cancel(): void;
}

/** hpackInt appends an HPACK integer (RFC 7541 5.1) with an n-bit prefix whose high bits are `first`. */
function hpackInt(out: number[], first: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function hpackString(out: number[], s: string): void {
  const b = Buffer.from(s, "latin1");
  hpackInt(out, 0x00, 7, b.length); // H=0: no Huffman coding
  for (const x of b) out.push(x);
}

/**
 * requestHeaderBlock returns the HPACK block of a gRPC request's headers, using only the
 * static table and literals without indexing, so it is valid in any decoder state and can
 * be reused for every request. With `token`, the block also carries etcd's auth token as
 * the header `token` (a literal with a new name, not indexed), as clientv3 sends it.
 */
export function requestHeaderBlock(path: string, authority: string, token?: string): Buffer {
  const out: number[] = [];
  out.push(0x83); // :method: POST (static 3)
  out.push(0x86); // :scheme: http (static 6)
  hpackInt(out, 0x00, 4, 4); // :path, name static 4
  hpackString(out, path);
  hpackInt(out, 0x00, 4, 1); // :authority, name static 1
  hpackString(out, authority);
  hpackInt(out, 0x00, 4, 31); // content-type, name static 31
  hpackString(out, "application/grpc");
  out.push(0x00); // te: new name
  hpackString(out, "te");
  hpackString(out, "trailers");
  if (token !== undefined) {
    if (!/^[\x21-\x7e]*$/.test(token)) throw new Error("h2: an auth token must be visible ASCII");
    out.push(0x00); // token: new name
    hpackString(out, "token");
    hpackString(out, token);
  }
  return Buffer.from(out);
}

/** grpcFrame prefixes a protobuf message with gRPC's 5-byte length prefix (uncompressed). */
export function grpcFrame(message: Buffer): Buffer {
  const b = Buffer.allocUnsafe(5 + message.length);
  b[0] = 0;
  b.writeUInt32BE(message.length, 1);
  message.copy(b, 5);
  return b;
}

function frameHeader(b: Buffer, off: number, length: number, type: number, flags: number, stream: number): void {
  b[off] = (length >>> 16) & 0xff;
  b[off + 1] = (length >>> 8) & 0xff;
  b[off + 2] = length & 0xff;
  b[off + 3] = type;
  b[off + 4] = flags;
  b.writeUInt32BE(stream & MAX_STREAM_ID, off + 5);
}

/**
 * unframe returns the one gRPC message in a unary response's DATA bytes (prefix removed).
 * Throws "h2: ..." when the bytes are not exactly one uncompressed message.
 */
export function unframe(chunks: readonly Buffer[], maxMessageBytes: number): Buffer {
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (all.length < 5) throw new Error("h2: response shorter than a gRPC message prefix");
  if (all[0] !== 0) throw new Error("h2: received a compressed message (none was offered)");
  const n = all.readUInt32BE(1);
  if (n > maxMessageBytes) throw new Error(`h2: received a message of ${n} bytes, above the limit of ${maxMessageBytes}`);
  if (all.length !== 5 + n) throw new Error(`h2: response of ${all.length - 5} bytes announced ${n}`);
  return all.subarray(5);
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(9 + payload.length);
  frameHeader(b, 0, payload.length, type, flags, stream);
  payload.copy(b, 9);
  return b;
}

/** Call is one outstanding request. */
interface Call {
  cb: H2Callback;
  /** sentAt is the Date.now() at send, for the deadline sweep. */
  sentAt: number;
  /** dataBytes counts message bytes received (gRPC prefix included). */
  dataBytes: number;
  /** endOnHeaders is set when a HEADERS frame with END_STREAM waits for its CONTINUATION. */
  endOnHeaders: boolean;
  /** chunks collects the response bytes of a call() (undefined for unary()). */
  chunks: Buffer[] | undefined;
}

/** Queued is a request waiting for connection send window. */
interface Queued {
  headerBlock: Buffer;
  payload: Buffer;
  cb: H2Callback;
  chunks: Buffer[] | undefined;
}

/**
 * MessageReader reassembles gRPC length-prefixed messages from the DATA frames of one
 * stream. A message inside one frame is handed over in place; one spanning frames is
 * copied into a buffer of exactly its size, allocated once its prefix is known.
 */
export class MessageReader {
  /** messages counts the messages handed over. */
  messages = 0;
  private readonly prefix = Buffer.alloc(5);
  private prefixHave = 0;
  private msg: Buffer | undefined;
  private msgHave = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly deliver: (buf: Buffer, start: number, end: number) => void,
  ) {}

  /** push consumes b[p, e); it throws "h2: ..." on a compressed or oversized message. */
  push(b: Buffer, p: number, e: number): void {
    while (p < e) {
      const msg = this.msg;
      if (msg !== undefined) {
        const n = Math.min(msg.length - this.msgHave, e - p);
        b.copy(msg, this.msgHave, p, p + n);
        this.msgHave += n;
        p += n;
        if (this.msgHave === msg.length) {
          this.msg = undefined;
          this.messages++;
          this.deliver(msg, 0, msg.length);
        }
        continue;
      }
      let flag: number;
      let len: number;
      if (this.prefixHave === 0 && e - p >= 5) {
        flag = b[p]!;
        len = b.readUInt32BE(p + 1);
        p += 5;
      } else {
        const n = Math.min(5 - this.prefixHave, e - p);
        b.copy(this.prefix, this.prefixHave, p, p + n);
        this.prefixHave += n;
        p += n;
        if (this.prefixHave < 5) return;
        this.prefixHave = 0;
        flag = this.prefix[0]!;
        len = this.prefix.readUInt32BE(1);
      }
      if (flag !== 0) throw new Error("h2: received a compressed message (none was offered)");
      if (len > this.maxMessageBytes) {
        throw new Error(`h2: received a message of ${len} bytes, above the limit of ${this.maxMessageBytes}`);
      }
      if (e - p >= len) {
        this.messages++;
        this.deliver(b, p, p + len);
        p += len;
        continue;
      }
      this.msg = Buffer.allocUnsafe(len);
      this.msgHave = 0;
    }
  }

  /** partial is true while a message has begun and not ended. */
  get partial(): boolean {
    return this.msg !== undefined || this.prefixHave > 0;
  }
}

/** StreamState is one open streaming call. */
interface StreamState {
  handle: H2Stream;
  handler: H2StreamHandler;
  reader: MessageReader;
  /** sendWindow is the stream's flow-control send window. */
  sendWindow: number;
  /** out holds framed messages not yet sent; outOff is how much of out[0] has gone. */
  out: Buffer[];
  outOff: number;
  queuedBytes: number;
  /** recvConsumed counts received DATA bytes not yet returned with a WINDOW_UPDATE. */
  recvConsumed: number;
  endOnHeaders: boolean;
}

/**
 * H2Connection is one HTTP/2 connection carrying gRPC unary calls. Create it with
 * H2Connection.connect; unary() may be called any number of times concurrently.
 */
export class H2Connection {
  private readonly calls = new Map<number, Call>();
  private readonly streams = new Map<number, StreamState>();
  private readonly queue: Queued[] = [];
  private out: Buffer[] = [];
  private flushScheduled = false;
  private nextStream = 1;
  private inbuf: Buffer = Buffer.alloc(0);
  private sendWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16384;
  private peerMaxStreams = Infinity;
  private recvConsumed = 0;
  /** headersStream is the stream whose header block is continuing (0 if none). */
  private headersStream = 0;
  /** dead is set once no new call may start (GOAWAY, error, close). */
  private dead: Error | undefined;
  /** destroyed is set once the socket is gone and every call has been failed. */
  private destroyed = false;
  private gotSettings = false;
  private onSettings: (() => void) | undefined;
  private readonly sweep: NodeJS.Timeout;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
    private readonly maxMessageBytes: number,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.kill(new Error(`h2: connection error: ${err.message}`)));
    socket.on("close", () => this.kill(new Error("h2: connection closed")));
    this.sweep = setInterval(() => this.expire(), Math.min(1000, Math.max(50, timeoutMs / 4)));
    this.sweep.unref();
  }

  /**
   * connect opens a connection to host:port and resolves once the server's SETTINGS
   * arrived. timeoutMs bounds the connect and is each call's deadline afterwards.
   */
  static connect(
    host: string,
    port: number,
    timeoutMs: number,
    maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
  ): Promise<H2Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const c = new H2Connection(socket, timeoutMs, maxMessageBytes);
      const timer = setTimeout(() => {
        c.close();
        reject(new Error(`h2: no HTTP/2 answer from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      c.onSettings = () => {
        clearTimeout(timer);
        resolve(c);
      };
      socket.once("connect", () => c.start());
      socket.once("close", () => {
        clearTimeout(timer);
        if (!c.gotSettings) reject(c.dead ?? new Error(`h2: could not connect to ${host}:${port}`));
      });
    });
  }

  /** outstanding is the number of calls sent or queued and not yet completed. */
  get outstanding(): number {
    return this.calls.size + this.queue.length;
  }

  /**
   * unary sends one call: headerBlock from requestHeaderBlock, payload from grpcFrame.
   * cb is called exactly once, asynchronously.
   */
  unary(headerBlock: Buffer, payload: Buffer, cb: H2Callback): void {
    this.startCall(headerBlock, payload, cb, undefined);
  }

  /**
   * call is unary() that also hands back the response message (prefix removed, at most
   * maxMessageBytes). cb is called exactly once, asynchronously.
   */
  call(headerBlock: Buffer, payload: Buffer, cb: H2ResponseCallback): void {
    const chunks: Buffer[] = [];
    this.startCall(
      headerBlock,
      payload,
      (err) => {
        if (err !== null) return cb(err, undefined);
        let res: Buffer;
        try {
          res = unframe(chunks, this.maxMessageBytes);
        } catch (e) {
          return cb(e instanceof Error ? e : new Error(String(e)), undefined);
        }
        cb(null, res);
      },
      chunks,
    );
  }

  /**
   * openStream starts a streaming call with the request headers headerBlock (from
   * requestHeaderBlock) and no message yet; handler receives what comes back. Streaming
   * calls have no deadline. Fails (handler.onEnd, asynchronously) on a dead connection.
   */
  openStream(headerBlock: Buffer, handler: H2StreamHandler): H2Stream {
    const id = this.nextStream;
    const conn = this;
    const st: StreamState = {
      handle: {
        id,
        send: (payload: Buffer) => conn.streamSend(st, payload),
        get queuedBytes() {
          return st.queuedBytes;
        },
        cancel: () => conn.streamCancel(st),
      },
      handler,
      reader: new MessageReader(this.maxMessageBytes, (b, p, e) => {
        if (conn.streams.get(id) === st) handler.onMessage(b, p, e);
      }),
      sendWindow: this.peerInitialWindow,
      out: [],
      outOff: 0,
      queuedBytes: 0,
      recvConsumed: 0,
      endOnHeaders: false,
    };
    const refuse = (err: Error): H2Stream => {
      queueMicrotask(() => handler.onEnd(err, 0));
      return st.handle;
    };
    if (this.dead !== undefined) return refuse(this.dead);
    if (id > MAX_STREAM_ID) return refuse(new Error("h2: stream IDs exhausted on this connection"));
    if (headerBlock.length > this.peerMaxFrame) return refuse(new Error("h2: request headers exceed the peer's frame size"));
    if (this.calls.size + this.streams.size >= this.peerMaxStreams) {
      return refuse(new Error(`h2: the server allows only ${this.peerMaxStreams} concurrent streams`));
    }
    this.nextStream += 2;
    this.streams.set(id, st);
    this.write(frame(FRAME_HEADERS, FLAG_END_HEADERS, id, headerBlock));
    return st.handle;
  }

  /** close fails every outstanding call and closes the socket. */
  close(): void {
    this.kill(new Error("h2: connection closed by client"));
  }

  private start(): void {
    const settings = Buffer.alloc(18);
    settings.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(MAX_WINDOW, 8);
    settings.writeUInt16BE(SETTINGS_HEADER_TABLE_SIZE, 12);
    settings.writeUInt32BE(4096, 14);
    const wu = Buffer.alloc(4);
    wu.writeUInt32BE(MAX_WINDOW - DEFAULT_WINDOW, 0);
    this.socket.write(Buffer.concat([PREFACE, frame(FRAME_SETTINGS, 0, 0, settings), frame(FRAME_WINDOW_UPDATE, 0, 0, wu)]));
  }

  private startCall(headerBlock: Buffer, payload: Buffer, cb: H2Callback, chunks: Buffer[] | undefined): void {
    if (this.dead !== undefined) {
      const err = this.dead;
      queueMicrotask(() => cb(err));
      return;
    }
    if (payload.length > this.peerMaxFrame || payload.length > this.peerInitialWindow) {
      queueMicrotask(() => cb(new Error(`h2: message of ${payload.length} bytes exceeds the peer's frame or window size`)));
      return;
    }
    if (this.queue.length > 0 || payload.length > this.sendWindow || this.calls.size + this.streams.size >= this.peerMaxStreams) {
      this.queue.push({ headerBlock, payload, cb, chunks });
      return;
    }
    this.send(headerBlock, payload, cb, chunks);
  }

  private streamSend(st: StreamState, payload: Buffer): void {
    if (this.streams.get(st.handle.id) !== st) return; // ended or cancelled: dropped
    st.out.push(payload);
    st.queuedBytes += payload.length;
    this.pumpStream(st);
  }

  /** pumpStream sends as much of a stream's queued messages as the windows allow. */
  private pumpStream(st: StreamState): void {
    const id = st.handle.id;
    while (st.out.length > 0 && this.dead === undefined) {
      const head = st.out[0]!;
      const left = head.length - st.outOff;
      const n = Math.min(left, this.peerMaxFrame, this.sendWindow, st.sendWindow);
      if (n <= 0 && left > 0) return;
      const b = Buffer.allocUnsafe(9 + n);
      frameHeader(b, 0, n, FRAME_DATA, 0, id);
      head.copy(b, 9, st.outOff, st.outOff + n);
      this.write(b);
      this.sendWindow -= n;
      st.sendWindow -= n;
      st.queuedBytes -= n;
      st.outOff += n;
      if (st.outOff === head.length) {
        st.out.shift();
        st.outOff = 0;
      }
    }
  }

  private streamCancel(st: StreamState): void {
    const id = st.handle.id;
    if (this.streams.get(id) !== st) return;
    this.streams.delete(id);
    st.out = [];
    st.queuedBytes = 0;
    if (this.destroyed) return;
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(RST_CANCEL, 0);
    this.write(frame(FRAME_RST_STREAM, 0, id, rst));
    if (this.queue.length > 0) this.drainQueue();
  }

  /** endStreamCall removes an open streaming call and tells its handler why it ended. */
  private endStreamCall(id: number, err: Error): void {
    const st = this.streams.get(id);
    if (st === undefined) return;
    this.streams.delete(id);
    st.out = [];
    st.queuedBytes = 0;
    st.handler.onEnd(err, st.reader.messages);
    if (this.queue.length > 0) this.drainQueue();
  }

  private send(headerBlock: Buffer, payload: Buffer, cb: H2Callback, chunks: Buffer[] | undefined): void {
    const id = this.nextStream;
    if (id > MAX_STREAM_ID) {
      queueMicrotask(() => cb(new Error("h2: stream IDs exhausted on this connection")));
      return;
    }
    this.nextStream += 2;
    const b = Buffer.allocUnsafe(18 + headerBlock.length + payload.length);
    frameHeader(b, 0, headerBlock.length, FRAME_HEADERS, FLAG_END_HEADERS, id);
    headerBlock.copy(b, 9);
    const d = 9 + headerBlock.length;
    frameHeader(b, d, payload.length, FRAME_DATA, FLAG_END_STREAM, id);
    payload.copy(b, d + 9);
    this.sendWindow -= payload.length;
    this.calls.set(id, { cb, sentAt: Date.now(), dataBytes: 0, endOnHeaders: false, chunks });
    this.write(b);
  }

  private write(b: Buffer): void {
    this.out.push(b);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.destroyed || this.out.length === 0) {
      this.out = [];
      return;
    }
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    this.socket.write(data);
  }

  private drainQueue(): void {
    while (this.queue.length > 0 && this.dead === undefined) {
      const q = this.queue[0]!;
      if (q.payload.length > this.sendWindow || this.calls.size + this.streams.size >= this.peerMaxStreams) return;
      this.queue.shift();
      this.send(q.headerBlock, q.payload, q.cb, q.chunks);
    }
  }

  private finish(id: number, err: Error | null): void {
    const call = this.calls.get(id);
    if (call === undefined) return;
    this.calls.delete(id);
    call.cb(err);
    if (this.queue.length > 0) this.drainQueue();
  }

  /** endStream completes a call whose stream the server ended. */
  private endStream(id: number): void {
    const st = this.streams.get(id);
    if (st !== undefined) {
      this.endStreamCall(
        id,
        new Error(`h2: server ended the stream after ${st.reader.messages} messages (gRPC status not decoded)`),
      );
      return;
    }
    const call = this.calls.get(id);
    if (call === undefined) return;
    this.finish(id, call.dataBytes >= 5 ? null : new Error("h2: server answered without a message (gRPC error status)"));
  }

  private onData(chunk: Buffer): void {
    const buf = this.inbuf.length === 0 ? chunk : Buffer.concat([this.inbuf, chunk]);
    let off = 0;
    while (buf.length - off >= 9 && !this.destroyed) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (buf.length - off < 9 + len) break;
      const type = buf[off + 3]!;
      const flags = buf[off + 4]!;
      const stream = buf.readUInt32BE(off + 5) & MAX_STREAM_ID;
      this.onFrame(type, flags, stream, buf, off + 9, len);
      off += 9 + len;
    }
    if (this.destroyed) return;
    // Copy a partial frame out of a consumed chunk so the chunk can be collected.
    this.inbuf = off === 0 ? buf : off === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
  }

  private onFrame(type: number, flags: number, stream: number, b: Buffer, p: number, len: number): void {
    if (this.headersStream !== 0 && type !== FRAME_CONTINUATION) {
      this.kill(new Error("h2: protocol error: header block interrupted"));
      return;
    }
    switch (type) {
      case FRAME_DATA: {
        const pad = flags & FLAG_PADDED ? b[p]! + 1 : 0;
        this.recvConsumed += len;
        if (this.recvConsumed >= 1 << 30) {
          this.windowUpdate(0, this.recvConsumed);
          this.recvConsumed = 0;
        }
        const st = this.streams.get(stream);
        if (st !== undefined) {
          this.streamData(st, b, p + (pad > 0 ? 1 : 0), p + len - pad, len, flags);
          return;
        }
        const call = this.calls.get(stream);
        if (call !== undefined) {
          call.dataBytes += len - pad;
          if (call.chunks !== undefined && len - pad > 0) {
            if (call.dataBytes > this.maxMessageBytes + 5) {
              this.finish(stream, new Error(`h2: response above the limit of ${this.maxMessageBytes} bytes`));
              this.resetStream(stream);
              return;
            }
            call.chunks.push(Buffer.from(b.subarray(p + (pad > 0 ? 1 : 0), p + len - pad)));
          }
        }
        if (flags & FLAG_END_STREAM) this.finish(stream, new Error("h2: stream ended without trailers"));
        return;
      }
      case FRAME_HEADERS: {
        if ((flags & FLAG_END_HEADERS) === 0) {
          this.headersStream = stream;
          const call = this.calls.get(stream);
          if (call !== undefined) call.endOnHeaders = (flags & FLAG_END_STREAM) !== 0;
          const st = this.streams.get(stream);
          if (st !== undefined) st.endOnHeaders = (flags & FLAG_END_STREAM) !== 0;
          return;
        }
        if (flags & FLAG_END_STREAM) this.endStream(stream);
        return;
      }
      case FRAME_CONTINUATION: {
        if (stream !== this.headersStream) {
          this.kill(new Error("h2: protocol error: unexpected CONTINUATION"));
          return;
        }
        if (flags & FLAG_END_HEADERS) {
          this.headersStream = 0;
          const call = this.calls.get(stream);
          if (call !== undefined && call.endOnHeaders) this.endStream(stream);
          const st = this.streams.get(stream);
          if (st !== undefined && st.endOnHeaders) this.endStream(stream);
        }
        return;
      }
      case FRAME_RST_STREAM: {
        const err = new Error(`h2: stream reset by server (code ${len >= 4 ? b.readUInt32BE(p) : -1})`);
        this.finish(stream, err);
        this.endStreamCall(stream, err);
        return;
      }
      case FRAME_SETTINGS:
        if (flags & FLAG_ACK) return;
        this.applySettings(b, p, len);
        // The ACK goes out now, not at the end of the turn: the first SETTINGS resolves
        // connect(), and a caller busy right after it (the defrag workload encodes its
        // requests) would hold the ACK back; a server may drop a client that does not
        // acknowledge in time (etcd-ts's client listener waits 5 s).
        this.write(frame(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
        this.flush();
        if (!this.gotSettings) {
          this.gotSettings = true;
          this.onSettings?.();
        }
        return;
      case FRAME_PING:
        if ((flags & FLAG_ACK) === 0) this.write(frame(FRAME_PING, FLAG_ACK, 0, Buffer.from(b.subarray(p, p + len))));
        return;
      case FRAME_GOAWAY: {
        const last = len >= 8 ? b.readUInt32BE(p) & MAX_STREAM_ID : 0;
        const code = len >= 8 ? b.readUInt32BE(p + 4) : -1;
        const err = new Error(`h2: server sent GOAWAY (code ${code})`);
        for (const id of [...this.calls.keys()]) if (id > last) this.finish(id, err);
        for (const id of [...this.streams.keys()]) if (id > last) this.endStreamCall(id, err);
        this.dead = err;
        for (const q of this.queue.splice(0)) queueMicrotask(() => q.cb(err));
        return;
      }
      case FRAME_WINDOW_UPDATE: {
        if (len < 4) return;
        const inc = b.readUInt32BE(p) & MAX_WINDOW;
        if (stream === 0) {
          this.sendWindow += inc;
          this.drainQueue();
          for (const st of this.streams.values()) if (st.out.length > 0) this.pumpStream(st);
          return;
        }
        const st = this.streams.get(stream);
        if (st !== undefined) {
          st.sendWindow += inc;
          this.pumpStream(st);
        }
        return;
      }
      default:
        return; // PRIORITY, PUSH_PROMISE (disabled) and unknown frames are ignored
    }
  }

  private applySettings(b: Buffer, p: number, len: number): void {
    for (let i = p; i + 6 <= p + len; i += 6) {
      const id = b.readUInt16BE(i);
      const v = b.readUInt32BE(i + 2);
      if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
        // RFC 7540 6.9.2: a change applies to the send window of every open stream.
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const st of this.streams.values()) {
          st.sendWindow += delta;
          if (delta > 0 && st.out.length > 0) this.pumpStream(st);
        }
      }
      else if (id === SETTINGS_MAX_FRAME_SIZE) this.peerMaxFrame = v;
      else if (id === SETTINGS_MAX_CONCURRENT_STREAMS) this.peerMaxStreams = v;
    }
  }

  /** streamData hands a streaming call's DATA payload b[p, e) (frame length len) to its reader. */
  private streamData(st: StreamState, b: Buffer, p: number, e: number, len: number, flags: number): void {
    const id = st.handle.id;
    try {
      st.reader.push(b, p, e);
    } catch (err) {
      this.resetStream(id);
      this.endStreamCall(id, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.streams.get(id) !== st) return; // the handler cancelled it
    if (flags & FLAG_END_STREAM) {
      this.endStreamCall(id, new Error("h2: stream ended without trailers"));
      return;
    }
    st.recvConsumed += len;
    if (st.recvConsumed >= 1 << 30) {
      this.windowUpdate(id, st.recvConsumed);
      st.recvConsumed = 0;
    }
  }

  private resetStream(id: number): void {
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(RST_CANCEL, 0);
    this.write(frame(FRAME_RST_STREAM, 0, id, rst));
  }

  private windowUpdate(stream: number, inc: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(inc, 0);
    this.write(frame(FRAME_WINDOW_UPDATE, 0, stream, b));
  }

  /** expire fails calls older than the deadline and resets their streams. */
  private expire(): void {
    const limit = Date.now() - this.timeoutMs;
    for (const [id, call] of this.calls) {
      if (call.sentAt > limit) continue;
      const rst = Buffer.alloc(4);
      rst.writeUInt32BE(RST_CANCEL, 0);
      this.write(frame(FRAME_RST_STREAM, 0, id, rst));
      this.finish(id, new Error(`h2: deadline of ${this.timeoutMs} ms exceeded`));
    }
  }

  private kill(err: Error): void {
    if (this.dead === undefined) this.dead = err;
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.sweep);
    const calls = [...this.calls.values()];
    this.calls.clear();
    const streams = [...this.streams.values()];
    this.streams.clear();
    const queued = this.queue.splice(0);
    this.out = [];
    this.socket.destroy();
    for (const c of calls) queueMicrotask(() => c.cb(this.dead!));
    for (const q of queued) queueMicrotask(() => q.cb(this.dead!));
    for (const st of streams) queueMicrotask(() => st.handler.onEnd(this.dead!, st.reader.messages));
  }
}
