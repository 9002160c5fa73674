import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:http2";
import { credentials, type ClientDuplexStream } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Etcd } from "../embed.js";
import { startCluster, stopAll, until } from "../testing/cluster.js";

const b = (s: string): Buffer => Buffer.from(s);

let e: Etcd;
let address = "";
let kv: etcdserverpb.KVClient;

beforeAll(async () => {
  // Progress notifications every 300ms, and a request limit small enough to test fragments.
  [e] = (await startCluster(1, ["--experimental-watch-progress-notify-interval", "300ms", "--max-request-bytes", "200000"])) as [Etcd];
  const client = e.server.membership.members.get(e.server.memberId)?.clientUrls[0] as string;
  address = client.replace("http://", "");
  kv = new etcdserverpb.KVClient(address, credentials.createInsecure());
});

afterAll(async () => {
  kv.close();
  await stopAll();
});

const put = (key: string, value = "v", lease = 0n) =>
  new Promise<etcdserverpb.PutResponse>((resolve, reject) =>
    kv.put(etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value), lease }), (err, r) => (err ? reject(err) : resolve(r))),
  );
const txn = (req: Parameters<typeof etcdserverpb.TxnRequest.fromPartial>[0]) =>
  new Promise<etcdserverpb.TxnResponse>((resolve, reject) =>
    kv.txn(etcdserverpb.TxnRequest.fromPartial(req), (err, r) => (err ? reject(err) : resolve(r))),
  );
const del = (key: string, end: string) =>
  new Promise<etcdserverpb.DeleteRangeResponse>((resolve, reject) =>
    kv.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial({ key: b(key), rangeEnd: b(end) }), (err, r) => (err ? reject(err) : resolve(r))),
  );
const compact = (revision: bigint) =>
  new Promise<void>((resolve, reject) => kv.compact(etcdserverpb.CompactionRequest.fromPartial({ revision }), (err) => (err ? reject(err) : resolve())));

/** Stream is one Watch call that records every response. */
class Stream {
  readonly client = new etcdserverpb.WatchClient(address, credentials.createInsecure());
  readonly call: ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse> = this.client.watch();
  readonly got: etcdserverpb.WatchResponse[] = [];
  error: Error | undefined;
  constructor() {
    this.call.on("data", (r: etcdserverpb.WatchResponse) => this.got.push(r));
    this.call.on("error", (err: Error) => (this.error = err));
  }
  create(c: Partial<etcdserverpb.WatchCreateRequest>): void {
    this.call.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial(c) });
  }
  cancel(watchId: bigint): void {
    this.call.write({ cancelRequest: { watchId } });
  }
  progress(): void {
    this.call.write({ progressRequest: {} });
  }
  async waitFor(n: number, ms = 10_000): Promise<etcdserverpb.WatchResponse[]> {
    await until(() => this.got.length >= n, ms);
    return this.got;
  }
  events(id: bigint): etcdserverpb.WatchResponse[] {
    return this.got.filter((r) => r.watchId === id && !r.created);
  }
  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

describe("Watch service", () => {
  it("answers created first, then each revision's matching events in one response, in order", async () => {
    const s = new Stream();
    s.create({ key: b("w1/"), rangeEnd: b("w10"), watchId: 5n });
    const [created] = await s.waitFor(1);
    expect(created?.created).toBe(true);
    expect(created?.watchId).toBe(5n);
    expect(created?.header?.revision).toBe(e.server.kv.currentRevision);
    const r1 = await put("w1/a", "1");
    await txn({ success: [{ requestPut: { key: b("w1/b"), value: b("2") } }, { requestPut: { key: b("w1/c"), value: b("3") } }, { requestPut: { key: b("other"), value: b("x") } }] });
    await put("w1/a", "4");
    await s.waitFor(4);
    const evs = s.events(5n);
    expect(evs.map((r) => r.events.map((ev) => `${ev.kv?.key}=${ev.kv?.value}`))).toEqual([["w1/a=1"], ["w1/b=2", "w1/c=3"], ["w1/a=4"]]);
    expect(evs[0]?.header?.revision).toBe(r1.header?.revision);
    // No prev_kv unless asked for.
    expect(evs[2]?.events[0]?.prevKv).toBeUndefined();
    s.close();
  });

  it("filters puts or deletes and sends prev_kv when asked", async () => {
    const s = new Stream();
    s.create({ key: b("f/k"), watchId: 1n, filters: [etcdserverpb.WatchCreateRequest_FilterType.NOPUT], prevKv: true });
    s.create({ key: b("f/k"), watchId: 2n, filters: [etcdserverpb.WatchCreateRequest_FilterType.NODELETE] });
    await s.waitFor(2);
    await put("f/k", "one");
    await del("f/k", "");
    await s.waitFor(4);
    const deletes = s.events(1n);
    expect(deletes).toHaveLength(1);
    expect(deletes[0]?.events[0]?.type).toBe(1);
    expect(deletes[0]?.events[0]?.prevKv?.value.toString()).toBe("one");
    const puts = s.events(2n);
    expect(puts).toHaveLength(1);
    expect(puts[0]?.events[0]?.kv?.value.toString()).toBe("one");
    s.close();
  });

  it("replays history from a past revision, and cancels a watch from a compacted one with compact_revision", async () => {
    const first = await put("h/a", "1");
    await put("h/a", "2");
    await put("h/b", "3");
    const s = new Stream();
    s.create({ key: b("h/"), rangeEnd: b("h0"), startRevision: first.header?.revision as bigint, watchId: 1n });
    await s.waitFor(2);
    await until(() => s.events(1n).flatMap((r) => r.events).length === 3);
    expect(s.events(1n).flatMap((r) => r.events.map((ev) => ev.kv?.value.toString()))).toEqual(["1", "2", "3"]);
    const now = await put("h/c", "4");
    await compact(now.header?.revision as bigint);
    s.create({ key: b("h/"), rangeEnd: b("h0"), startRevision: first.header?.revision as bigint, watchId: 2n });
    await until(() => s.events(2n).length === 1);
    const c = s.events(2n)[0];
    expect(c?.canceled).toBe(true);
    expect(c?.compactRevision).toBe(now.header?.revision);
    s.close();
  });

  it("cancels a watch (an unknown ID gets no answer), answers RequestProgress with watch ID -1, refuses duplicate IDs", async () => {
    const s = new Stream();
    s.create({ key: b("c/k"), watchId: 3n });
    await s.waitFor(1);
    s.cancel(99n);
    s.cancel(3n);
    s.progress();
    await s.waitFor(3);
    expect(s.got[1]?.watchId).toBe(3n);
    expect(s.got[1]?.canceled).toBe(true);
    expect(s.got[2]?.watchId).toBe(-1n);
    expect(s.got[2]?.header?.revision).toBe(e.server.kv.currentRevision);
    expect(s.got[2]?.events).toEqual([]);
    await put("c/k");
    s.create({ key: b("c/j"), watchId: 4n });
    s.create({ key: b("c/j"), watchId: 4n });
    await s.waitFor(5);
    expect(s.got[3]?.created).toBe(true);
    expect(s.got[4]).toMatchObject({ created: true, canceled: true, watchId: -1n, cancelReason: "mvcc: duplicate watch ID provided on the WatchStream" });
    // The canceled watcher got nothing of the later put.
    expect(s.got.filter((r) => r.watchId === 3n)).toHaveLength(2);
    s.close();
  });

  it("answers RequestProgress only after every event at or below the revision it reports", async () => {
    const s = new Stream();
    s.create({ key: b("pr/"), rangeEnd: b("pr0"), watchId: 1n });
    await s.waitFor(1);
    s.call.pause();
    for (let i = 0; i < 2000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => put(`pr/${i + j}`, "z".repeat(2000))));
    // The watcher is behind (its events wait in the store); the progress answer must wait too.
    s.progress();
    s.call.resume();
    await until(() => s.got.some((r) => r.watchId === -1n), 30_000);
    const at = s.got.findIndex((r) => r.watchId === -1n);
    const progressRev = s.got[at]?.header?.revision as bigint;
    const before = s.got.slice(0, at).flatMap((r) => r.events.map((ev) => ev.kv?.modRevision as bigint));
    const after = s.got.slice(at + 1).flatMap((r) => r.events.map((ev) => ev.kv?.modRevision as bigint));
    expect(before).toHaveLength(2000);
    expect(after.every((rev) => rev > progressRev)).toBe(true);
    expect(progressRev).toBeGreaterThanOrEqual(before[before.length - 1] as bigint);
    s.close();
  }, 60_000);

  it("sends progress notifications every --experimental-watch-progress-notify-interval to idle progress_notify watchers", async () => {
    const s = new Stream();
    s.create({ key: b("p/k"), watchId: 1n, progressNotify: true });
    s.create({ key: b("p/j"), watchId: 2n });
    await s.waitFor(2);
    await until(() => s.events(1n).length >= 2, 5000);
    for (const r of s.events(1n)) {
      expect(r.events).toEqual([]);
      expect(r.header?.revision).toBe(e.server.kv.currentRevision);
    }
    expect(s.events(2n)).toEqual([]);
    s.close();
  });

  it("splits a revision bigger than the request limit into fragments for a watcher that asks", async () => {
    const big = "x".repeat(90_000);
    for (let i = 0; i < 10; i++) await put(`g/${i}`, big);
    const s = new Stream();
    s.create({ key: b("g/"), rangeEnd: b("g0"), watchId: 1n, fragment: true, prevKv: true });
    s.create({ key: b("g/"), rangeEnd: b("g0"), watchId: 2n, prevKv: true });
    await s.waitFor(2);
    await del("g/", "g0");
    await until(() => s.events(1n).flatMap((r) => r.events).length === 10 && s.events(2n).length === 1);
    const parts = s.events(1n);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.slice(0, -1).every((r) => r.fragment)).toBe(true);
    expect(parts[parts.length - 1]?.fragment).toBe(false);
    // Without fragment the revision comes whole.
    expect(s.events(2n)[0]?.events).toHaveLength(10);
    s.close();
  });

  it("lets a client that stops reading catch up later with every event exactly once, in order", async () => {
    const s = new Stream();
    s.create({ key: b("slow/"), rangeEnd: b("slow0"), watchId: 1n });
    await s.waitFor(1);
    s.call.pause();
    const value = "y".repeat(2000);
    const n = 3000;
    for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => put(`slow/${i + j}`, value)));
    // The watcher fell behind its stream's bound and is catching up from the store, not buffering.
    expect(e.server.watchable.unsyncedCount).toBeGreaterThan(0);
    s.call.resume();
    await until(() => s.events(1n).flatMap((r) => r.events).length >= n, 30_000);
    const revs = s.events(1n).flatMap((r) => r.events.map((ev) => ev.kv?.modRevision as bigint));
    expect(revs).toHaveLength(n);
    for (let i = 1; i < revs.length; i++) expect(revs[i]).toBe((revs[i - 1] as bigint) + 1n);
    s.close();
  }, 60_000);

  it("stops reading requests of a client that does not read the answers (flow control, not buffering)", async () => {
    const watchers = () => e.server.watchable.syncedCount + e.server.watchable.unsyncedCount;
    await until(() => watchers() === 0);
    // A raw HTTP/2 client sends 40,000 create requests at once and reads nothing.
    const n = 40_000;
    const frames = Buffer.concat(
      Array.from({ length: n }, (_, i) => {
        const msg = etcdserverpb.WatchRequest.encode({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: b("fc/k"), watchId: BigInt(i + 1) }) }).finish();
        const f = Buffer.alloc(5 + msg.length);
        f.writeUInt32BE(msg.length, 1);
        f.set(msg, 5);
        return f;
      }),
    );
    const session = connect(`http://${address}`);
    const stream = session.request({ ":method": "POST", ":path": "/etcdserverpb.Watch/Watch", "content-type": "application/grpc", te: "trailers" });
    stream.write(frames);
    await new Promise((r) => setTimeout(r, 3000));
    // Only what fits the answers' flow-control window and the bounded queues was read.
    expect(watchers()).toBeGreaterThan(0);
    expect(watchers()).toBeLessThan(10_000);
    // Reading the answers lets the rest through: every watcher is created and answered.
    let answers = 0;
    let pending = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        pending = pending.subarray(5 + pending.readUInt32BE(1));
        answers++;
      }
    });
    await until(() => answers === n, 30_000);
    expect(watchers()).toBe(n);
    stream.close();
    session.close();
    await until(() => watchers() === 0);
  }, 60_000);

  it("serves 10,000 watchers on one stream and frees them all when the client goes away", async () => {
    const watchers = () => e.server.watchable.syncedCount + e.server.watchable.unsyncedCount;
    // Every stream of the earlier tests was closed by its client: their watchers are gone.
    await until(() => watchers() === 0);
    const s = new Stream();
    for (let i = 0; i < 10_000; i++) s.create({ key: b("many/k"), watchId: BigInt(i + 1) });
    await s.waitFor(10_000, 30_000);
    expect(s.got.every((r) => r.created && !r.canceled)).toBe(true);
    await put("many/k");
    await s.waitFor(20_000, 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${s.got.length} responses, synced ${e.server.watchable.syncedCount}, unsynced ${e.server.watchable.unsyncedCount}`);
    });
    s.close();
    await until(() => watchers() === 0);
  }, 60_000);
});
