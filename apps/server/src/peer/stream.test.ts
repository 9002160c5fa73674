import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, constants as h2, createServer, type ClientSessionOptions, type Http2Server } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { raftpb } from "@etcd-ts/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Logger } from "../log.js";
import { H_CLUSTER_ID, H_FROM, H_TO, MAX_BATCH_BYTES, PATH_STREAM, peerBatchLimit } from "./headers.js";
import { PeerListener, type PeerHandler } from "./server.js";
import { encodeBatches, FrameSplitter, MAX_STREAM_BUFFERED } from "./stream.js";
import { PeerTransport } from "./transport.js";

/**
 * Message streams between two in-process members (a PeerTransport and a PeerListener each):
 * a member's messages for a peer go on the stream that peer dialed, POSTs carry them only
 * while no stream is up, a broken stream is dialed again, a stream that does not drain is
 * bounded, and a stream is refused as a POST is (another cluster, a removed member).
 */

const CLUSTER = 0x5eedn;
const A = 0xan;
const B = 0xbn;

let dir: string;
const cleanup: (() => Promise<void> | void)[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etcd-ts-stream-"));
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Member is one side: its listener, its transport, and where each path delivered messages. */
interface Member {
  id: bigint;
  url: string;
  listener: PeerListener;
  transport: PeerTransport | undefined;
  viaPost: raftpb.Message[];
  viaStream: raftpb.Message[];
  unreachable: bigint[];
  removedCalls: number;
  log: string;
  removedIds: Set<bigint>;
}

interface MemberOptions {
  clusterId?: bigint;
  /** streams: the listener serves streams (attaches them to the transport); default true. */
  streams?: boolean;
  electionMs?: number;
  heartbeatMs?: number;
  port?: number;
  /** maxBatchBytes: the batch bound of the listener and the transport (default MAX_BATCH_BYTES). */
  maxBatchBytes?: number;
}

function handlerOf(m: Member, clusterId: bigint, streams: boolean): PeerHandler {
  return {
    clusterId: () => clusterId,
    step: (msg) => m.viaPost.push(msg),
    stepSnapshot: () => undefined,
    membersJson: () => "[]",
    versionJson: () => "{}",
    promote: async () => ({ status: 500, body: "" }),
    isRemoved: (id) => m.removedIds.has(id),
    hashKV: async () => {
      throw new Error("no store");
    },
    leaseRenew: async () => {
      throw new Error("no lessor");
    },
    leaseTimeToLive: () => {
      throw new Error("no lessor");
    },
    isLeaseNotFound: () => false,
    ...(streams ? { attachStream: (req, res) => m.transport?.attachStream(req, res) } : {}),
  };
}

/** listenFor starts (or restarts, on o.port) member m's listener. */
async function listenFor(m: Member, o: MemberOptions): Promise<void> {
  const l = await PeerListener.listen([new URL(`http://127.0.0.1:${o.port ?? 0}`)], handlerOf(m, o.clusterId ?? CLUSTER, o.streams ?? true), new Logger("info", [m.log]), dir, undefined, o.maxBatchBytes);
  cleanup.push(() => l.close());
  m.listener = l;
  m.url = `http://127.0.0.1:${l.addresses[0]?.split(":")[1]}`;
}

/** member starts a listener; its transport is made by connect. */
async function member(id: bigint, o: MemberOptions = {}): Promise<Member> {
  const m = {
    id,
    transport: undefined,
    viaPost: [],
    viaStream: [],
    unreachable: [],
    removedCalls: 0,
    log: join(dir, `member-${id}-${Math.random().toString(36).slice(2)}.log`),
    removedIds: new Set<bigint>(),
  } as unknown as Member;
  await listenFor(m, o);
  return m;
}

/** connectTo gives m a transport whose only peer is `peer`. */
function connectTo(m: Member, peer: Member, o: MemberOptions = {}): PeerTransport {
  const t = new PeerTransport({
    memberId: m.id,
    clusterId: () => o.clusterId ?? CLUSTER,
    logger: new Logger("info", [m.log]),
    reportUnreachable: (id) => m.unreachable.push(id),
    reportSnapshot: () => undefined,
    snapshotSource: async () => undefined,
    removed: () => m.removedCalls++,
    step: (msg) => m.viaStream.push(msg),
    ...(o.electionMs !== undefined ? { electionMs: o.electionMs } : {}),
    ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
    ...(o.maxBatchBytes !== undefined ? { maxBatchBytes: o.maxBatchBytes } : {}),
  });
  t.setPeers([{ id: peer.id, peerUrls: [peer.url] }]);
  cleanup.push(() => t.stop());
  m.transport = t;
  return t;
}

const app = (from: bigint, to: bigint, index: bigint, data = Buffer.alloc(0)): raftpb.Message =>
  raftpb.Message.fromPartial({ type: raftpb.MessageType.MSG_APP, from, to, term: 3n, index, entries: [{ term: 3n, index: index + 1n, data }] });

const logOf = (m: Member): string => (existsSync(m.log) ? readFileSync(m.log, "utf8") : "");

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** rawStream dials a stream by hand; it resolves with the answer's status and headers, and hands back the request. */
function rawStream(url: string, headers: Record<string, string>, options: ClientSessionOptions = {}) {
  const s = connect(url, options);
  s.on("error", () => undefined);
  cleanup.push(() => void s.destroy());
  const req = s.request({ ":method": "POST", ":path": PATH_STREAM, ...headers }, { endStream: false });
  req.on("error", () => undefined);
  const answered = new Promise<{ status: number; headers: Record<string, unknown>; body: () => Promise<string> }>((resolve) => {
    req.on("response", (h) =>
      resolve({
        status: Number(h[":status"]),
        headers: h,
        body: () =>
          new Promise((r) => {
            let b = "";
            req.on("data", (c: Buffer) => (b += c.toString()));
            req.on("end", () => r(b));
          }),
      }),
    );
  });
  return { session: s, req, answered };
}

const streamHeaders = (from: bigint, to: bigint, cluster = CLUSTER): Record<string, string> => ({
  [H_CLUSTER_ID]: cluster.toString(16),
  [H_FROM]: from.toString(16),
  [H_TO]: to.toString(16),
});

describe("peer message streams", () => {
  it("carries a member's messages for a peer on the stream that peer dialed, in order, one frame per send, with no POST", async () => {
    const a = await member(A);
    const b = await member(B);
    const ta = connectTo(a, b);
    const tb = connectTo(b, a);
    await until(() => ta.streaming(B) && tb.streaming(A));
    expect(ta.activeSince(B)).toBeGreaterThan(0);
    expect(tb.activeSince(A)).toBeGreaterThan(0);
    for (let i = 0n; i < 200n; i++) ta.send([app(A, B, i)]);
    tb.send([app(B, A, 7n), app(B, A, 8n)]);
    await until(() => b.viaStream.length === 200 && a.viaStream.length === 2);
    expect(b.viaStream.map((m) => m.index)).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i)));
    expect(a.viaStream.map((m) => m.index)).toEqual([7n, 8n]);
    // Nothing went by POST (the idle probes carry no messages and are not sent while streams are up).
    await new Promise((r) => setTimeout(r, 1200));
    expect(b.viaPost).toEqual([]);
    expect(a.viaPost).toEqual([]);
    expect(a.unreachable).toEqual([]);
    expect(logOf(b)).toContain("established TCP streaming connection with remote peer");
  });

  it("splits a send longer than the batch bound into several frames: every message arrives, in order, on the same stream", async () => {
    const limit = 64 * 1024;
    const a = await member(A, { maxBatchBytes: limit });
    const b = await member(B, { maxBatchBytes: limit });
    const ta = connectTo(a, b, { maxBatchBytes: limit });
    const tb = connectTo(b, a, { maxBatchBytes: limit });
    await until(() => ta.streaming(B) && tb.streaming(A));
    // One send (one Ready's messages for b) of about 5 times the bound.
    const data = Buffer.alloc(8 * 1024, 1);
    const n = 40;
    ta.send(Array.from({ length: n }, (_, i) => app(A, B, BigInt(i), data)));
    await until(() => b.viaStream.length === n);
    expect(b.viaStream.map((m) => m.index)).toEqual(Array.from({ length: n }, (_, i) => BigInt(i)));
    expect(b.viaStream.every((m) => m.entries[0]?.data.length === data.length)).toBe(true);
    // The stream held: nothing went by POST, nothing was reported unreachable, nothing was dialed again.
    expect(ta.streaming(B)).toBe(true);
    expect(b.viaPost).toEqual([]);
    expect(a.unreachable).toEqual([]);
    expect(logOf(b)).not.toContain("lost TCP streaming connection with remote peer");
    expect(logOf(b).split("established TCP streaming connection with remote peer").length).toBe(2);
  });

  it("splits a POSTed send longer than the batch bound into several POSTs, each accepted", async () => {
    const limit = 64 * 1024;
    const a = await member(A, { maxBatchBytes: limit });
    const b = await member(B, { streams: false, maxBatchBytes: limit });
    const ta = connectTo(a, b, { maxBatchBytes: limit });
    await until(() => ta.activeSince(B) > 0);
    expect(ta.streaming(B)).toBe(false);
    const data = Buffer.alloc(8 * 1024, 2);
    const n = 40;
    ta.send(Array.from({ length: n }, (_, i) => app(A, B, BigInt(i), data)));
    await until(() => b.viaPost.length === n);
    // Separate POSTs may be read in any order (raft tolerates reordering); each arrives whole, once.
    expect(b.viaPost.map((m) => m.index).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(Array.from({ length: n }, (_, i) => BigInt(i)));
    expect(a.unreachable).toEqual([]);
    expect(ta.activeSince(B)).toBeGreaterThan(0);
  });

  it("falls back to POST for a peer that dialed no stream", async () => {
    const a = await member(A);
    // b's listener serves no streams: a's stream to b is refused with 404 and b dials none to a.
    const b = await member(B, { streams: false });
    const ta = connectTo(a, b);
    await until(() => ta.activeSince(B) > 0);
    expect(ta.streaming(B)).toBe(false);
    for (let i = 0n; i < 5n; i++) ta.send([app(A, B, i)]);
    await until(() => b.viaPost.length === 5);
    expect(b.viaPost.map((m) => m.index)).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(a.viaStream).toEqual([]);
    // A 404 is "no stream here", not a broken link: activeSince holds.
    const since = ta.activeSince(B);
    await new Promise((r) => setTimeout(r, 1500));
    expect(ta.activeSince(B)).toBe(since);
  });

  it("dials again after the stream breaks, sending by POST meanwhile, and activeSince follows the link", async () => {
    const a = await member(A);
    const b = await member(B);
    const ta = connectTo(a, b);
    const tb = connectTo(b, a);
    await until(() => ta.streaming(B) && tb.streaming(A));
    const since = tb.activeSince(A);
    ta.send([app(A, B, 1n)]);
    await until(() => b.viaStream.length === 1);

    // a's listener goes away: b's stream from a breaks (and b's link to a is down), so a's messages for b go by POST.
    const port = Number(a.url.split(":")[2]);
    await a.listener.close();
    await until(() => !ta.streaming(B) && tb.activeSince(A) === 0);
    expect(logOf(b)).toContain("lost TCP streaming connection with remote peer");
    ta.send([app(A, B, 2n)]);
    await until(() => b.viaPost.length === 1);
    expect(b.viaPost[0]?.index).toBe(2n);

    // Back: b dials its stream again and a's messages go on it.
    await listenFor(a, { port });
    await until(() => ta.streaming(B) && tb.activeSince(A) > 0);
    expect(tb.activeSince(A)).toBeGreaterThan(since);
    ta.send([app(A, B, 3n)]);
    await until(() => b.viaStream.length === 2);
    expect(b.viaStream.map((m) => m.index)).toEqual([1n, 3n]);
    expect(b.viaPost.length).toBe(1);
  });

  it("drops a stream that brings nothing for three election timeouts and dials again", async () => {
    // A peer that answers 200 and then never writes a frame.
    let dials = 0;
    const silent: Http2Server = createServer((req, res) => {
      if (req.url === PATH_STREAM) {
        dials++;
        res.writeHead(200, { [H_CLUSTER_ID]: CLUSTER.toString(16) });
        res.write("");
        return;
      }
      req.resume();
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    cleanup.push(() => new Promise<void>((r) => silent.close(() => r())));
    const addr = silent.address();
    const port = typeof addr === "object" && addr !== null ? addr.port : 0;
    const a = await member(A);
    connectTo(a, { id: B, url: `http://127.0.0.1:${port}` } as Member, { heartbeatMs: 20, electionMs: 100 });
    await until(() => dials >= 3, 5000);
  });

  it("bounds what it buffers for a stream that does not drain: past it, messages are dropped and the peer reported unreachable", async () => {
    const a = await member(A);
    // b's own listener only takes POSTs (the idle probes); b's stream to a is dialed by hand below.
    const b = await member(B, { streams: false });
    const ta = connectTo(a, b, { electionMs: 60_000 });
    // A reader that gives no flow-control window: nothing a writes can leave a's side.
    const raw = rawStream(a.url, streamHeaders(B, A), { settings: { initialWindowSize: 0 } });
    const answer = await raw.answered;
    expect(answer.status).toBe(200);
    // It acknowledges a's first frame (the keepalive every stream starts with) without reading it.
    const ack = Buffer.alloc(4);
    ack.writeUInt32BE(1);
    raw.req.write(ack);
    await until(() => ta.streaming(B));

    const big = Buffer.alloc(1024 * 1024, 7);
    const before = a.unreachable.length;
    for (let i = 0n; i < 8n; i++) ta.send([app(A, B, i, big)]);
    const dropped = a.unreachable.length - before;
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(8);
    expect(a.unreachable.slice(before).every((id) => id === B)).toBe(true);
    expect(b.viaPost).toEqual([]);

    // Opening the window lets out exactly what was kept: the first 8 - dropped messages, whole and in order.
    const frames = new FrameSplitter(16 * 1024 * 1024);
    const got: raftpb.Message[] = [];
    let bytes = 0;
    raw.req.on("data", (c: Buffer) => {
      bytes += c.length;
      for (const f of frames.push(c)) got.push(...raftpb.MessageBatch.decode(f).messages);
    });
    raw.session.settings({ initialWindowSize: 16 * 1024 * 1024 });
    raw.session.setLocalWindowSize(64 * 1024 * 1024);
    await until(() => got.length === 8 - dropped);
    await new Promise((r) => setTimeout(r, 300));
    expect(got.map((m) => m.index)).toEqual(Array.from({ length: 8 - dropped }, (_, i) => BigInt(i)));
    expect(got.every((m) => m.entries[0]?.data.length === big.length)).toBe(true);
    expect(bytes).toBeLessThan(MAX_STREAM_BUFFERED + 2 * big.length);
  });

  it("refuses a stream from another cluster (412) or from a removed member (410), for naming another member (412) or an unknown one (404)", async () => {
    const a = await member(A);
    const b = await member(B, { streams: false });
    connectTo(a, b);
    a.removedIds.add(0xdn);

    const other = await rawStream(a.url, streamHeaders(B, A, 0xbadn)).answered;
    expect(other.status).toBe(412);
    expect(other.headers[H_CLUSTER_ID]).toBe(CLUSTER.toString(16));
    const removed = await rawStream(a.url, streamHeaders(0xdn, A)).answered;
    expect(removed.status).toBe(410);
    const wrongTo = await rawStream(a.url, streamHeaders(B, 0xcn)).answered;
    expect(wrongTo.status).toBe(412);
    expect(await wrongTo.body()).toBe("to field mismatch");
    const unknown = await rawStream(a.url, streamHeaders(0xen, A)).answered;
    expect(unknown.status).toBe(404);
    expect(logOf(a)).toContain("request cluster ID mismatch");
    expect(logOf(a)).toContain("rejected stream from remote peer because it was removed");
    expect(logOf(a)).toContain("ignored streaming request; ID mismatch");
    expect(logOf(a)).toContain("failed to find remote peer in cluster");
  });

  it("a transport of another cluster gets no stream (its link stays down), and a removed member learns it from the stream's 410", async () => {
    const a = await member(A);
    const b = await member(B, { clusterId: 0xbadn, streams: false });
    connectTo(a, b);
    const tb = connectTo(b, a, { clusterId: 0xbadn });
    await until(() => logOf(b).split("request cluster ID mismatch").length > 2);
    expect(tb.activeSince(A)).toBe(0);
    expect(a.transport?.streaming(B)).toBe(false);
    expect(b.viaStream).toEqual([]);

    const c = await member(A);
    const d = await member(B, { streams: false });
    c.removedIds.add(B);
    connectTo(c, d);
    // d's transport sends nothing; its stream is dialed at once, before its first idle probe (after 1 s).
    const t0 = Date.now();
    connectTo(d, c);
    await until(() => d.removedCalls > 0);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe("encodeBatches", () => {
  const msgs = (sizes: number[]): raftpb.Message[] => sizes.map((n, i) => app(A, B, BigInt(i), Buffer.alloc(n, i)));
  const decoded = (bodies: Uint8Array[]): raftpb.Message[] => bodies.flatMap((b) => raftpb.MessageBatch.decode(b).messages);

  it("keeps a send that fits in one batch, and splits a longer one into consecutive batches under the bound", () => {
    const small = msgs([10, 20, 30]);
    const one = encodeBatches(small, 1024);
    expect(one.length).toBe(1);
    expect(Buffer.from(one[0] as Uint8Array)).toEqual(Buffer.from(raftpb.MessageBatch.encode({ messages: small }).finish()));

    const many = msgs(Array.from({ length: 50 }, (_, i) => 100 + (i % 10) * 37));
    const limit = 1000;
    const bodies = encodeBatches(many, limit);
    expect(bodies.length).toBeGreaterThan(1);
    for (const b of bodies) expect(b.length).toBeLessThanOrEqual(limit);
    expect(decoded(bodies)).toEqual(many);
    // Each batch is as full as the next message allows.
    for (let i = 0; i + 1 < bodies.length; i++) {
      const next = raftpb.MessageBatch.decode(bodies[i + 1] as Uint8Array).messages[0] as raftpb.Message;
      expect((bodies[i] as Uint8Array).length + raftpb.MessageBatch.encode({ messages: [next] }).finish().length).toBeGreaterThan(limit);
    }
  });

  it("gives a message longer than the bound a batch of its own", () => {
    const m = msgs([100, 5000, 100, 100]);
    const bodies = encodeBatches(m, 1000);
    expect(bodies.map((b) => raftpb.MessageBatch.decode(b).messages.map((x) => x.index))).toEqual([[0n], [1n], [2n, 3n]]);
  });

  it("bounds batches at 64 MiB, raised to hold the largest proposal --max-request-bytes allows", () => {
    expect(peerBatchLimit(1572864)).toBe(MAX_BATCH_BYTES);
    expect(peerBatchLimit(100 * 1024 * 1024)).toBe(101 * 1024 * 1024);
    // What a MsgApp and its batch add around one entry of a whole request (large term and index) is far below the 1 MiB slack.
    const req = 200 * 1024;
    const m = raftpb.Message.fromPartial({ ...app(A, B, 1n << 60n, Buffer.alloc(req)), term: 1n << 60n, logTerm: 1n << 60n, commit: 1n << 60n });
    expect(raftpb.MessageBatch.encode({ messages: [m] }).finish().length - req).toBeLessThan(1024);
  });
});
