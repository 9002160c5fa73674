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
 * frames alone and a failure carries no gRPC status text.
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
 * be reused for every request.
 */
export function requestHeaderBlock(path: string, authority: string): Buffer {
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
}

/** Queued is a request waiting for connection send window. */
interface Queued {
  headerBlock: Buffer;
  payload: Buffer;
  cb: H2Callback;
}

/**
 * H2Connection is one HTTP/2 connection carrying gRPC unary calls. Create it with
 * H2Connection.connect; unary() may be called any number of times concurrently.
 */
export class H2Connection {
  private readonly calls = new Map<number, Call>();
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
  static connect(host: string, port: number, timeoutMs: number): Promise<H2Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const c = new H2Connection(socket, timeoutMs);
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
    if (this.dead !== undefined) {
      const err = this.dead;
      queueMicrotask(() => cb(err));
      return;
    }
    if (payload.length > this.peerMaxFrame || payload.length > this.peerInitialWindow) {
      queueMicrotask(() => cb(new Error(`h2: message of ${payload.length} bytes exceeds the peer's frame or window size`)));
      return;
    }
    if (this.queue.length > 0 || payload.length > this.sendWindow || this.calls.size >= this.peerMaxStreams) {
      this.queue.push({ headerBlock, payload, cb });
      return;
    }
    this.send(headerBlock, payload, cb);
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

  private send(headerBlock: Buffer, payload: Buffer, cb: H2Callback): void {
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
    this.calls.set(id, { cb, sentAt: Date.now(), dataBytes: 0, endOnHeaders: false });
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
      if (q.payload.length > this.sendWindow || this.calls.size >= this.peerMaxStreams) return;
      this.queue.shift();
      this.send(q.headerBlock, q.payload, q.cb);
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
        const call = this.calls.get(stream);
        if (call !== undefined) call.dataBytes += len - pad;
        if (flags & FLAG_END_STREAM) this.finish(stream, new Error("h2: stream ended without trailers"));
        return;
      }
      case FRAME_HEADERS: {
        if ((flags & FLAG_END_HEADERS) === 0) {
          this.headersStream = stream;
          const call = this.calls.get(stream);
          if (call !== undefined) call.endOnHeaders = (flags & FLAG_END_STREAM) !== 0;
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
        }
        return;
      }
      case FRAME_RST_STREAM:
        this.finish(stream, new Error(`h2: stream reset by server (code ${len >= 4 ? b.readUInt32BE(p) : -1})`));
        return;
      case FRAME_SETTINGS:
        if (flags & FLAG_ACK) return;
        this.applySettings(b, p, len);
        this.write(frame(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
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
      if (id === SETTINGS_INITIAL_WINDOW_SIZE) this.peerInitialWindow = v;
      else if (id === SETTINGS_MAX_FRAME_SIZE) this.peerMaxFrame = v;
      else if (id === SETTINGS_MAX_CONCURRENT_STREAMS) this.peerMaxStreams = v;
    }
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
    const queued = this.queue.splice(0);
    this.out = [];
    this.socket.destroy();
    for (const c of calls) queueMicrotask(() => c.cb(this.dead!));
    for (const q of queued) queueMicrotask(() => q.cb(this.dead!));
  }
}
