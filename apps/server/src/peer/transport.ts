import { constants as h2, type ClientHttp2Session, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { PassThrough } from "node:stream";
import type { ConnectionOptions } from "node:tls";
import { raftpb } from "@etcd-ts/proto";
import type { Logger } from "../log.js";
import { hexId } from "../ids.js";
import type { Transport } from "../raft_node.js";
import { H_CLUSTER_ID, H_FROM, H_TO, MAX_BATCH_BYTES, PATH_MESSAGES, PATH_PROBING, PATH_SNAPSHOT } from "./headers.js";
import { connectPeer, destroySoon } from "./dial.js";
import { writeFrame } from "./snapshot_stream.js";
import type { PeerObserver } from "./observer.js";
import { encodeBatches, encodeFrame, StreamReader, StreamWriter } from "./stream.js";

/** MAX_INFLIGHT_BATCHES bounds unanswered batches per peer; beyond it messages are dropped (raft retries). */
const MAX_INFLIGHT_BATCHES = 128;
/** RETRY_MIN_MS and RETRY_MAX_MS bound the reconnect backoff to an unreachable peer. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1000;
/** REQUEST_TIMEOUT_MS fails a batch that gets no answer (the peer is then reported unreachable). */
const REQUEST_TIMEOUT_MS = 5000;
/**
 * PROBE_INTERVAL_MS: a peer that answered nothing for this long is sent an empty batch, so
 * that the link to every peer is known to be up or down even when raft has nothing to send
 * it (a follower sends only to the leader), as etcd's rafthttp streams to every peer are.
 * A peer whose streams bring frames or acknowledgements is not probed.
 */
const PROBE_INTERVAL_MS = 1000;
/**
 * RTT_PROBE_INTERVAL_MS is how often each peer's round-trip time is probed (GET
 * /raft/probing), as etcd's rafthttp prober does (its proberInterval, 4 s); the times feed
 * etcd_network_peer_round_trip_time_seconds.
 */
const RTT_PROBE_INTERVAL_MS = 4000;
/** DEFAULT_HEARTBEAT_MS and DEFAULT_ELECTION_MS are etcd's defaults, for a transport given no raft timing. */
const DEFAULT_HEARTBEAT_MS = 100;
const DEFAULT_ELECTION_MS = 1000;

/** EMPTY_BATCH is an encoded MessageBatch with no messages (an idle probe). */
const EMPTY_BATCH = new Uint8Array(0);

/** SnapshotSource writes the backend and membership of this member into a snapshot stream. */
export type SnapshotSource = (out: PassThrough) => Promise<void>;

/** PeerTransportOptions wires the transport to its member. */
export interface PeerTransportOptions {
  memberId: bigint;
  clusterId: () => bigint;
  logger: Logger;
  tls?: ConnectionOptions;
  reportUnreachable: (id: bigint) => void;
  reportSnapshot: (id: bigint, ok: boolean) => void;
  snapshotSource: SnapshotSource;
  /** removed runs when a peer answers 410 Gone: this member was removed from the cluster. */
  removed: () => void;
  /** step hands a message received on a stream from a peer to raft (what the listener does with a POSTed batch). */
  step: (m: raftpb.Message) => void;
  /** heartbeatMs paces stream keepalives and acknowledgements (default 100). */
  heartbeatMs?: number;
  /**
   * electionMs (default 1000): a stream whose acknowledgements stall for half of it is not
   * written to (messages go by POST), and one that brings nothing for three times it is
   * dialed again.
   */
  electionMs?: number;
  /**
   * maxBatchBytes bounds one batch this member sends (a stream frame or a POST body) and one
   * it receives on the streams it dials: peerBatchLimit(--max-request-bytes), default
   * MAX_BATCH_BYTES. The peers' listeners must accept as much (PeerListener.listen).
   */
  maxBatchBytes?: number;
  /**
   * observer is told the bytes of each batch sent (stream frame or POST) and read from a
   * stream, and the round trip of each POSTed batch (probes included) that a peer answered.
   */
  observer?: PeerObserver;
}

/** Peer is one remote member: its URLs, its HTTP/2 session and its backoff state. */
interface Peer {
  id: bigint;
  urls: string[];
  urlIndex: number;
  session: ClientHttp2Session | undefined;
  inflight: number;
  /** lastOk is when the peer last answered a batch (ms since the epoch), 0 if never. */
  lastOk: number;
  retryAt: number;
  backoffMs: number;
  snapshotting: boolean;
  /** reader keeps this member's stream from the peer (the peer's messages for this member). */
  reader: StreamReader;
  /** out is the stream the peer dialed to this member, on which this member writes its messages for the peer. */
  out: StreamWriter | undefined;
  /** probing: a round-trip probe to the peer is in flight. */
  probing: boolean;
  /** refusal is why the peer last refused this member's connection (logged once until it answers again). */
  refusal: string | undefined;
}

/**
 * PeerTransport exchanges raft messages with the other members over HTTP/2, as etcd's
 * rafthttp does. Each member dials a stream to every peer and receives that peer's messages
 * on it (stream.ts); the messages of one send for a peer (all messages of a Ready for it) go
 * as one frame on the stream the peer dialed, while that stream is confirmed and
 * acknowledged, else as one POST (the pipeline); messages over maxBatchBytes go as several
 * frames (read in order) or POSTs (sent in order, possibly read out of order, which raft
 * tolerates as it does reordering in the network); snapshots always go as a POSTed stream.
 * A peer that cannot be reached is reported to raft and retried with backoff; messages to it
 * meanwhile are dropped, which raft tolerates. It tracks since when the link to each peer
 * has been up (activeSince, etcd's Transporter.ActiveSince), probing idle peers.
 */
export class PeerTransport implements Transport {
  private readonly peers = new Map<bigint, Peer>();
  /** since is when the link to each peer came up: its first answer after being down. */
  private readonly since = new Map<bigint, number>();
  private readonly probe: NodeJS.Timeout;
  private readonly rttProbe: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private readonly heartbeatMs: number;
  private readonly stallMs: number;
  private readonly deadMs: number;
  private readonly maxBatchBytes: number;
  private stopped = false;

  constructor(private readonly o: PeerTransportOptions) {
    this.heartbeatMs = Math.max(10, o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    const electionMs = o.electionMs ?? DEFAULT_ELECTION_MS;
    this.stallMs = Math.max(electionMs / 2, 3 * this.heartbeatMs);
    this.deadMs = Math.max(3 * electionMs, 3 * this.heartbeatMs);
    this.maxBatchBytes = o.maxBatchBytes ?? MAX_BATCH_BYTES;
    this.probe = setInterval(() => this.probeIdle(), PROBE_INTERVAL_MS);
    this.probe.unref();
    if (o.observer !== undefined) {
      this.rttProbe = setInterval(() => this.probeRoundTrips(), RTT_PROBE_INTERVAL_MS);
      this.rttProbe.unref();
    }
    this.ticker = setInterval(() => this.tick(), this.heartbeatMs);
    this.ticker.unref();
  }

  /** setPeers makes the peer set equal to `members` (ID -> peer URLs), excluding this member. */
  setPeers(members: Iterable<{ id: bigint; peerUrls: string[] }>): void {
    const want = new Map<bigint, string[]>();
    for (const m of members) if (m.id !== this.o.memberId) want.set(m.id, m.peerUrls);
    for (const [id, p] of this.peers) {
      if (!want.has(id)) {
        if (p.session !== undefined) destroySoon(p.session);
        p.reader.close();
        p.out?.close();
        this.peers.delete(id);
        this.since.delete(id);
      }
    }
    for (const [id, urls] of want) {
      const p = this.peers.get(id);
      if (p === undefined) {
        const np: Peer = { id, urls, urlIndex: 0, session: undefined, inflight: 0, lastOk: 0, retryAt: 0, backoffMs: RETRY_MIN_MS, snapshotting: false, reader: this.reader(id, urls), out: undefined, probing: false, refusal: undefined };
        this.peers.set(id, np);
        np.reader.tick(Date.now());
      } else if (p.urls.join(",") !== urls.join(",")) {
        p.urls = urls;
        if (p.session !== undefined) destroySoon(p.session);
        p.session = undefined;
        p.reader.setUrls(urls);
      }
    }
  }

  /**
   * attachStream serves a peer's POST /raft/stream (the listener has checked its cluster ID
   * and that it was not removed): 412 unless it names this member as H_TO, 404 for a member
   * this transport does not know; else the response becomes the stream this member writes
   * its messages for that peer on, replacing any earlier one.
   */
  attachStream(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const from = parseMemberId(req.headers[H_FROM]);
    const to = parseMemberId(req.headers[H_TO]);
    if (to !== this.o.memberId) {
      this.o.logger.warn("ignored streaming request; ID mismatch", {
        "local-member-id": hexId(this.o.memberId),
        "remote-peer-id-header": String(req.headers[H_TO]),
        "remote-peer-id-from": String(req.headers[H_FROM]),
      });
      res.writeHead(412, { [H_CLUSTER_ID]: hexId(this.o.clusterId()) }).end("to field mismatch");
      req.resume();
      return;
    }
    const p = from === undefined || this.stopped ? undefined : this.peers.get(from);
    if (p === undefined) {
      this.o.logger.warn("failed to find remote peer in cluster", {
        "local-member-id": hexId(this.o.memberId),
        "remote-peer-id-from": String(req.headers[H_FROM]),
        "cluster-id": hexId(this.o.clusterId()),
      });
      res.writeHead(404).end("error sender not found");
      req.resume();
      return;
    }
    const old = p.out;
    const w: StreamWriter = new StreamWriter(res.stream, req, this.o.clusterId(), {
      acked: () => {
        if (p.out === w) this.up(p);
      },
      closed: () => {
        if (p.out !== w) return;
        p.out = undefined;
        // What was written and not yet read may be lost: raft resends it after probing.
        if (!this.stopped) this.o.reportUnreachable(p.id);
      },
    });
    p.out = w;
    old?.close();
  }

  /**
   * streaming reports whether messages for peer `id` go on a stream now (the stream it dialed
   * is attached, confirmed and acknowledged) rather than by POST.
   */
  streaming(id: bigint): boolean {
    return this.peers.get(id)?.out?.usable(Date.now(), this.stallMs) ?? false;
  }

  send(messages: raftpb.Message[]): void {
    if (this.stopped) return;
    const byPeer = new Map<bigint, raftpb.Message[]>();
    for (const m of messages) {
      if (m.type === raftpb.MessageType.MSG_SNAP) {
        this.sendSnapshot(m);
        continue;
      }
      const list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, [m]);
      else list.push(m);
    }
    const now = Date.now();
    for (const [to, list] of byPeer) {
      // Batches the peer accepts: a longer frame would drop the stream, a longer POST get a 413.
      const bodies = encodeBatches(list, this.maxBatchBytes);
      const out = this.peers.get(to)?.out;
      if (out === undefined || !out.usable(now, this.stallMs)) {
        for (const body of bodies) this.sendBatch(to, body);
        continue;
      }
      // A stream that does not drain drops sends past its bound, as the inflight cap does.
      if (!out.writeFrames(bodies.map(encodeFrame), now)) {
        this.o.observer?.sendFailed(to);
        this.o.reportUnreachable(to);
      } else if (this.o.observer !== undefined) {
        for (const b of bodies) this.o.observer.sent(to, b.length);
      }
    }
  }

  /**
   * activeSince is when the link to peer `id` came up (ms since the epoch), or 0 while it is
   * down: etcd's ActiveSince. A link is up from the peer's first answer; it goes down when a
   * batch fails (error, timeout, refusal) or the session closes.
   */
  activeSince(id: bigint): number {
    return this.since.get(id) ?? 0;
  }

  /** stop closes every session and stream. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.probe);
    if (this.rttProbe !== undefined) clearInterval(this.rttProbe);
    clearInterval(this.ticker);
    for (const p of this.peers.values()) {
      p.session?.destroy();
      p.reader.close();
      p.out?.close();
    }
    this.peers.clear();
    this.since.clear();
  }

  /** reader is the stream reader for peer `id`: its frames' messages go to raft, its frames bring the link up. */
  private reader(id: bigint, urls: string[]): StreamReader {
    const peer = (): Peer | undefined => this.peers.get(id);
    return new StreamReader({
      localId: this.o.memberId,
      peerId: id,
      urls,
      clusterId: this.o.clusterId,
      tls: this.o.tls,
      logger: this.o.logger,
      deadMs: this.deadMs,
      maxBatchBytes: this.maxBatchBytes,
      step: (m) => {
        if (!this.stopped) this.o.step(m);
      },
      up: () => {
        const p = peer();
        if (p !== undefined) this.up(p);
      },
      alive: () => {
        const p = peer();
        if (p !== undefined) p.lastOk = Date.now();
      },
      down: () => {
        if (peer() !== undefined) this.since.delete(id);
      },
      removed: () => this.o.removed(),
      ...(this.o.observer === undefined ? {} : { received: (n: number) => this.o.observer?.received(id, n) }),
    });
  }

  /** up records an answer from peer p: the link is up (since now, if it was down). */
  private up(p: Peer): void {
    p.refusal = undefined;
    p.lastOk = Date.now();
    if (!this.since.has(p.id)) this.since.set(p.id, p.lastOk);
  }

  /** tick runs every heartbeat: stream readers dial, acknowledge and check for silence; idle streams get a keepalive. */
  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const p of this.peers.values()) {
      p.reader.tick(now);
      if (p.out !== undefined && now - p.out.lastWrite >= this.heartbeatMs) p.out.keepalive(now);
    }
  }

  /** probeIdle sends an empty batch to each peer that answered nothing for PROBE_INTERVAL_MS and has nothing in flight. */
  private probeIdle(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const p of this.peers.values()) {
      if (p.inflight === 0 && now - p.lastOk >= PROBE_INTERVAL_MS) this.sendBatch(p.id, EMPTY_BATCH);
    }
  }

  /**
   * probeRoundTrips times a GET /raft/probing to each peer (at most one in flight per peer)
   * and reports the round trip to the observer.
   */
  private probeRoundTrips(): void {
    if (this.stopped) return;
    for (const p of this.peers.values()) {
      if (p.probing) continue;
      // Probes ride on a connection already up (the stream this member dialed, else the POST
      // session): a probe never dials, so its failures cannot disturb the message paths.
      const post = p.session !== undefined && !p.session.closed && !p.session.destroyed && !p.session.connecting ? p.session : undefined;
      const s = p.reader.liveSession ?? post;
      if (s === undefined) continue;
      let req;
      try {
        req = s.request({ [h2.HTTP2_HEADER_METHOD]: "GET", [h2.HTTP2_HEADER_PATH]: PATH_PROBING });
      } catch {
        continue;
      }
      p.probing = true;
      const sentAt = performance.now();
      const done = (): void => {
        p.probing = false;
      };
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.close(h2.NGHTTP2_CANCEL));
      req.on("response", (h) => {
        if (Number(h[h2.HTTP2_HEADER_STATUS]) === 200) this.o.observer?.roundTrip(p.id, (performance.now() - sentAt) / 1000);
      });
      req.on("error", done);
      req.on("close", done);
      req.resume();
    }
  }

  private session(p: Peer): ClientHttp2Session | undefined {
    if (p.session !== undefined && !p.session.closed && !p.session.destroyed) return p.session;
    if (Date.now() < p.retryAt) return undefined;
    const url = p.urls[p.urlIndex % p.urls.length];
    if (url === undefined) return undefined;
    const s = connectPeer(url, this.o.tls);
    s.on("goaway", (code: number, _lastStreamId: number, data?: Buffer) => this.refused(p, url, code, data));
    s.on("error", () => this.fail(p, s));
    s.on("close", () => {
      if (p.session !== s) return;
      p.session = undefined;
      this.since.delete(p.id);
    });
    s.on("connect", () => {
      p.backoffMs = RETRY_MIN_MS;
    });
    s.unref();
    p.session = s;
    return s;
  }

  /**
   * refused logs a peer listener's refusal of this member's connection: a GOAWAY with an
   * error code and a reason, as a listener sends when this member's certificate is not the
   * one its --peer-cert-allowed-cn or --peer-cert-allowed-hostname allows (etcd's peer gets a
   * "bad certificate" alert instead). Logged once per reason until the peer answers.
   */
  private refused(p: Peer, url: string, code: number, data: Buffer | undefined): void {
    if (code === h2.NGHTTP2_NO_ERROR || data === undefined || data.length === 0) return;
    const why = data.subarray(0, 256).toString("utf8");
    if (p.refusal === why) return;
    p.refusal = why;
    this.o.logger.warn("remote peer rejected connection", {
      "local-member-id": hexId(this.o.memberId),
      "remote-peer-id": hexId(p.id),
      "remote-peer-url": url,
      error: why,
    });
  }

  private fail(p: Peer, s?: ClientHttp2Session): void {
    if (s !== undefined && p.session !== s) return;
    if (s !== undefined) destroySoon(s);
    p.session = undefined;
    this.since.delete(p.id);
    p.urlIndex++;
    p.retryAt = Date.now() + p.backoffMs;
    p.backoffMs = Math.min(RETRY_MAX_MS, p.backoffMs * 2);
    this.o.reportUnreachable(p.id);
  }

  private headers(path: string, to: bigint): Record<string, string> {
    return {
      [h2.HTTP2_HEADER_METHOD]: "POST",
      [h2.HTTP2_HEADER_PATH]: path,
      [H_CLUSTER_ID]: hexId(this.o.clusterId()),
      [H_FROM]: hexId(this.o.memberId),
      [H_TO]: hexId(to),
    };
  }

  /** sendBatch POSTs one encoded MessageBatch (at most maxBatchBytes, see send) to peer `to`. */
  private sendBatch(to: bigint, batch: Uint8Array): void {
    const p = this.peers.get(to);
    if (p === undefined) return;
    const s = this.session(p);
    if (s === undefined || p.inflight >= MAX_INFLIGHT_BATCHES) {
      this.o.observer?.sendFailed(to);
      this.o.reportUnreachable(to);
      return;
    }
    const body = Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
    let req;
    try {
      req = s.request(this.headers(PATH_MESSAGES, to), { endStream: false });
    } catch {
      this.o.observer?.sendFailed(to);
      this.fail(p, s);
      return;
    }
    p.inflight++;
    const sentAt = performance.now();
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      p.inflight--;
      if (ok) {
        this.o.observer?.sent(to, batch.length);
        this.up(p);
      } else {
        this.o.observer?.sendFailed(to);
        this.fail(p, s);
      }
    };
    req.setTimeout(REQUEST_TIMEOUT_MS, () => {
      req.close(h2.NGHTTP2_CANCEL);
      finish(false);
    });
    req.on("response", (h) => {
      const status = Number(h[h2.HTTP2_HEADER_STATUS]);
      if (status < 300) this.o.observer?.roundTrip(to, (performance.now() - sentAt) / 1000);
      if (status === 410) this.o.removed();
      if (status === 412) {
        this.o.logger.warn("request cluster ID mismatch", {
          "local-member-id": hexId(this.o.memberId),
          "remote-peer-id": hexId(to),
          "local-member-cluster-id": hexId(this.o.clusterId()),
        });
      }
      finish(status === 204 || status === 200);
    });
    req.on("error", () => finish(false));
    // A stream closed with no response (the session died under it) must free its slot too.
    req.on("close", () => finish(false));
    req.resume();
    req.end(body);
  }

  private sendSnapshot(m: raftpb.Message): void {
    const p = this.peers.get(m.to);
    if (p === undefined || p.snapshotting) return;
    const s = this.session(p);
    if (s === undefined) {
      this.o.reportSnapshot(m.to, false);
      return;
    }
    p.snapshotting = true;
    const body = new PassThrough();
    const req = s.request(this.headers(PATH_SNAPSHOT, m.to), { endStream: false });
    const done = (ok: boolean): void => {
      // A request that ended early leaves the body unread: end it, so the writer feeding it
      // (EtcdServer.writeSnapshot, which holds log compaction while it runs) fails and stops.
      if (!ok && !body.destroyed) body.destroy();
      if (!p.snapshotting) return;
      p.snapshotting = false;
      this.o.reportSnapshot(m.to, ok);
      this.o.logger.info(ok ? "sent database snapshot" : "failed to send database snapshot", {
        "remote-peer-id": hexId(m.to),
        "snapshot-index": m.snapshot?.metadata?.index ?? 0n,
      });
    };
    req.on("response", (h) => done(Number(h[h2.HTTP2_HEADER_STATUS]) === 204));
    req.on("error", () => done(false));
    req.on("close", () => done(false));
    req.resume();
    body.pipe(req);
    const meta = { ...m, snapshot: m.snapshot === undefined ? undefined : { ...m.snapshot, data: Buffer.alloc(0) } };
    void (async () => {
      await writeFrame(body, Buffer.from(raftpb.Message.encode(meta).finish()));
      await this.o.snapshotSource(body);
      body.end();
    })().catch((err: unknown) => {
      this.o.logger.warn("failed to stream snapshot", { error: String(err) });
      body.destroy();
      req.close(h2.NGHTTP2_CANCEL);
      done(false);
    });
  }
}

/** parseMemberId reads a hex member ID header (undefined when absent or malformed). */
function parseMemberId(v: string | string[] | undefined): bigint | undefined {
  if (typeof v !== "string" || !/^[0-9a-f]{1,16}$/.test(v)) return undefined;
  return BigInt(`0x${v}`);
}
