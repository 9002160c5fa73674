/**
 * Protocol-level tests of H2Connection: a raw TCP client (node:net) writes hand-built frames and
 * parses the frames the server writes back. The wire constants are written out here from RFC 7540
 * (not imported from frames.ts), so a wrong constant or encoder in the server fails these tests.
 *
 * The client's main synchronisation tool is sync(): it sends a PING and returns every frame the
 * server wrote before the PING's ACK. The server handles frames in order and writes its output in
 * order, so sync() returns exactly what the server wrote in answer to everything sent before it,
 * which lets a test assert that nothing else (no DATA, no WINDOW_UPDATE) was written, without sleeps.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { H2Connection, type H2ConnectionOptions } from "./connection.js";
import { HpackEncoder } from "./hpack.js";
import type { H2Stream, StreamHandler } from "./stream.js";

// ---- RFC 7540 wire constants ----

const T = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;
const TYPE_NAMES = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k])) as Record<number, string>;
const F = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
const S = { HEADER_TABLE_SIZE: 0x1, ENABLE_PUSH: 0x2, MAX_CONCURRENT_STREAMS: 0x3, INITIAL_WINDOW_SIZE: 0x4, MAX_FRAME_SIZE: 0x5 } as const;
const E = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
} as const;
const ERROR_NAMES = Object.fromEntries(Object.entries(E).map(([k, v]) => [v, k])) as Record<number, string>;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

// ---- frame building and parsing ----

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

function frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function settingsFrame(pairs: readonly (readonly [number, number])[]): Buffer {
  const p = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([k, v], i) => {
    p.writeUInt16BE(k, 6 * i);
    p.writeUInt32BE(v >>> 0, 6 * i + 2);
  });
  return frame(T.SETTINGS, 0, 0, p);
}

const windowUpdate = (id: number, inc: number): Buffer => frame(T.WINDOW_UPDATE, 0, id, u32(inc));
const rstStream = (id: number, code: number): Buffer => frame(T.RST_STREAM, 0, id, u32(code));
const ping = (payload: Buffer, ack = false): Buffer => frame(T.PING, ack ? F.ACK : 0, 0, payload);

/** headers builds a HEADERS frame; endHeaders false leaves the block open for CONTINUATION. */
function headers(id: number, block: Buffer, o: { end?: boolean; endHeaders?: boolean } = {}): Buffer {
  const flags = (o.end === true ? F.END_STREAM : 0) | (o.endHeaders === false ? 0 : F.END_HEADERS);
  return frame(T.HEADERS, flags, id, block);
}

function data(id: number, payload: Buffer, end = false): Buffer {
  return frame(T.DATA, end ? F.END_STREAM : 0, id, payload);
}

/** grpcMessage adds gRPC's 5-byte prefix (uncompressed, 32-bit length). */
function grpcMessage(payload: Buffer | string): Buffer {
  const p = typeof payload === "string" ? Buffer.from(payload) : payload;
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(p.length, 1);
  return Buffer.concat([prefix, p]);
}

/** filled returns n bytes: byte i is (seed + i) & 0xff. */
function filled(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i) & 0xff;
  return b;
}

const REQUEST: [string, string][] = [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/x"],
  [":authority", "a"],
  ["content-type", "application/grpc"],
];
/** requestBlock encodes the standard request's header block (plus extra fields, or other fields). */
function requestBlock(extra: [string, string][] = [], fields: [string, string][] = REQUEST): Buffer {
  return new HpackEncoder().encode([...fields, ...extra]);
}
const RESP_HEADERS = new HpackEncoder().encode([
  [":status", "200"],
  ["content-type", "application/grpc"],
]);
const TRAILERS = new HpackEncoder().encode([["grpc-status", "0"]]);
const REPLY_PAYLOAD = Buffer.from("ok");

function flagNames(type: number, flags: number): string {
  const names: string[] = [];
  let rest = flags;
  const take = (bit: number, name: string): void => {
    if ((rest & bit) !== 0) {
      names.push(name);
      rest &= ~bit;
    }
  };
  if (type === T.SETTINGS || type === T.PING) take(F.ACK, "ACK");
  if (type === T.DATA || type === T.HEADERS) take(F.END_STREAM, "ES");
  if (type === T.HEADERS || type === T.CONTINUATION) take(F.END_HEADERS, "EH");
  if (type === T.DATA || type === T.HEADERS) take(F.PADDED, "PAD");
  if (type === T.HEADERS) take(F.PRIORITY, "PRI");
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.join("|");
}

/** fmt renders a frame as a compact exact string, e.g. "DATA s1 10 ES", "WINDOW_UPDATE s0 +16384", "GOAWAY last=3 PROTOCOL_ERROR". */
function fmt(f: Frame): string {
  const fl = flagNames(f.type, f.flags);
  const sid = (connectionLevel: boolean): string => (connectionLevel && f.id === 0 ? "" : ` s${f.id}`);
  const p = f.payload;
  switch (f.type) {
    case T.DATA:
      return `DATA s${f.id} ${p.length}${fl ? ` ${fl}` : ""}`;
    case T.HEADERS:
      return `HEADERS s${f.id}${fl ? ` ${fl}` : ""}`;
    case T.CONTINUATION:
      return `CONTINUATION s${f.id} ${p.length}${fl ? ` ${fl}` : ""}`;
    case T.SETTINGS: {
      if (fl === "ACK" && p.length === 0) return `SETTINGS${sid(true)} ACK`;
      const pairs: string[] = [];
      for (let at = 0; at + 6 <= p.length; at += 6) pairs.push(`${p.readUInt16BE(at)}=${p.readUInt32BE(at + 2)}`);
      pairs.sort();
      return `SETTINGS${sid(true)}${fl ? ` ${fl}` : ""}${p.length % 6 === 0 ? "" : ` len=${p.length}`} ${pairs.join(" ")}`.trimEnd();
    }
    case T.WINDOW_UPDATE:
      return p.length === 4 ? `WINDOW_UPDATE s${f.id} +${p.readUInt32BE(0)}` : `WINDOW_UPDATE s${f.id} len=${p.length}`;
    case T.RST_STREAM:
      return p.length === 4 ? `RST_STREAM s${f.id} ${ERROR_NAMES[p.readUInt32BE(0)] ?? p.readUInt32BE(0)}` : `RST_STREAM s${f.id} len=${p.length}`;
    case T.GOAWAY:
      return `GOAWAY${sid(true)} last=${p.readUInt32BE(0)} ${ERROR_NAMES[p.readUInt32BE(4)] ?? p.readUInt32BE(4)}`;
    case T.PING:
      return `PING${sid(true)}${fl ? ` ${fl}` : ""} ${p.toString("hex")}`;
    default:
      return `${TYPE_NAMES[f.type] ?? `TYPE${f.type}`} s${f.id} flags=${f.flags} len=${p.length}`;
  }
}

// ---- waiting ----

async function until<R>(check: () => R | undefined | false, what: string, ms = 2000): Promise<R> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = check();
    if (r !== undefined && r !== false) return r;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

// ---- the raw client ----

class TestClient {
  /** frames: received frames not yet taken by next/take/sync/drain. */
  readonly frames: Frame[] = [];
  /** received: every frame received, in order. */
  readonly received: Frame[] = [];
  closed = false;
  private inbuf: Buffer = Buffer.alloc(0);
  private waiters = new Set<() => void>();
  private syncSeq = 0;

  constructor(readonly sock: net.Socket) {
    sock.on("data", (chunk: Buffer) => {
      this.inbuf = this.inbuf.length === 0 ? chunk : Buffer.concat([this.inbuf, chunk]);
      let at = 0;
      while (this.inbuf.length - at >= 9) {
        const len = this.inbuf.readUIntBE(at, 3);
        if (this.inbuf.length - at < 9 + len) break;
        const f: Frame = {
          type: this.inbuf[at + 3]!,
          flags: this.inbuf[at + 4]!,
          id: this.inbuf.readUInt32BE(at + 5) & 0x7fff_ffff,
          payload: Buffer.from(this.inbuf.subarray(at + 9, at + 9 + len)),
        };
        this.frames.push(f);
        this.received.push(f);
        at += 9 + len;
      }
      this.inbuf = this.inbuf.subarray(at);
      this.notify();
    });
    sock.on("close", () => {
      this.closed = true;
      this.notify();
    });
    sock.on("error", () => {});
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** waitFor resolves with check()'s first defined result, re-checked on every received chunk and at close. */
  waitFor<R>(check: () => R | undefined, what: string, ms = 2000): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const attempt = (): void => {
        const r = check();
        if (r === undefined) return;
        this.waiters.delete(attempt);
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(attempt);
        reject(new Error(`timed out waiting for ${what}; queued: ${JSON.stringify(this.frames.map(fmt))}, closed=${this.closed}`));
      }, ms);
      this.waiters.add(attempt);
      attempt();
    });
  }

  send(...bufs: Buffer[]): void {
    this.sock.write(Buffer.concat(bufs));
  }

  /** next takes the next frame (of the given type, when given: frames before it are an error). */
  next(type?: number, ms = 2000): Promise<Frame> {
    return this.waitFor(
      () => {
        const f = this.frames[0];
        if (f === undefined) {
          if (this.closed) throw new Error("connection closed");
          return undefined;
        }
        if (type !== undefined && f.type !== type) throw new Error(`expected ${TYPE_NAMES[type]}, got ${fmt(f)}`);
        this.frames.shift();
        return f;
      },
      `next frame${type === undefined ? "" : ` of type ${TYPE_NAMES[type]}`}`,
      ms,
    );
  }

  /** nextN takes the next n frames. */
  async nextN(n: number, ms = 2000): Promise<Frame[]> {
    await this.waitFor(() => (this.frames.length >= n ? true : undefined), `${n} frames`, ms);
    return this.frames.splice(0, n);
  }

  /** drain takes every queued frame. */
  drain(): Frame[] {
    return this.frames.splice(0);
  }

  /** sync sends a PING and returns the frames the server wrote before its ACK (everything it wrote in answer to what was sent before). */
  async sync(ms = 2000): Promise<Frame[]> {
    const payload = Buffer.from(`sync${String(++this.syncSeq).padStart(4, "0")}`, "latin1");
    this.send(ping(payload));
    return this.waitFor(
      () => {
        const i = this.frames.findIndex((f) => f.type === T.PING && f.flags === F.ACK && f.payload.equals(payload));
        if (i < 0) return undefined;
        const before = this.frames.splice(0, i + 1);
        before.pop();
        return before;
      },
      "sync PING ACK",
      ms,
    );
  }

  /** syncFmt is sync() with the frames rendered by fmt. */
  async syncFmt(ms = 2000): Promise<string[]> {
    return (await this.sync(ms)).map(fmt);
  }

  waitClosed(ms = 2000): Promise<true> {
    return this.waitFor(() => (this.closed ? true : undefined), "connection close", ms);
  }
}

// ---- the server side ----

/** Recorder is a StreamHandler that records what happens on its stream. */
class Recorder implements StreamHandler {
  readonly events: string[] = [];
  readonly chunks: Buffer[] = [];
  readonly sendResults: boolean[] = [];
  closes = 0;
  drains = 0;
  ends = 0;
  keepData = true;
  /** autoReply: on the end of the request, reply with RESP_HEADERS, REPLY_PAYLOAD and TRAILERS. */
  autoReply = true;
  onData: ((chunk: Buffer) => void) | undefined;
  onEnd: (() => void) | undefined;
  onDrain: (() => void) | undefined;

  constructor(readonly stream: H2Stream) {}

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  onStreamData(chunk: Buffer): void {
    if (this.closes > 0) this.events.push("data-after-close");
    this.events.push(`data:${chunk.length}`);
    if (this.keepData) this.chunks.push(Buffer.from(chunk));
    this.onData?.(chunk);
  }

  onStreamEnd(): void {
    if (this.closes > 0) this.events.push("end-after-close");
    this.ends++;
    this.events.push("end");
    this.onEnd?.();
    if (this.autoReply) this.stream.reply(RESP_HEADERS, REPLY_PAYLOAD, TRAILERS);
  }

  onStreamClose(): void {
    this.closes++;
    this.events.push("close");
  }

  onStreamDrain(): void {
    if (this.closes > 0) this.events.push("drain-after-close");
    this.drains++;
    this.events.push("drain");
    this.onDrain?.();
  }
}

interface OpenOptions {
  options?: Partial<Omit<H2ConnectionOptions, "onStream" | "onPing" | "onClose">>;
  /** setup runs in onStream after the recorder is installed. */
  setup?: (r: Recorder) => void;
  /** settings: the client's SETTINGS in the handshake. */
  settings?: [number, number][];
  /** handshake: send the preface and SETTINGS, and take the server's first frames (default true). */
  handshake?: boolean;
  allowHalfOpen?: boolean;
}

interface Harness {
  client: TestClient;
  server: net.Server;
  /** handshakeFrames: what the server wrote before the handshake's sync (SETTINGS, WINDOW_UPDATE, SETTINGS ACK). */
  handshakeFrames: string[];
  conn(): H2Connection;
  recs: Map<number, Recorder>;
  rec(id: number): Recorder;
  waitStream(id: number): Promise<Recorder>;
  /** writes: the buffers the server handed to socket.write, in order. */
  writes: Buffer[];
  pings: { count: number };
  connClosed: { count: number };
}

const DEFAULTS: Omit<H2ConnectionOptions, "onStream"> = {
  maxConcurrentStreams: 100,
  streamWindow: 65_535,
  connectionWindow: 65_535,
  maxHeaderListBytes: 16_384,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function open(o: OpenOptions = {}): Promise<Harness> {
  const recs = new Map<number, Recorder>();
  const writes: Buffer[] = [];
  const pings = { count: 0 };
  const connClosed = { count: 0 };
  let conn: H2Connection | undefined;
  const server = net.createServer((sock) => {
    const orig = sock.write.bind(sock) as (chunk: Buffer) => boolean;
    (sock as unknown as { write: (chunk: Buffer) => boolean }).write = (chunk: Buffer) => {
      writes.push(chunk);
      return orig(chunk);
    };
    conn = new H2Connection(sock, {
      ...DEFAULTS,
      ...o.options,
      onStream: (stream) => {
        const r = new Recorder(stream);
        stream.handler = r;
        recs.set(stream.id, r);
        o.setup?.(r);
      },
      onPing: () => pings.count++,
      onClose: () => connClosed.count++,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const sock = net.connect({ port, host: "127.0.0.1", allowHalfOpen: o.allowHalfOpen ?? false });
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  sock.setNoDelay(true);
  const client = new TestClient(sock);
  cleanups.push(async () => {
    sock.destroy();
    conn?.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await until(() => conn !== undefined, "server connection");
  const h: Harness = {
    client,
    server,
    handshakeFrames: [],
    conn: () => conn!,
    recs,
    rec: (id) => {
      const r = recs.get(id);
      if (r === undefined) throw new Error(`no stream ${id}`);
      return r;
    },
    waitStream: (id) => until(() => recs.get(id), `stream ${id}`),
    writes,
    pings,
    connClosed,
  };
  if (o.handshake !== false) {
    client.send(PREFACE, settingsFrame(o.settings ?? []));
    h.handshakeFrames = await client.syncFmt();
    client.send(frame(T.SETTINGS, F.ACK, 0));
  }
  return h;
}

/** unaryFrames are the frames of an autoReply on stream id (fast path: within the windows). */
const unaryFrames = (id: number): string[] => [`HEADERS s${id} EH`, `DATA s${id} ${5 + REPLY_PAYLOAD.length}`, `HEADERS s${id} ES|EH`];

// ---- the tests ----

describe("H2Connection: connection start", () => {
  it("sends SETTINGS (MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE) and a connection WINDOW_UPDATE first, then ACKs the client's SETTINGS", async () => {
    const h = await open({
      options: { maxConcurrentStreams: 100, streamWindow: 1 << 20, connectionWindow: 4 << 20 },
      handshake: false,
    });
    // The server speaks first: its SETTINGS and WINDOW_UPDATE leave before the client sends anything.
    const first = await h.client.nextN(2);
    expect(first.map(fmt)).toEqual(["SETTINGS 3=100 4=1048576", `WINDOW_UPDATE s0 +${(4 << 20) - 65_535}`]);
    expect(first[0]!.flags).toBe(0);
    h.client.send(PREFACE, settingsFrame([[S.INITIAL_WINDOW_SIZE, 1000]]));
    expect(await h.client.syncFmt()).toEqual(["SETTINGS ACK"]);
  });

  it("leaves MAX_CONCURRENT_STREAMS out when unlimited (2^32-1), and the WINDOW_UPDATE when the connection window is the default", async () => {
    const h = await open({ options: { maxConcurrentStreams: 0xffff_ffff, streamWindow: 300_000, connectionWindow: 65_535 } });
    expect(h.handshakeFrames).toEqual(["SETTINGS 4=300000", "SETTINGS ACK"]);
  });

  it("never shrinks the connection window below the RFC's 65535 (no WINDOW_UPDATE for a smaller option)", async () => {
    const h = await open({ options: { maxConcurrentStreams: 7, streamWindow: 1000, connectionWindow: 1000 } });
    expect(h.handshakeFrames).toEqual(["SETTINGS 3=7 4=1000", "SETTINGS ACK"]);
  });

  it("accepts the preface and frames split at any byte", async () => {
    const h = await open({ handshake: false });
    const bytes = Buffer.concat([PREFACE, settingsFrame([[S.MAX_FRAME_SIZE, 16_384]]), headers(1, requestBlock(), { end: true })]);
    for (let i = 0; i < bytes.length; i++) {
      h.client.send(bytes.subarray(i, i + 1));
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const fs = await h.client.syncFmt();
    expect(fs).toEqual(["SETTINGS 3=100 4=65535", "SETTINGS ACK", ...unaryFrames(1)]);
    expect(h.rec(1).events).toEqual(["end", "close"]);
  });
});

describe("H2Connection: a unary exchange", () => {
  it("delivers HEADERS + DATA as data then end; reply writes HEADERS, DATA (prefix + payload), HEADERS with END_STREAM; close once", async () => {
    const h = await open({
      setup: (r) => {
        r.autoReply = false;
        r.onEnd = () => r.stream.reply(RESP_HEADERS, Buffer.from("world"), TRAILERS);
      },
    });
    const c = h.client;
    c.send(headers(1, requestBlock([["x-a", "b"]])), data(1, grpcMessage("hello"), true));
    const fs = await c.nextN(3);
    expect(fs.map(fmt)).toEqual(["HEADERS s1 EH", "DATA s1 10", "HEADERS s1 ES|EH"]);
    expect(fs[0]!.payload).toEqual(RESP_HEADERS);
    expect(fs[1]!.payload).toEqual(grpcMessage("world"));
    expect(fs[2]!.payload).toEqual(TRAILERS);
    const r = h.rec(1);
    expect(r.events).toEqual(["data:10", "end", "close"]);
    expect(r.data).toEqual(grpcMessage("hello"));
    expect({ ...r.stream.headers }).toEqual({
      ":method": "POST",
      ":scheme": "http",
      ":path": "/x",
      ":authority": "a",
      "content-type": "application/grpc",
      "x-a": "b",
    });
    // Nothing more is written (no WINDOW_UPDATE for 10 bytes), and the close is not repeated.
    expect(await c.syncFmt()).toEqual([]);
    expect(r.closes).toBe(1);
    expect(h.conn().streamCount).toBe(0);
    // The stream is gone: sends on it are no-ops.
    r.stream.sendMessage(Buffer.from("late"));
    r.stream.sendTrailers(TRAILERS);
    r.stream.reset(E.CANCEL);
    expect(await c.syncFmt()).toEqual([]);
    expect(r.closes).toBe(1);
  });

  it("serves streams one after another on one connection, a request without body (END_STREAM on HEADERS) included", async () => {
    const h = await open();
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    expect((await c.nextN(3)).map(fmt)).toEqual(unaryFrames(1));
    c.send(headers(3, requestBlock()), data(3, grpcMessage("a")), data(3, grpcMessage("b")), data(3, Buffer.alloc(0), true));
    expect((await c.nextN(3)).map(fmt)).toEqual(unaryFrames(3));
    expect(h.rec(1).events).toEqual(["end", "close"]);
    expect(h.rec(3).events).toEqual(["data:6", "data:6", "end", "close"]);
    expect(h.conn().lastStreamId).toBe(3);
  });
});

describe("H2Connection: send flow control", () => {
  it("sends only the stream window (10 bytes); the rest and onStreamDrain follow the stream's WINDOW_UPDATE", async () => {
    const h = await open({
      settings: [[S.INITIAL_WINDOW_SIZE, 10]],
      setup: (r) => {
        r.autoReply = false;
        r.stream.respond(RESP_HEADERS, false);
        r.sendResults.push(r.stream.sendMessage(filled(20)));
      },
    });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    const fs = await c.sync();
    expect(fs.map(fmt)).toEqual(["HEADERS s1 EH", "DATA s1 10"]);
    const msg = grpcMessage(filled(20));
    expect(fs[1]!.payload).toEqual(msg.subarray(0, 10));
    const r = h.rec(1);
    expect(r.sendResults).toEqual([false]);
    expect(r.stream.bufferedBytes).toBe(15);
    expect(r.drains).toBe(0);
    c.send(windowUpdate(1, 15));
    const more = await c.sync();
    expect(more.map(fmt)).toEqual(["DATA s1 15"]);
    expect(more[0]!.payload).toEqual(msg.subarray(10));
    expect(r.events).toEqual(["end", "drain"]);
    expect(r.stream.bufferedBytes).toBe(0);
    r.stream.sendTrailers(TRAILERS);
    expect(await c.syncFmt()).toEqual(["HEADERS s1 ES|EH"]);
    expect(r.events).toEqual(["end", "drain", "close"]);
  });

  it("keeps trailers sent while data is queued strictly after the last DATA", async () => {
    const h = await open({
      settings: [[S.INITIAL_WINDOW_SIZE, 10]],
      setup: (r) => {
        r.autoReply = false;
        r.stream.respond(RESP_HEADERS, false);
        r.sendResults.push(r.stream.sendMessage(filled(20)));
        r.stream.sendTrailers(TRAILERS);
      },
    });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(["HEADERS s1 EH", "DATA s1 10"]);
    c.send(windowUpdate(1, 5));
    expect(await c.syncFmt()).toEqual(["DATA s1 5"]);
    expect(h.rec(1).closes).toBe(0);
    c.send(windowUpdate(1, 100));
    const fs = await c.sync();
    expect(fs.map(fmt)).toEqual(["DATA s1 10", "HEADERS s1 ES|EH"]);
    expect(fs[1]!.payload).toEqual(TRAILERS);
    const r = h.rec(1);
    expect(r.sendResults).toEqual([false]);
    expect(r.events.at(-1)).toBe("close");
    expect(r.closes).toBe(1);
  });

  it("reply beyond the window: HEADERS, the DATA the window allows, then the rest and the trailers after WINDOW_UPDATE", async () => {
    const h = await open({ settings: [[S.INITIAL_WINDOW_SIZE, 10]], setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    const r = await h.waitStream(1);
    r.stream.reply(RESP_HEADERS, filled(30), TRAILERS);
    expect(await c.syncFmt()).toEqual(["HEADERS s1 EH", "DATA s1 10"]);
    c.send(windowUpdate(1, 1000));
    expect(await c.syncFmt()).toEqual(["DATA s1 25", "HEADERS s1 ES|EH"]);
    expect(r.events).toEqual(["end", "close"]);
  });

  it("needs both windows: a stream WINDOW_UPDATE does nothing while the connection window is 0", async () => {
    const h = await open({ settings: [[S.INITIAL_WINDOW_SIZE, 10]], setup: (r) => (r.autoReply = false) });
    const c = h.client;
    // Stream 1 gets a 65535 window and uses up the connection's 65535.
    c.send(headers(1, requestBlock(), { end: true }), windowUpdate(1, 65_525));
    const r1 = await h.waitStream(1);
    expect(await c.syncFmt()).toEqual([]);
    r1.stream.respond(RESP_HEADERS, false);
    r1.sendResults.push(r1.stream.sendMessage(filled(65_530)));
    expect(await c.syncFmt()).toEqual(["HEADERS s1 EH", "DATA s1 16384", "DATA s1 16384", "DATA s1 16384", "DATA s1 16383"]);
    expect(r1.sendResults).toEqual([true]);
    // Stream 3 has a 10-byte stream window but the connection has none.
    c.send(headers(3, requestBlock(), { end: true }));
    const r3 = await h.waitStream(3);
    r3.stream.respond(RESP_HEADERS, false);
    r3.sendResults.push(r3.stream.sendMessage(filled(20)));
    expect(await c.syncFmt()).toEqual(["HEADERS s3 EH"]);
    expect(r3.sendResults).toEqual([false]);
    c.send(windowUpdate(3, 100));
    expect(await c.syncFmt()).toEqual([]);
    c.send(windowUpdate(0, 20));
    expect(await c.syncFmt()).toEqual(["DATA s3 20"]);
    expect(r3.drains).toBe(0);
    c.send(windowUpdate(0, 100));
    expect(await c.syncFmt()).toEqual(["DATA s3 5"]);
    expect(r3.drains).toBe(1);
    expect(r1.drains).toBe(0);
  });

  it("stops at the default 65535-byte connection window with a 100 KiB message until a stream-0 WINDOW_UPDATE", async () => {
    const h = await open({ settings: [[S.INITIAL_WINDOW_SIZE, 1 << 20]], setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    const r = await h.waitStream(1);
    const payload = filled(100 * 1024, 7);
    r.stream.respond(RESP_HEADERS, false);
    r.sendResults.push(r.stream.sendMessage(payload));
    const first = await c.sync();
    // Over 64 KiB, the gRPC prefix goes in a DATA frame of its own and the payload is not copied.
    expect(first.map(fmt)).toEqual(["HEADERS s1 EH", "DATA s1 5", "DATA s1 16384", "DATA s1 16384", "DATA s1 16384", "DATA s1 16378"]);
    expect(r.sendResults).toEqual([false]);
    // A stream WINDOW_UPDATE does not help: the connection window is 0.
    c.send(windowUpdate(1, 100_000));
    expect(await c.syncFmt()).toEqual([]);
    expect(r.drains).toBe(0);
    // What is still queued is a view of the payload, not a copy.
    payload.fill(9, 80 * 1024);
    c.send(windowUpdate(0, 65_535));
    const rest = await c.sync();
    expect(rest.map(fmt)).toEqual(["DATA s1 16384", "DATA s1 16384", "DATA s1 4102"]);
    expect(r.drains).toBe(1);
    const sent = Buffer.concat([...first.slice(1), ...rest].map((f) => f.payload));
    expect(sent.equals(grpcMessage(payload))).toBe(true);
  });
});

describe("H2Connection: SETTINGS_INITIAL_WINDOW_SIZE changes", () => {
  it("adjusts the window of a blocked stream: a decrease makes it negative, an increase unblocks it", async () => {
    const h = await open({
      settings: [[S.INITIAL_WINDOW_SIZE, 10]],
      setup: (r) => {
        r.autoReply = false;
        r.stream.respond(RESP_HEADERS, false);
        r.sendResults.push(r.stream.sendMessage(filled(20)));
      },
    });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(["HEADERS s1 EH", "DATA s1 10"]);
    const r = h.rec(1);
    c.send(settingsFrame([[S.INITIAL_WINDOW_SIZE, 5]])); // window 0 - 5 = -5
    expect(await c.syncFmt()).toEqual(["SETTINGS ACK"]);
    c.send(windowUpdate(1, 10)); // -5 + 10 = 5
    expect(await c.syncFmt()).toEqual(["DATA s1 5"]);
    expect(r.drains).toBe(0);
    c.send(settingsFrame([[S.INITIAL_WINDOW_SIZE, 100]])); // 0 + 95
    expect(await c.syncFmt()).toEqual(["SETTINGS ACK", "DATA s1 10"]);
    expect(r.drains).toBe(1);
    expect(r.stream.sendWindow).toBe(85);
  });

  it("an increase alone unblocks a stream blocked at window 0", async () => {
    const h = await open({
      settings: [[S.INITIAL_WINDOW_SIZE, 10]],
      setup: (r) => {
        r.autoReply = false;
        r.sendResults.push(r.stream.sendMessage(filled(20)));
      },
    });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(["DATA s1 10"]);
    c.send(settingsFrame([[S.INITIAL_WINDOW_SIZE, 65_535]]));
    expect(await c.syncFmt()).toEqual(["SETTINGS ACK", "DATA s1 15"]);
    expect(h.rec(1).events).toEqual(["end", "drain"]);
  });
});

describe("H2Connection: frame size", () => {
  it("splits a 40 KiB message into DATA frames of at most 16384 bytes by default", async () => {
    const h = await open({ setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    const r = await h.waitStream(1);
    const payload = filled(40 * 1024, 3);
    r.stream.reply(RESP_HEADERS, payload, TRAILERS);
    const fs = await c.sync();
    expect(fs.map(fmt)).toEqual(["HEADERS s1 EH", "DATA s1 16384", "DATA s1 16384", "DATA s1 8197", "HEADERS s1 ES|EH"]);
    expect(Buffer.concat(fs.slice(1, 4).map((f) => f.payload)).equals(grpcMessage(payload))).toBe(true);
  });

  it("replies with a message over 64 KiB as its 5-byte prefix, then the payload (not copied), then the trailers", async () => {
    const h = await open({ setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    const r = await h.waitStream(1);
    const payload = filled(65 * 1024, 5);
    r.stream.reply(RESP_HEADERS, payload, TRAILERS);
    const first = await c.sync();
    // The default 65535-byte windows: the prefix and 65530 bytes go first.
    expect(first.map(fmt)).toEqual(["HEADERS s1 EH", "DATA s1 5", "DATA s1 16384", "DATA s1 16384", "DATA s1 16384", "DATA s1 16378"]);
    payload.fill(6, 65_530); // still queued: a view of the payload goes out
    c.send(windowUpdate(0, 65_535));
    c.send(windowUpdate(1, 65_535));
    const rest = await c.sync();
    expect(rest.map(fmt)).toEqual(["DATA s1 1030", "HEADERS s1 ES|EH"]);
    const sent = Buffer.concat([...first.slice(1), ...rest.slice(0, 1)].map((f) => f.payload));
    expect(sent.equals(grpcMessage(payload))).toBe(true);
    expect(sent[sent.length - 1]).toBe(6);
  });

  it("uses the client's SETTINGS_MAX_FRAME_SIZE = 32768: 2 DATA frames", async () => {
    const h = await open({ settings: [[S.MAX_FRAME_SIZE, 32_768]], setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    const r = await h.waitStream(1);
    r.stream.respond(RESP_HEADERS, false);
    r.sendResults.push(r.stream.sendMessage(filled(40 * 1024)));
    expect(await c.syncFmt()).toEqual(["HEADERS s1 EH", "DATA s1 32768", "DATA s1 8197"]);
    expect(r.sendResults).toEqual([true]);
  });

  it("splits a header block larger than the frame size into HEADERS + CONTINUATION", async () => {
    const h = await open({ setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    const r = await h.waitStream(1);
    const big = new HpackEncoder().encode([
      [":status", "200"],
      ["x-big", filled(20_000).toString("latin1")],
    ]);
    expect(big.length).toBeGreaterThan(16_384);
    expect(big.length).toBeLessThanOrEqual(32_768);
    r.stream.respond(big, true);
    const fs = await c.sync();
    expect(fs.map(fmt)).toEqual(["HEADERS s1 ES", `CONTINUATION s1 ${big.length - 16_384} EH`]);
    expect(fs[0]!.payload.length).toBe(16_384);
    expect(Buffer.concat(fs.map((f) => f.payload)).equals(big)).toBe(true);
    expect(r.events).toEqual(["end", "close"]);
  });
});

describe("H2Connection: receive flow control", () => {
  it("resets a stream that sends more than its window with RST_STREAM FLOW_CONTROL_ERROR; the connection goes on", async () => {
    // The stream is paused so no window is returned: its window is exactly the 65535 advertised.
    const h = await open({
      options: { streamWindow: 65_535, connectionWindow: 1 << 20 },
      setup: (r) => {
        if (r.stream.id === 1) r.stream.pause();
      },
    });
    expect(h.handshakeFrames).toEqual(["SETTINGS 3=100 4=65535", `WINDOW_UPDATE s0 +${(1 << 20) - 65_535}`, "SETTINGS ACK"]);
    const c = h.client;
    const body = filled(70_000);
    const frames = [headers(1, requestBlock())];
    for (let off = 0; off < body.length; off += 16_384) frames.push(data(1, body.subarray(off, off + 16_384)));
    c.send(...frames);
    expect(await c.syncFmt()).toEqual(["RST_STREAM s1 FLOW_CONTROL_ERROR"]);
    expect(h.rec(1).events).toEqual(["close"]);
    expect(h.conn().streamCount).toBe(0);
    c.send(headers(3, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(3));
  });

  it("returns the connection window for data held by paused streams (only their stream windows stay closed)", async () => {
    const h = await open({
      options: { streamWindow: 65_535, connectionWindow: 65_535 },
      setup: (r) => {
        r.autoReply = false;
        r.stream.pause();
      },
    });
    const c = h.client;
    const frames: Buffer[] = [];
    for (const id of [1, 3, 5]) frames.push(headers(id, requestBlock()), data(id, filled(16_384)), data(id, filled(13_616)));
    c.send(...frames); // 90000 bytes held, more than the connection window: paused streams must not stall the others
    // The connection's window comes back once 16384 bytes (>= 65535/4) are unacknowledged
    // (16384, then 13616 + 16384 twice); no stream WINDOW_UPDATE, no error.
    expect(await c.syncFmt()).toEqual(["WINDOW_UPDATE s0 +16384", "WINDOW_UPDATE s0 +30000", "WINDOW_UPDATE s0 +30000"]);
    for (const id of [1, 3, 5]) expect(h.rec(id).events).toEqual([]);
    expect(h.conn().streamCount).toBe(3);
  });

  it("returns window as the handler consumes: 10 MiB over 8 streams with a flow-controlled client does not stall", async () => {
    const STREAMS = [1, 3, 5, 7, 9, 11, 13, 15];
    const PER_STREAM = (10 << 20) / STREAMS.length;
    const received = new Map<number, number>();
    let bad = 0;
    const h = await open({
      options: { streamWindow: 65_535, connectionWindow: 256 * 1024 },
      setup: (r) => {
        r.keepData = false;
        const id = r.stream.id;
        received.set(id, 0);
        r.onData = (chunk) => {
          let off = received.get(id)!;
          for (let i = 0; i < chunk.length; i++, off++) if (chunk[i] !== ((off + id) & 0xff)) bad++;
          received.set(id, off);
        };
      },
    });
    const c = h.client;
    expect(h.handshakeFrames).toEqual(["SETTINGS 3=100 4=65535", `WINDOW_UPDATE s0 +${256 * 1024 - 65_535}`, "SETTINGS ACK"]);
    let connWin = 256 * 1024;
    const streamWin = new Map<number, number>();
    const remaining = new Map<number, number>();
    const trailers = new Set<number>();
    const pattern = filled(16_384 + 256);
    for (const id of STREAMS) {
      streamWin.set(id, 65_535);
      remaining.set(id, PER_STREAM);
    }
    c.send(...STREAMS.map((id) => headers(id, requestBlock())));
    let updates = 0;
    const absorb = (): void => {
      for (const f of c.drain()) {
        if (f.type === T.WINDOW_UPDATE) {
          updates++;
          const inc = f.payload.readUInt32BE(0);
          if (f.id === 0) connWin += inc;
          else streamWin.set(f.id, streamWin.get(f.id)! + inc);
        } else if (f.type === T.HEADERS && (f.flags & F.END_STREAM) !== 0) trailers.add(f.id);
        else if (f.type !== T.HEADERS && f.type !== T.DATA) throw new Error(`unexpected ${fmt(f)}`);
      }
    };
    for (;;) {
      absorb();
      let progressed = false;
      let left = 0;
      const out: Buffer[] = [];
      for (const id of STREAMS) {
        const rem = remaining.get(id)!;
        left += rem;
        const n = Math.min(16_384, rem, connWin, streamWin.get(id)!);
        if (n <= 0) continue;
        const off = PER_STREAM - rem;
        const start = (off + id) & 0xff;
        out.push(data(id, pattern.subarray(start, start + n), rem === n));
        connWin -= n;
        streamWin.set(id, streamWin.get(id)! - n);
        remaining.set(id, rem - n);
        progressed = true;
      }
      if (out.length > 0) c.send(...out);
      if (left === 0) break;
      if (!progressed) await c.waitFor(() => (c.frames.length > 0 ? true : undefined), "a WINDOW_UPDATE (stalled)");
    }
    await c.waitFor(() => {
      absorb();
      return trailers.size === STREAMS.length ? true : undefined;
    }, "all replies");
    expect(bad).toBe(0);
    for (const id of STREAMS) expect(received.get(id)).toBe(PER_STREAM);
    expect(updates).toBeGreaterThan(100);
    expect(h.conn().streamCount).toBe(0);
  });
});

describe("H2Connection: pause and resume", () => {
  it("holds data for a paused stream without returning its stream window; resume delivers it in order and sends the WINDOW_UPDATEs", async () => {
    const h = await open({
      options: { streamWindow: 65_535, connectionWindow: 65_535 },
      setup: (r) => {
        r.autoReply = false;
        r.stream.pause();
      },
    });
    const c = h.client;
    const parts = [filled(16_384, 1), filled(16_384, 2), filled(7232, 3)];
    c.send(headers(1, requestBlock()), ...parts.map((p) => data(1, p)));
    // The connection's window comes back on receipt (every 16384 >= 65535/4), the stream's only on delivery.
    expect(await c.syncFmt()).toEqual(["WINDOW_UPDATE s0 +16384", "WINDOW_UPDATE s0 +16384"]);
    const r = h.rec(1);
    expect(r.events).toEqual([]);
    r.stream.resume();
    // Held data is copied into one buffer and delivered as one chunk.
    expect(r.events).toEqual(["data:40000"]);
    expect(r.data.equals(Buffer.concat(parts))).toBe(true);
    // Stream: 40000 (>= 65535/2).
    expect(await c.syncFmt()).toEqual(["WINDOW_UPDATE s1 +40000"]);

    // Paused again: the END_STREAM behind held data waits for it.
    r.stream.pause();
    c.send(data(1, filled(100, 9)), data(1, Buffer.alloc(0), true));
    expect(await c.syncFmt()).toEqual([]);
    expect(r.events.length).toBe(1);
    r.stream.resume();
    expect(r.events.slice(1)).toEqual(["data:100", "end"]);
    expect(r.chunks.at(-1)).toEqual(filled(100, 9));
    r.stream.reply(RESP_HEADERS, REPLY_PAYLOAD, TRAILERS);
    // 7232 + 100 bytes are below both thresholds (and the stream's input is over): no WINDOW_UPDATE.
    expect(await c.syncFmt()).toEqual(unaryFrames(1));
    expect(r.events.at(-1)).toBe("close");
  });
});


describe("H2Connection: CONTINUATION", () => {
  it("decodes a request header block split into HEADERS (no END_HEADERS) + 2 CONTINUATION frames, across writes", async () => {
    const h = await open();
    const c = h.client;
    const block = requestBlock([["x-split", "continuation-value"]]);
    const a = Math.floor(block.length / 3);
    const b = Math.floor((2 * block.length) / 3);
    c.send(frame(T.HEADERS, F.END_STREAM, 1, block.subarray(0, a)));
    await new Promise((resolve) => setTimeout(resolve, 5)); // most likely a separate read
    c.send(frame(T.CONTINUATION, 0, 1, block.subarray(a, b)));
    await new Promise((resolve) => setTimeout(resolve, 5));
    c.send(frame(T.CONTINUATION, F.END_HEADERS, 1, block.subarray(b)));
    expect(await c.syncFmt()).toEqual(unaryFrames(1));
    const r = h.rec(1);
    expect(r.stream.headers["x-split"]).toBe("continuation-value");
    expect(r.stream.headers[":path"]).toBe("/x");
    expect(r.events).toEqual(["end", "close"]);
  });

  it.each<[string, Buffer]>([
    ["a PING", ping(Buffer.alloc(8))],
    ["DATA on the same stream", data(3, Buffer.from("x"))],
    ["a CONTINUATION on another stream", frame(T.CONTINUATION, F.END_HEADERS, 5, Buffer.alloc(0))],
    ["HEADERS of another stream", headers(5, requestBlock())],
    ["a frame of an unknown type", frame(0xfa, 0, 0, Buffer.from("ext"))],
  ])("a frame between HEADERS and CONTINUATION (%s) is a connection error: GOAWAY PROTOCOL_ERROR, then close", async (_, between) => {
    const h = await open();
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(1));
    const block = requestBlock();
    c.send(frame(T.HEADERS, F.END_STREAM, 3, block.subarray(0, 4)), between, frame(T.CONTINUATION, F.END_HEADERS, 3, block.subarray(4)));
    expect(fmt(await c.next())).toBe("GOAWAY last=1 PROTOCOL_ERROR");
    await c.waitClosed();
    expect(c.drain().map(fmt)).toEqual([]);
    expect([...h.recs.keys()]).toEqual([1]);
  });

  it("a CONTINUATION without a HEADERS before it is a connection error", async () => {
    const h = await open();
    h.client.send(frame(T.CONTINUATION, F.END_HEADERS, 1, requestBlock()));
    expect(fmt(await h.client.next())).toBe("GOAWAY last=0 PROTOCOL_ERROR");
    await h.client.waitClosed();
    expect(h.recs.size).toBe(0);
  });
});

/** DYN_LITERAL is a literal field with incremental indexing (x-dyn: v1): it becomes dynamic table entry 62. */
const DYN_LITERAL = Buffer.from([0x40, 5, ...Buffer.from("x-dyn"), 2, ...Buffer.from("v1")]);

describe("H2Connection: invalid requests", () => {
  it.each<[string, [string, string][]]>([
    ["an upper-case header name", [...REQUEST, ["X-Upper", "v"]]],
    ["a missing :path", REQUEST.filter(([n]) => n !== ":path")],
    ["an empty :path", REQUEST.map(([n, v]) => [n, n === ":path" ? "" : v])],
    ["a missing :method", REQUEST.filter(([n]) => n !== ":method")],
    ["a connection header", [...REQUEST, ["connection", "keep-alive"]]],
    ["a transfer-encoding header", [...REQUEST, ["transfer-encoding", "chunked"]]],
    ["a pseudo-header after a regular one", [...REQUEST.filter(([n]) => n !== ":path"), [":path", "/x"]]],
    ["te: gzip", [...REQUEST, ["te", "gzip"]]],
    ["a response pseudo-header", [[":status", "200"], ...REQUEST]],
    ["a repeated pseudo-header", [[":method", "POST"], ...REQUEST]],
  ])("%s: RST_STREAM PROTOCOL_ERROR, and the next stream works (HPACK state kept)", async (_, fields) => {
    const h = await open();
    const c = h.client;
    // The invalid block also adds a dynamic table entry, used by the next request.
    c.send(headers(1, Buffer.concat([requestBlock([], fields), DYN_LITERAL])), data(1, grpcMessage("body"), true));
    expect(await c.syncFmt()).toEqual(["RST_STREAM s1 PROTOCOL_ERROR"]);
    expect(h.recs.size).toBe(0);
    c.send(headers(3, Buffer.concat([requestBlock([["te", "trailers"]]), Buffer.from([0x80 | 62])]), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(3));
    expect(h.rec(3).stream.headers["x-dyn"]).toBe("v1");
    expect(h.rec(3).stream.headers.te).toBe("trailers");
  });

  it("a header list above maxHeaderListBytes is refused with RST_STREAM PROTOCOL_ERROR, not a connection error", async () => {
    const h = await open({ options: { maxHeaderListBytes: 1000 } });
    const c = h.client;
    c.send(headers(1, requestBlock([["x-big", "v".repeat(1000)]]), { end: true }));
    expect(await c.syncFmt()).toEqual(["RST_STREAM s1 PROTOCOL_ERROR"]);
    c.send(headers(3, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(3));
  });
});

describe("H2Connection: stream errors", () => {
  it.each<[string, string, () => Buffer[]]>([
    ["DATA after the client's END_STREAM", "RST_STREAM s1 STREAM_CLOSED", () => [data(1, Buffer.alloc(0), true), data(1, Buffer.from("x"))]],
    ["HEADERS after the client's END_STREAM", "RST_STREAM s1 STREAM_CLOSED", () => [data(1, Buffer.alloc(0), true), headers(1, TRAILERS, { end: true })]],
    ["trailers without END_STREAM", "RST_STREAM s1 PROTOCOL_ERROR", () => [headers(1, TRAILERS)]],
    ["WINDOW_UPDATE of 0 on a stream", "RST_STREAM s1 PROTOCOL_ERROR", () => [windowUpdate(1, 0)]],
    ["a stream WINDOW_UPDATE past 2^31-1", "RST_STREAM s1 FLOW_CONTROL_ERROR", () => [windowUpdate(1, 0x7fff_ffff)]],
    ["PRIORITY of 4 bytes", "RST_STREAM s1 FRAME_SIZE_ERROR", () => [frame(T.PRIORITY, 0, 1, Buffer.alloc(4))]],
  ])("%s -> %s; the connection goes on", async (_, expected, bad) => {
    const h = await open({ setup: (r) => (r.autoReply = r.stream.id !== 1) });
    const c = h.client;
    c.send(headers(1, requestBlock()));
    expect(await c.syncFmt()).toEqual([]);
    c.send(...bad());
    expect(await c.syncFmt()).toEqual([expected]);
    expect(h.rec(1).closes).toBe(1);
    c.send(headers(3, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(3));
  });
});

describe("H2Connection: maxConcurrentStreams", () => {
  it("refuses a third open stream with RST_STREAM REFUSED_STREAM; once one closes a new one is accepted", async () => {
    const h = await open({ options: { maxConcurrentStreams: 2 } });
    expect(h.handshakeFrames).toEqual(["SETTINGS 3=2 4=65535", "SETTINGS ACK"]);
    const c = h.client;
    const rb = requestBlock();
    c.send(headers(1, rb), headers(3, rb), headers(5, rb), data(5, grpcMessage("in flight"), true));
    expect(await c.syncFmt()).toEqual(["RST_STREAM s5 REFUSED_STREAM"]);
    expect([...h.recs.keys()]).toEqual([1, 3]);
    c.send(data(1, Buffer.alloc(0), true));
    expect(await c.syncFmt()).toEqual(unaryFrames(1));
    c.send(headers(7, rb), headers(9, rb));
    expect(await c.syncFmt()).toEqual(["RST_STREAM s9 REFUSED_STREAM"]);
    expect([...h.recs.keys()]).toEqual([1, 3, 7]);
    expect(h.conn().streamCount).toBe(2);
    // A stream the server ends before the client did is reset without error right after the
    // status (as grpc-go's server does), so it no longer counts: a new stream is accepted.
    h.rec(3).stream.respond(TRAILERS, true);
    c.send(headers(11, rb));
    expect(await c.syncFmt()).toEqual(["HEADERS s3 ES|EH", "RST_STREAM s3 NO_ERROR"]);
    expect(h.conn().streamCount).toBe(2);
    expect([...h.recs.keys()]).toEqual([1, 3, 7, 11]);
  });
});

describe("H2Connection: PING", () => {
  it("answers a PING with a PING ACK of the same 8 bytes and calls onPing (not for ACKs)", async () => {
    const h = await open();
    const c = h.client;
    const before = h.pings.count;
    c.send(ping(Buffer.from("0102030405060708", "hex")));
    expect(fmt(await c.next())).toBe("PING ACK 0102030405060708");
    expect(h.pings.count).toBe(before + 1);
    c.send(ping(Buffer.from("0102030405060708", "hex"), true));
    expect(await c.syncFmt()).toEqual([]);
    expect(h.pings.count).toBe(before + 2); // the sync's PING only
  });

  it("conn.ping sends a PING; the callback fires on the client's ACK of that payload, once", async () => {
    const h = await open();
    const c = h.client;
    const before = h.pings.count;
    let acks = 0;
    let acks2 = 0;
    h.conn().ping(() => acks++);
    h.conn().ping(() => acks2++);
    const [p1, p2] = await c.nextN(2);
    expect([p1!.type, p1!.flags, p1!.id, p1!.payload.length]).toEqual([T.PING, 0, 0, 8]);
    expect([p2!.type, p2!.flags, p2!.id, p2!.payload.length]).toEqual([T.PING, 0, 0, 8]);
    expect(p1!.payload.equals(p2!.payload)).toBe(false);
    const other = Buffer.from(p1!.payload);
    other[7] = other[7]! ^ 0xff;
    c.send(ping(other, true), ping(p1!.payload, false));
    expect(await c.syncFmt()).toEqual([`PING ACK ${p1!.payload.toString("hex")}`]);
    expect([acks, acks2]).toEqual([0, 0]);
    c.send(ping(p2!.payload, true));
    await until(() => acks2 === 1, "ping callback");
    c.send(ping(p1!.payload, true), ping(p1!.payload, true));
    await c.sync();
    expect([acks, acks2]).toEqual([1, 1]);
    expect(h.pings.count).toBe(before + 3); // 2 syncs and the client's PING, no ACK
  });
});

describe("H2Connection: connection errors", () => {
  it.each<[string, string, () => Buffer]>([
    ["a frame over 16384 bytes", "GOAWAY last=1 FRAME_SIZE_ERROR", () => frame(T.DATA, 0, 1, Buffer.alloc(16_385))],
    ["HEADERS on an even stream ID", "GOAWAY last=1 PROTOCOL_ERROR", () => headers(2, requestBlock())],
    ["HEADERS on stream 0", "GOAWAY last=1 PROTOCOL_ERROR", () => headers(0, requestBlock())],
    ["DATA on stream 0", "GOAWAY last=1 PROTOCOL_ERROR", () => data(0, Buffer.from("x"))],
    ["DATA on an idle stream", "GOAWAY last=1 PROTOCOL_ERROR", () => data(5, Buffer.from("x"))],
    // The stream of a malformed block counts as seen (lastStreamId is set before decoding).
    ["a malformed HPACK block (index 0)", "GOAWAY last=3 COMPRESSION_ERROR", () => headers(3, Buffer.from([0x80]))],
    ["an HPACK index past the table", "GOAWAY last=3 COMPRESSION_ERROR", () => headers(3, Buffer.from([0x80 | 70]))],
    ["a truncated HPACK integer", "GOAWAY last=3 COMPRESSION_ERROR", () => headers(3, Buffer.from([0xff]))],
    ["malformed HPACK in trailers", "GOAWAY last=1 COMPRESSION_ERROR", () => headers(1, Buffer.from([0x80]), { end: true })],
    ["WINDOW_UPDATE of 0 on stream 0", "GOAWAY last=1 PROTOCOL_ERROR", () => windowUpdate(0, 0)],
    ["WINDOW_UPDATE of 3 bytes", "GOAWAY last=1 FRAME_SIZE_ERROR", () => frame(T.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))],
    ["a connection WINDOW_UPDATE past 2^31-1", "GOAWAY last=1 FLOW_CONTROL_ERROR", () => windowUpdate(0, 0x7fff_ffff)],
    ["WINDOW_UPDATE on an idle stream", "GOAWAY last=1 PROTOCOL_ERROR", () => windowUpdate(7, 1)],
    ["SETTINGS of 7 bytes", "GOAWAY last=1 FRAME_SIZE_ERROR", () => frame(T.SETTINGS, 0, 0, Buffer.alloc(7))],
    ["SETTINGS ACK with a payload", "GOAWAY last=1 FRAME_SIZE_ERROR", () => frame(T.SETTINGS, F.ACK, 0, Buffer.alloc(6))],
    ["SETTINGS on a stream", "GOAWAY last=1 PROTOCOL_ERROR", () => frame(T.SETTINGS, 0, 1)],
    ["SETTINGS_ENABLE_PUSH = 2", "GOAWAY last=1 PROTOCOL_ERROR", () => settingsFrame([[S.ENABLE_PUSH, 2]])],
    ["SETTINGS_INITIAL_WINDOW_SIZE = 2^31", "GOAWAY last=1 FLOW_CONTROL_ERROR", () => settingsFrame([[S.INITIAL_WINDOW_SIZE, 0x8000_0000]])],
    ["SETTINGS_MAX_FRAME_SIZE = 16383", "GOAWAY last=1 PROTOCOL_ERROR", () => settingsFrame([[S.MAX_FRAME_SIZE, 16_383]])],
    ["SETTINGS_MAX_FRAME_SIZE = 2^24", "GOAWAY last=1 PROTOCOL_ERROR", () => settingsFrame([[S.MAX_FRAME_SIZE, 0x100_0000]])],
    ["PING on a stream", "GOAWAY last=1 PROTOCOL_ERROR", () => frame(T.PING, 0, 1, Buffer.alloc(8))],
    ["PING of 7 bytes", "GOAWAY last=1 FRAME_SIZE_ERROR", () => frame(T.PING, 0, 0, Buffer.alloc(7))],
    ["RST_STREAM on stream 0", "GOAWAY last=1 PROTOCOL_ERROR", () => rstStream(0, E.CANCEL)],
    ["RST_STREAM on an idle stream", "GOAWAY last=1 PROTOCOL_ERROR", () => rstStream(9, E.CANCEL)],
    ["RST_STREAM of 5 bytes", "GOAWAY last=1 FRAME_SIZE_ERROR", () => frame(T.RST_STREAM, 0, 1, Buffer.alloc(5))],
    ["PUSH_PROMISE", "GOAWAY last=1 PROTOCOL_ERROR", () => frame(T.PUSH_PROMISE, F.END_HEADERS, 1, Buffer.alloc(4))],
    ["PRIORITY on stream 0", "GOAWAY last=1 PROTOCOL_ERROR", () => frame(T.PRIORITY, 0, 0, Buffer.alloc(5))],
    ["GOAWAY on a stream", "GOAWAY last=1 PROTOCOL_ERROR", () => frame(T.GOAWAY, 0, 1, Buffer.alloc(8))],
    ["DATA padding longer than the frame", "GOAWAY last=1 PROTOCOL_ERROR", () => frame(T.DATA, F.PADDED, 1, Buffer.from([10, 1, 2, 3]))],
    ["HEADERS padding longer than the frame", "GOAWAY last=1 PROTOCOL_ERROR", () => frame(T.HEADERS, F.PADDED | F.END_HEADERS, 3, Buffer.from([200, 0x82]))],
  ])("%s -> %s, then close", async (_, expected, bad) => {
    const h = await open({ setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock()));
    expect(await c.syncFmt()).toEqual([]);
    // The PING after the bad frame is not answered: nothing after a connection error is processed in that read.
    c.send(bad(), ping(Buffer.alloc(8)));
    expect(fmt(await c.next())).toBe(expected);
    await c.waitClosed();
    expect(c.drain().map(fmt)).toEqual([]);
    await until(() => h.connClosed.count === 1, "onClose");
    expect(h.rec(1).events).toEqual(["close"]);
  });

  it.each<[string, Buffer]>([
    ["an HTTP/1.1 request", Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\n")],
    ["a short wrong start", Buffer.from("PRI * HTTP/1.1\r\n")],
    ["a preface with a wrong last byte", Buffer.concat([PREFACE.subarray(0, PREFACE.length - 1), Buffer.from("X"), settingsFrame([])])],
  ])("a bad preface (%s) closes the connection", async (_, bytes) => {
    const h = await open({ handshake: false });
    const c = h.client;
    c.send(bytes);
    await c.waitClosed();
    const fs = c.drain().map(fmt);
    expect(fs[0]).toBe("SETTINGS 3=100 4=65535");
    // RFC 7540 section 3.5: a GOAWAY MAY be omitted after an invalid preface.
    expect([[], ["GOAWAY last=0 PROTOCOL_ERROR"]]).toContainEqual(fs.slice(1));
    expect(h.recs.size).toBe(0);
    await until(() => h.connClosed.count === 1, "onClose");
  });
});

describe("H2Connection: RST_STREAM from the client", () => {
  it("closes the stream (onStreamClose once); later DATA for it is ignored but counted in the connection window", async () => {
    const h = await open({
      setup: (r) => {
        if (r.stream.id !== 1) return;
        r.autoReply = false;
        r.stream.respond(RESP_HEADERS, false);
      },
    });
    const c = h.client;
    c.send(headers(1, requestBlock()), data(1, grpcMessage("a")));
    expect(await c.syncFmt()).toEqual(["HEADERS s1 EH"]);
    const r = h.rec(1);
    c.send(rstStream(1, E.CANCEL));
    expect(await c.syncFmt()).toEqual([]);
    expect(r.events).toEqual(["data:6", "close"]);
    expect(h.conn().streamCount).toBe(0);
    // DATA in flight when the client reset: dropped, no error; its bytes return to the
    // connection window (6 earlier + 16384 >= 65535/4).
    c.send(data(1, filled(16_384)), data(1, Buffer.alloc(0), true), windowUpdate(1, 100), rstStream(1, E.CANCEL));
    expect(await c.syncFmt()).toEqual(["WINDOW_UPDATE s0 +16390"]);
    expect(r.events).toEqual(["data:6", "close"]);
    expect(r.stream.sendMessage(Buffer.from("x"))).toBe(true);
    r.stream.sendTrailers(TRAILERS);
    expect(await c.syncFmt()).toEqual([]);
    c.send(headers(3, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(3));
  });

  it("drops the data a reset stream had queued for window", async () => {
    const h = await open({
      settings: [[S.INITIAL_WINDOW_SIZE, 10]],
      setup: (r) => {
        r.autoReply = false;
        r.sendResults.push(r.stream.sendMessage(filled(20)));
        r.stream.sendTrailers(TRAILERS);
      },
    });
    const c = h.client;
    c.send(headers(1, requestBlock()));
    expect(await c.syncFmt()).toEqual(["DATA s1 10"]);
    c.send(rstStream(1, E.CANCEL), windowUpdate(1, 1000));
    expect(await c.syncFmt()).toEqual([]);
    expect(h.rec(1).events).toEqual(["close"]);
  });
});

describe("H2Connection: padding and priority", () => {
  it("accepts padded DATA and HEADERS with PRIORITY (and PADDED); padding is not delivered", async () => {
    const h = await open();
    const c = h.client;
    const block = requestBlock([["x-p", "1"]]);
    const prio = Buffer.from([0x80, 0, 0, 0, 200]); // exclusive, on stream 0, weight 201
    c.send(
      frame(T.HEADERS, F.END_HEADERS | F.PRIORITY, 1, Buffer.concat([prio, block])),
      frame(T.DATA, F.PADDED, 1, Buffer.concat([Buffer.from([7]), filled(10), Buffer.alloc(7)])),
      frame(T.DATA, F.PADDED, 1, Buffer.concat([Buffer.from([20]), Buffer.alloc(20)])),
      frame(T.DATA, F.PADDED | F.END_STREAM, 1, Buffer.concat([Buffer.from([0]), filled(5, 50)])),
    );
    expect(await c.syncFmt()).toEqual(unaryFrames(1));
    const r = h.rec(1);
    expect(r.events).toEqual(["data:10", "data:5", "end", "close"]);
    expect(r.data).toEqual(Buffer.concat([filled(10), filled(5, 50)]));
    expect(r.stream.headers["x-p"]).toBe("1");
    c.send(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM | F.PADDED | F.PRIORITY, 3, Buffer.concat([Buffer.from([4]), prio, block, Buffer.alloc(4)])));
    expect(await c.syncFmt()).toEqual(unaryFrames(3));
    expect(h.rec(3).stream.headers["x-p"]).toBe("1");
    expect(h.rec(3).stream.headers[":method"]).toBe("POST");
    // A PRIORITY frame (on an idle stream too) and an unknown frame type are ignored.
    c.send(frame(T.PRIORITY, 0, 5, Buffer.from([0, 0, 0, 1, 16])), frame(0xfa, 0xff, 0, Buffer.from("ext")));
    expect(await c.syncFmt()).toEqual([]);
    c.send(headers(5, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(5));
  });
});

describe("H2Connection: goaway", () => {
  it("sends GOAWAY with the last stream ID, ignores newer streams, and closes once the open streams end", async () => {
    const h = await open();
    const c = h.client;
    c.send(headers(1, requestBlock()), headers(3, requestBlock()));
    expect(await c.syncFmt()).toEqual([]);
    h.conn().goaway(E.NO_ERROR, "bye", 10_000);
    const g = await c.next();
    expect(fmt(g)).toBe("GOAWAY last=3 NO_ERROR");
    expect(g.payload.subarray(8).toString("latin1")).toBe("bye");
    c.send(headers(5, requestBlock()), data(5, grpcMessage("x"), true));
    expect(await c.syncFmt()).toEqual([]);
    expect([...h.recs.keys()]).toEqual([1, 3]);
    c.send(data(1, grpcMessage("x"), true));
    expect(await c.syncFmt()).toEqual(unaryFrames(1));
    expect(c.closed).toBe(false);
    const t0 = Date.now();
    c.send(data(3, Buffer.alloc(0), true));
    expect((await c.nextN(3)).map(fmt)).toEqual(unaryFrames(3));
    await c.waitClosed();
    expect(Date.now() - t0).toBeLessThan(2000); // not the 10 s grace
    expect(c.drain().map(fmt)).toEqual([]);
    await until(() => h.connClosed.count === 1, "onClose");
  });

  it("without open streams, the connection closes right after the GOAWAY", async () => {
    const h = await open();
    h.conn().goaway(E.NO_ERROR, "", 10_000);
    expect(fmt(await h.client.next())).toBe("GOAWAY last=0 NO_ERROR");
    await h.client.waitClosed();
  });

  it("ends the connection after graceMs when streams stay open", async () => {
    const h = await open({ setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock()));
    expect(await c.syncFmt()).toEqual([]);
    h.conn().goaway(E.ENHANCE_YOUR_CALM, "too_many_pings", 50);
    expect(fmt(await c.next())).toBe("GOAWAY last=1 ENHANCE_YOUR_CALM");
    await c.waitClosed();
    await until(() => h.connClosed.count === 1, "onClose");
    expect(h.rec(1).events).toEqual(["close"]);
  });
});

describe("H2Connection: output batching", () => {
  it("writes the replies of several streams made in one synchronous turn in one socket write", async () => {
    const h = await open({ setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }), headers(3, requestBlock(), { end: true }), headers(5, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual([]);
    const before = h.writes.length;
    for (const id of [1, 3, 5]) h.rec(id).stream.reply(RESP_HEADERS, Buffer.from(`reply ${id}`), TRAILERS);
    const fs = await c.nextN(9);
    expect(fs.map(fmt)).toEqual([1, 3, 5].flatMap((id) => [`HEADERS s${id} EH`, `DATA s${id} 12`, `HEADERS s${id} ES|EH`]));
    expect(h.writes.length).toBe(before + 1);
    expect(h.writes[before]!.equals(Buffer.concat(fs.map((f) => frame(f.type, f.flags, f.id, f.payload))))).toBe(true);
    for (const id of [1, 3, 5]) expect(h.rec(id).events).toEqual(["end", "close"]);
  });

  it("answers the frames of one read (SETTINGS, PING, an invalid request, a unary) in one socket write", async () => {
    const h = await open();
    const c = h.client;
    const before = h.writes.length;
    c.send(
      settingsFrame([[S.MAX_FRAME_SIZE, 20_000]]),
      ping(Buffer.from("p1p1p1p1")),
      headers(1, requestBlock([["connection", "close"]]), { end: true }),
      headers(3, requestBlock(), { end: true }),
    );
    const fs = await c.nextN(6);
    expect(fs.map(fmt)).toEqual(["SETTINGS ACK", "PING ACK 7031703170317031", "RST_STREAM s1 PROTOCOL_ERROR", ...unaryFrames(3)]);
    // One read on the server gives one write; a split read (rare on loopback) gives more.
    const chunks = h.writes.length - before;
    expect(chunks).toBeGreaterThanOrEqual(1);
    expect(chunks).toBeLessThanOrEqual(4);
  });
});

/** Regressions: each of these was a bug found by these tests (the server broke RFC 7540 here). */
describe("H2Connection: RFC 7540 rules it once broke", () => {
  it("answers HEADERS on an even stream ID below the last stream ID with a connection error (RFC 7540 5.1.1: PROTOCOL_ERROR)", async () => {
    const h = await open();
    const c = h.client;
    c.send(headers(3, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(3));
    c.send(headers(2, requestBlock(), { end: true }), ping(Buffer.alloc(8)));
    // Actual: "PING ACK 0000000000000000" (the HEADERS is decoded and dropped).
    expect(fmt(await c.next())).toBe("GOAWAY last=3 PROTOCOL_ERROR");
  });

  it("refuses HEADERS with a PRIORITY dependency on its own stream (RFC 7540 5.3.1: stream error PROTOCOL_ERROR)", async () => {
    const h = await open();
    const c = h.client;
    const prio = Buffer.from([0, 0, 0, 1, 16]); // depends on stream 1 itself
    c.send(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM | F.PRIORITY, 1, Buffer.concat([prio, requestBlock()])));
    // Actual: the request is served (HEADERS, DATA, HEADERS).
    expect(await c.syncFmt()).toEqual(["RST_STREAM s1 PROTOCOL_ERROR"]);
  });

  it("never names a higher last stream ID in a later GOAWAY than in the first (RFC 7540 6.8: MUST NOT increase)", async () => {
    const h = await open({ setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock()));
    expect(await c.syncFmt()).toEqual([]);
    h.conn().goaway(E.NO_ERROR, "", 10_000);
    expect(fmt(await c.next())).toBe("GOAWAY last=1 NO_ERROR");
    // Stream 3 (sent before the client saw the GOAWAY) is ignored, but it raises lastStreamId,
    // which the connection error's GOAWAY then names. Actual: "GOAWAY last=3 PROTOCOL_ERROR".
    c.send(headers(3, requestBlock(), { end: true }), windowUpdate(0, 0));
    expect(fmt(await c.next())).toBe("GOAWAY last=1 PROTOCOL_ERROR");
  });

  it("processes no frame read after a connection error (RFC 7540 5.4.1: close the connection)", async () => {
    const h = await open({ allowHalfOpen: true, setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock()));
    expect(await c.syncFmt()).toEqual([]);
    c.send(windowUpdate(0, 0));
    expect(fmt(await c.next())).toBe("GOAWAY last=1 PROTOCOL_ERROR");
    // The server has ended its side; the client (half-open) still sends, then ends.
    c.send(data(1, Buffer.from("late")));
    c.sock.end();
    await until(() => h.rec(1).closes === 1, "stream close");
    // Before the fix: ["data:4", "close"]: the handler got DATA after the GOAWAY.
    expect(h.rec(1).events).toEqual(["close"]);
  });

  it("ends the connection with GOAWAY INTERNAL_ERROR, not the process, when handling a frame throws a non-protocol error", async () => {
    const errors: unknown[] = [];
    const h = await open({
      options: { onInternalError: (err) => errors.push(err) },
      setup: (r) => {
        if (r.stream.id === 3) throw new TypeError("a bug while taking stream 3");
      },
    });
    const c = h.client;
    c.send(headers(1, requestBlock(), { end: true }));
    expect(await c.syncFmt()).toEqual(unaryFrames(1));
    c.send(headers(3, requestBlock(), { end: true }));
    expect(fmt(await c.next())).toBe("GOAWAY last=3 INTERNAL_ERROR");
    await c.waitClosed();
    expect(errors.map(String)).toEqual(["TypeError: a bug while taking stream 3"]);
  });

  it("ends a CONTINUATION flood (empty frames without END_HEADERS) with GOAWAY ENHANCE_YOUR_CALM", async () => {
    const h = await open();
    const c = h.client;
    const frames: Buffer[] = [frame(T.HEADERS, 0, 1, requestBlock())];
    for (let i = 0; i < 200; i++) frames.push(frame(T.CONTINUATION, 0, 1, Buffer.alloc(0)));
    c.send(...frames);
    expect(fmt(await c.next())).toBe("GOAWAY last=0 ENHANCE_YOUR_CALM");
    await c.waitClosed();
    expect(h.recs.size).toBe(0);
  });
});

describe("H2Connection: what a client can make the server hold", () => {
  it("stops reading requests while their answers are not read, and goes on once they are", async () => {
    // Each request (a 13-byte HEADERS frame) gets a 20 KB answer: unbounded, 2000 of them would be 40 MB.
    const big = new HpackEncoder().encode([
      [":status", "200"],
      ["grpc-status", "12"],
      ["grpc-message", "x".repeat(20_000)],
    ]);
    const h = await open({
      options: { maxConcurrentStreams: 100_000 },
      setup: (r) => {
        r.autoReply = false;
        r.stream.respond(big, true);
      },
    });
    const c = h.client;
    c.sock.pause();
    const rb = requestBlock();
    const frames: Buffer[] = [];
    for (let i = 0; i < 2000; i++) frames.push(headers(1 + 2 * i, rb, { end: true }));
    c.send(...frames);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const held = h.conn().socket.writableLength;
    expect(held).toBeLessThan(2 << 20);
    expect(h.recs.size).toBeLessThan(2000);
    c.sock.resume();
    await until(() => (h.recs.size === 2000 ? true : undefined), "every request handled", 10_000);
    await until(() => (c.received.filter((f) => f.type === T.HEADERS).length === 2000 ? true : undefined), "every answer", 10_000);
  });

  it("ends a connection whose client resets more streams than the budget (rapid reset) with GOAWAY ENHANCE_YOUR_CALM", async () => {
    const h = await open({ options: { maxConcurrentStreams: 100_000 }, setup: (r) => (r.autoReply = false) });
    const c = h.client;
    const rb = requestBlock();
    const frames: Buffer[] = [];
    for (let i = 0; i < 1100; i++) frames.push(headers(1 + 2 * i, rb), rstStream(1 + 2 * i, E.CANCEL));
    c.send(...frames);
    await c.waitFor(() => c.received.find((f) => f.type === T.GOAWAY), "GOAWAY");
    const goaway = c.received.find((f) => f.type === T.GOAWAY)!;
    expect(ERROR_NAMES[goaway.payload.readUInt32BE(4)]).toBe("ENHANCE_YOUR_CALM");
    // The budget is 1000 resets (plus what 33 a second refill during the test).
    expect(h.recs.size).toBeGreaterThan(1000);
    expect(h.recs.size).toBeLessThan(1100);
    await c.waitClosed();
  });

  it("resets without error a stream it ended while the client was still sending", async () => {
    const h = await open({ setup: (r) => (r.autoReply = false) });
    const c = h.client;
    c.send(headers(1, requestBlock()), data(1, grpcMessage("first")));
    const r = await h.waitStream(1);
    expect(await c.syncFmt()).toEqual([]);
    r.stream.reply(RESP_HEADERS, REPLY_PAYLOAD, TRAILERS);
    expect(await c.syncFmt()).toEqual([...unaryFrames(1), "RST_STREAM s1 NO_ERROR"]);
    expect(r.events).toEqual(["data:10", "close"]);
    // Data the client had in flight is dropped without error.
    c.send(data(1, grpcMessage("late"), true));
    expect(await c.syncFmt()).toEqual([]);
    expect(h.conn().streamCount).toBe(0);
  });
});
