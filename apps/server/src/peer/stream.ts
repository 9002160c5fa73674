import { constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { Readable } from "node:stream";
import type { ConnectionOptions } from "node:tls";
import { raftpb } from "@etcd-ts/proto";
import type { Logger } from "../log.js";
import { hexId } from "../ids.js";
import { varintSize } from "../varint.js";
import { connectPeer, destroySoon } from "./dial.js";
import { H_CLUSTER_ID, H_FROM, H_TO, MAX_BATCH_BYTES, PATH_STREAM } from "./headers.js";

/*
 * Message streams: a member receives its peers' raft messages on requests it dials itself
 * (etcd's rafthttp streamReader), so that a cut of the traffic toward its own peer port only
 * costs it the connections its peers dialed, which carry its outgoing messages back.
 *
 * Reader X dials writer Y: POST PATH_STREAM with H_CLUSTER_ID, H_FROM (X) and H_TO (Y) on a
 * session of its own whose receive windows are STREAM_WINDOW. Y answers 200 (412 for another
 * cluster or another member than H_TO names, 410 for a removed member, 404 when it does not
 * know X) and keeps the response open: frames of [u32 big-endian length][raftpb.MessageBatch],
 * each holding the messages of one send for X (several consecutive frames for a send over the
 * batch bound, see encodeBatches), in order; an empty frame is a keepalive,
 * written when nothing else was for a heartbeat (the first frame is one). X keeps its request
 * body open and writes acknowledgements on it: the count of frames received so far (u32
 * big-endian, wrapping), at once for the first frame and then every heartbeat. Y uses the
 * stream once the first frame was acknowledged and while acknowledgements keep coming
 * (otherwise its messages for X go by POST): a stream whose answers are held back (a cut of
 * what Y sends back on X's connection) is then not used, while one whose acknowledgements are
 * held back (a cut toward Y's port) still delivers what was written on it.
 */

/** STREAM_WINDOW is the reader's HTTP/2 receive window on its stream sessions (stream and connection): what a writer may send while the reader's window updates are held back. */
export const STREAM_WINDOW = 128 * 1024 * 1024;
/** MAX_STREAM_BUFFERED bounds what a writer buffers for a stream that does not drain; past it, messages are dropped (raft retries). */
export const MAX_STREAM_BUFFERED = 4 * 1024 * 1024;
/** MAX_ACK_BUFFERED: the reader skips an acknowledgement while this much of its request body is unsent. */
const MAX_ACK_BUFFERED = 64 * 1024;
/** RETRY_MIN_MS and RETRY_MAX_MS bound the backoff between a reader's dials. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1000;

const EMPTY = Buffer.alloc(0);

/** encodeFrame is one stream frame: the length prefix and `body` (an encoded MessageBatch, empty for a keepalive). */
export function encodeFrame(body: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(4 + body.length);
  f.writeUInt32BE(body.length, 0);
  f.set(body, 4);
  return f;
}

/**
 * encodeBatches encodes the messages of one send as MessageBatch bodies of at most maxBytes
 * each, in order: one body when they fit (the usual case), else as many as needed, each
 * holding consecutive messages. A single message longer than maxBytes gets a body of its own
 * (it cannot be split; peerBatchLimit makes the bound hold the largest legal one).
 */
export function encodeBatches(messages: raftpb.Message[], maxBytes: number): Uint8Array[] {
  const whole = raftpb.MessageBatch.encode({ messages }).finish();
  if (whole.length <= maxBytes || messages.length <= 1) return [whole];
  const out: Uint8Array[] = [];
  let group: raftpb.Message[] = [];
  let size = 0;
  for (const m of messages) {
    const n = raftpb.Message.encode(m).finish().length;
    // In a MessageBatch each message is field 1, length-delimited: a tag byte, the length varint, the message.
    const field = 1 + varintSize(n) + n;
    if (group.length > 0 && size + field > maxBytes) {
      out.push(raftpb.MessageBatch.encode({ messages: group }).finish());
      group = [];
      size = 0;
    }
    group.push(m);
    size += field;
  }
  out.push(raftpb.MessageBatch.encode({ messages: group }).finish());
  return out;
}


/** FrameSplitter cuts received bytes into length-prefixed frames of at most `max` bytes. */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  /** push adds received bytes and returns the frames they complete; it throws for a frame longer than max. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.size < 4) return out;
      let head = this.chunks[0] as Buffer;
      if (head.length < 4) {
        head = Buffer.concat(this.chunks);
        this.chunks = [head];
      }
      const n = head.readUInt32BE(0);
      if (n > this.max) throw new Error(`peer: stream frame of ${n} bytes exceeds ${this.max}`);
      if (this.size < 4 + n) return out;
      if (head.length < 4 + n) {
        head = Buffer.concat(this.chunks);
        this.chunks = [head];
      }
      out.push(head.subarray(4, 4 + n));
      const rest = head.subarray(4 + n);
      if (rest.length > 0) this.chunks[0] = rest;
      else this.chunks.shift();
      this.size -= 4 + n;
    }
  }
}

/** StreamWriterEvents are what a writer reports to its transport. */
export interface StreamWriterEvents {
  /** acked: the reader acknowledged new frames; `first` for its first acknowledgement (the stream is confirmed). */
  acked(first: boolean): void;
  /** closed: the stream ended (the reader went away, the session died, or it was replaced). */
  closed(): void;
}

/**
 * StreamWriter is the writer's side of one stream: the open response on which this member
 * writes a peer's messages, and the acknowledgements the peer sends back on its request.
 */
export class StreamWriter {
  private sent = 0;
  private acked = 0;
  private confirmed = false;
  /** pendingSince is 0 when every frame was acknowledged, else when the acknowledgements last made progress (or the first unacknowledged frame was written). */
  private pendingSince = 0;
  /** lastWrite is when a frame was last written (ms since the epoch). */
  lastWrite = 0;
  private ackRest = EMPTY;

  constructor(
    private readonly stream: ServerHttp2Stream,
    acks: Readable,
    clusterId: bigint,
    private readonly events: StreamWriterEvents,
  ) {
    stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200, [h2.HTTP2_HEADER_CONTENT_TYPE]: "application/octet-stream", [H_CLUSTER_ID]: hexId(clusterId) });
    stream.on("error", () => undefined);
    stream.on("close", () => events.closed());
    acks.on("data", (c: Buffer) => this.onAcks(c));
    this.keepalive(Date.now());
  }

  /** open: the stream can still be written. */
  get open(): boolean {
    return !this.stream.destroyed && !this.stream.closed;
  }

  /** buffered is what was written but not yet handed to the connection (bytes). */
  get buffered(): number {
    return this.stream.writableLength;
  }

  /** usable: the stream is open, its reader confirmed it, and its acknowledgements did not stall for `stallMs`. */
  usable(now: number, stallMs: number): boolean {
    return this.confirmed && this.open && (this.pendingSince === 0 || now - this.pendingSince < stallMs);
  }

  /** write writes one frame; false (nothing written) when more than MAX_STREAM_BUFFERED waits to be sent. */
  write(frame: Buffer, now: number): boolean {
    return this.writeFrames([frame], now);
  }

  /**
   * writeFrames writes the frames of one send, all of them or (false) none: none when more
   * than MAX_STREAM_BUFFERED waits to be sent, so a send is kept or dropped whole.
   */
  writeFrames(frames: readonly Buffer[], now: number): boolean {
    if (!this.open || this.stream.writableLength > MAX_STREAM_BUFFERED) return false;
    for (const frame of frames) {
      this.stream.write(frame);
      if (this.sent === this.acked) this.pendingSince = now;
      this.sent = (this.sent + 1) >>> 0;
    }
    this.lastWrite = now;
    return true;
  }

  /** keepalive writes an empty frame. */
  keepalive(now: number): void {
    this.write(encodeFrame(EMPTY), now);
  }

  /** close resets the stream (its reader dials again). */
  close(): void {
    if (this.open) this.stream.close(h2.NGHTTP2_CANCEL);
  }

  private onAcks(c: Buffer): void {
    const buf = this.ackRest.length === 0 ? c : Buffer.concat([this.ackRest, c]);
    const whole = buf.length - (buf.length % 4);
    this.ackRest = whole === buf.length ? EMPTY : Buffer.from(buf.subarray(whole));
    if (whole === 0) return;
    const count = buf.readUInt32BE(whole - 4);
    const unacked = (this.sent - count) >>> 0;
    // Acknowledgements count up to what was sent; anything else is not progress.
    if (count === this.acked || unacked > ((this.sent - this.acked) >>> 0)) return;
    this.acked = count;
    this.pendingSince = unacked === 0 ? 0 : Date.now();
    const first = !this.confirmed;
    this.confirmed = true;
    this.events.acked(first);
  }
}

/** StreamReaderOptions wire a reader to its transport. */
export interface StreamReaderOptions {
  localId: bigint;
  peerId: bigint;
  urls: string[];
  clusterId: () => bigint;
  tls: ConnectionOptions | undefined;
  logger: Logger;
  /** deadMs: a stream that brought no frame (or no answer) for this long is dropped and dialed again. */
  deadMs: number;
  step: (m: raftpb.Message) => void;
  /** up runs on the first frame of each stream: the link to the peer works. */
  up: () => void;
  /** alive runs for every frame received. */
  alive: () => void;
  /** down runs when a stream fails (error, refusal, silence): the link to the peer is down. */
  down: () => void;
  /** removed runs when the peer answers 410 Gone: this member was removed from the cluster. */
  removed: () => void;
  /** maxBatchBytes bounds one frame's batch (default MAX_BATCH_BYTES); a longer frame drops the stream. */
  maxBatchBytes?: number;
  /** received, when set, gets the size in bytes of each non-empty frame's batch (the metrics). */
  received?: (bytes: number) => void;
}

/**
 * StreamReader keeps one stream from a peer open: it dials (with backoff), steps the messages
 * of every frame, acknowledges frames, and drops and dials again a stream that fails or
 * stays silent for deadMs.
 */
export class StreamReader {
  private session: ClientHttp2Session | undefined;
  private req: ClientHttp2Stream | undefined;
  private splitter: FrameSplitter;
  /** answered: the current request was answered 200. */
  private answered = false;
  /** established: the current stream brought its first frame. */
  private established = false;
  /** last is when the current request was dialed or last brought a frame. */
  private last = 0;
  private received = 0;
  private ackedCount = 0;
  private retryAt = 0;
  private backoffMs = RETRY_MIN_MS;
  private urlIndex = 0;
  private stopped = false;

/** liveSession is the HTTP/2 session of the stream while it is connected (for probes that ride along). */
  get liveSession(): ClientHttp2Session | undefined {
    const s = this.session;
    return s !== undefined && !s.closed && !s.destroyed && !s.connecting ? s : undefined;
  }

    constructor(private readonly o: StreamReaderOptions) {
    this.splitter = new FrameSplitter(o.maxBatchBytes ?? MAX_BATCH_BYTES);
  }

  /** setUrls changes the peer's URLs; the current stream is dropped and the new URLs dialed. */
  setUrls(urls: string[]): void {
    this.o.urls = urls;
    this.urlIndex = 0;
    this.drop(false, 0);
  }

  /** tick runs every heartbeat: it dials when due, acknowledges what arrived, and drops a silent stream. */
  tick(now: number): void {
    if (this.stopped) return;
    if (this.req === undefined) {
      if (now >= this.retryAt) this.dial(now);
      return;
    }
    if (now - this.last > this.o.deadMs) {
      this.lost(this.answered ? `no frame for ${this.o.deadMs}ms` : `no answer for ${this.o.deadMs}ms`);
      return;
    }
    if (this.established && this.received !== this.ackedCount) this.ack();
  }

  /** close drops the stream for good. */
  close(): void {
    this.stopped = true;
    this.drop(false, 0);
  }

  private dial(now: number): void {
    const url = this.o.urls[this.urlIndex % this.o.urls.length];
    if (url === undefined) return;
    let s: ClientHttp2Session;
    let req: ClientHttp2Stream;
    try {
      s = connectPeer(url, this.o.tls, { settings: { initialWindowSize: STREAM_WINDOW } });
      req = s.request(
        {
          [h2.HTTP2_HEADER_METHOD]: "POST",
          [h2.HTTP2_HEADER_PATH]: PATH_STREAM,
          [H_CLUSTER_ID]: hexId(this.o.clusterId()),
          [H_FROM]: hexId(this.o.localId),
          [H_TO]: hexId(this.o.peerId),
        },
        { endStream: false },
      );
    } catch {
      this.retryAt = now + this.backoffMs;
      this.backoffMs = Math.min(RETRY_MAX_MS, this.backoffMs * 2);
      return;
    }
    s.unref();
    s.on("connect", () => {
      try {
        s.setLocalWindowSize(STREAM_WINDOW);
      } catch {
        // The session is already going away; its close is handled below.
      }
    });
    s.on("error", () => {
      if (this.session === s) this.lost("session error");
    });
    s.on("close", () => {
      if (this.session === s) this.lost("session closed");
    });
    req.on("response", (h) => {
      if (this.req === req) this.onResponse(h);
    });
    req.on("data", (c: Buffer) => {
      if (this.req === req) this.onData(c);
    });
    req.on("error", () => {
      if (this.req === req) this.lost("stream error");
    });
    req.on("close", () => {
      if (this.req === req) this.lost("stream closed");
    });
    this.session = s;
    this.req = req;
    this.splitter = new FrameSplitter(this.o.maxBatchBytes ?? MAX_BATCH_BYTES);
    this.answered = false;
    this.established = false;
    this.last = now;
    this.received = 0;
    this.ackedCount = 0;
  }

  private onResponse(h: IncomingHttpHeaders): void {
    const status = Number(h[h2.HTTP2_HEADER_STATUS]);
    if (status === 200 && h[H_CLUSTER_ID] === hexId(this.o.clusterId())) {
      this.answered = true;
      this.last = Date.now();
      return;
    }
    if (status === 410) this.o.removed();
    if (status === 412 || status === 200) {
      this.o.logger.warn("request cluster ID mismatch", {
        "local-member-id": hexId(this.o.localId),
        "remote-peer-id": hexId(this.o.peerId),
        "local-member-cluster-id": hexId(this.o.clusterId()),
      });
    }
    // 404: the peer does not know this member (yet), or serves no streams: not a link failure.
    if (status === 404) this.drop(false, this.nextBackoff());
    else this.lost(`answered ${status}`);
  }

  private onData(c: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.splitter.push(c);
    } catch (err) {
      this.lost(String(err));
      return;
    }
    if (frames.length === 0) return;
    this.last = Date.now();
    for (const f of frames) {
      this.received = (this.received + 1) >>> 0;
      if (!this.established) {
        this.established = true;
        this.backoffMs = RETRY_MIN_MS;
        this.o.logger.info("established TCP streaming connection with remote peer", {
          "local-member-id": hexId(this.o.localId),
          "remote-peer-id": hexId(this.o.peerId),
        });
        this.o.up();
        this.ack();
      }
      if (f.length === 0) continue;
      this.o.received?.(f.length);
      let batch: raftpb.MessageBatch;
      try {
        batch = raftpb.MessageBatch.decode(f);
      } catch {
        this.lost("bad message batch");
        return;
      }
      for (const m of batch.messages) this.o.step(m);
      // A step may have stopped this member or replaced this stream.
      if (this.req === undefined || this.stopped) return;
    }
    this.o.alive();
  }

  private ack(): void {
    const req = this.req;
    if (req === undefined || req.destroyed || req.writableLength > MAX_ACK_BUFFERED) return;
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(this.received, 0);
    req.write(b);
    this.ackedCount = this.received;
  }

  private nextBackoff(): number {
    const ms = this.backoffMs;
    this.backoffMs = Math.min(RETRY_MAX_MS, this.backoffMs * 2);
    return ms;
  }

  /** lost drops a failed stream: the link is down; the next dial goes to the next URL after a backoff. */
  private lost(why: string): void {
    if (this.established) {
      this.o.logger.warn("lost TCP streaming connection with remote peer", {
        "local-member-id": hexId(this.o.localId),
        "remote-peer-id": hexId(this.o.peerId),
        error: why,
      });
    }
    this.urlIndex++;
    this.drop(true, this.nextBackoff());
  }

  /** drop closes the current session; the next dial is in `retryMs`. */
  private drop(down: boolean, retryMs: number): void {
    const s = this.session;
    this.session = undefined;
    this.req = undefined;
    this.answered = false;
    this.established = false;
    this.retryAt = Date.now() + retryMs;
    if (s !== undefined) destroySoon(s);
    if (down && !this.stopped) this.o.down();
  }
}
