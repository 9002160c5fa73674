import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { performance } from "node:perf_hooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openChannel, type Channel } from "./channel.js";
import type { Transport } from "./protocol.js";
import { explainStream } from "./grpc-caller.js";
import { encodePrefixedPuts, encodeWatchCreate, WATCH_PATH, WATCH_PREFIX } from "./requests.js";
import { ToyEtcd } from "./testing/toy-etcd.js";
import { DeliveryLedger, stampedPut, WatchFanout, WatchResponseScan } from "./watch.js";

const bytes = (m: Uint8Array): Buffer => Buffer.from(m.buffer, m.byteOffset, m.byteLength);

function kv(key: string, rev: bigint, value: Buffer): mvccpb.KeyValue {
  return { key: Buffer.from(key), createRevision: rev, modRevision: rev, version: 1n, value, lease: 0n };
}

function response(p: Parameters<typeof etcdserverpb.WatchResponse.fromPartial>[0]): Buffer {
  return bytes(etcdserverpb.WatchResponse.encode(etcdserverpb.WatchResponse.fromPartial(p)).finish());
}

describe("WatchResponseScan", () => {
  it("reads a created answer's fields", () => {
    const s = new WatchResponseScan();
    const b = response({ header: { clusterId: 1n, memberId: 2n, revision: 77n, raftTerm: 1n }, watchId: 5n, created: true });
    s.parse(b, 0, b.length);
    expect([s.watchId, s.created, s.canceled, s.revision, s.events]).toEqual([5, true, false, 77, 0]);
  });

  it("reads a cancel answer's reason and compact revision", () => {
    const s = new WatchResponseScan();
    const b = response({ watchId: 3n, canceled: true, compactRevision: 12n, cancelReason: "mvcc: required revision has been compacted" });
    s.parse(b, 0, b.length);
    expect([s.watchId, s.canceled, s.compactRevision, s.cancelReason]).toEqual([3, true, 12, "mvcc: required revision has been compacted"]);
  });

  it("hands over each event's revision and value in place, also inside a larger buffer", () => {
    const v1 = Buffer.from("first-value");
    const b = response({
      watchId: 1n,
      events: [
        { type: mvccpb.Event_EventType.PUT, kv: kv("w1", 10n, v1) },
        { type: mvccpb.Event_EventType.DELETE, kv: kv("w2", 11n, Buffer.alloc(0)) },
      ],
    });
    const outer = Buffer.concat([Buffer.from("junk"), b, Buffer.from("tail")]);
    const s = new WatchResponseScan();
    s.parse(outer, 4, 4 + b.length);
    const seen: [number, string][] = [];
    s.forEachEvent((rev, buf, vs, ve) => seen.push([rev, buf.toString("latin1", vs, ve)]));
    expect(s.events).toBe(2);
    expect(seen).toEqual([
      [10, "first-value"],
      [11, ""],
    ]);
  });
});

describe("DeliveryLedger", () => {
  it("finds nothing wrong when every watcher gets every acknowledged put once", () => {
    const l = new DeliveryLedger(3, 101, 1000);
    for (const r of [101, 102, 103]) l.acked(r);
    for (let w = 0; w < 3; w++) for (const r of [101, 102, 103]) expect(l.deliver(w, r)).toBe(true);
    expect(l.caughtUp()).toBe(true);
    expect(l.tally()).toEqual({ expected: 9, delivered: 9, lost: 0, duplicated: 0, unexpected: 0, untrackedAcks: 0 });
  });

  it("counts lost, duplicated and unexpected events", () => {
    const l = new DeliveryLedger(2, 101, 1000);
    // events may arrive before the put's answer
    l.deliver(0, 101);
    l.acked(101);
    l.acked(103);
    l.deliver(0, 103);
    expect(l.deliver(0, 103)).toBe(false); // duplicate
    expect(l.deliver(0, 101)).toBe(false); // out of order counts as a duplicate
    l.deliver(1, 102); // no put was acknowledged with 102
    l.deliver(1, 103);
    l.deliver(1, 5000); // outside the tracked range
    expect(l.caughtUp()).toBe(true);
    expect(l.tally()).toEqual({ expected: 4, delivered: 5, lost: 1, duplicated: 2, unexpected: 2, untrackedAcks: 0 });
  });

  it("is not caught up while a watcher lacks the last acknowledged revision", () => {
    const l = new DeliveryLedger(2, 1, 100);
    l.acked(1);
    l.acked(2);
    l.deliver(0, 2);
    l.deliver(1, 1);
    expect(l.caughtUp()).toBe(false);
    l.acked(500); // beyond capacity: counted, not stored
    expect(l.tally().untrackedAcks).toBe(1);
  });

  it("grows past its first allocation", () => {
    const l = new DeliveryLedger(1, 1, 1_000_000);
    for (let r = 1; r <= 50_000; r++) {
      l.acked(r);
      l.deliver(0, r);
    }
    expect(l.tally()).toMatchObject({ expected: 50_000, delivered: 50_000, lost: 0 });
  });
});

describe("stampedPut", () => {
  it("writes the send time over the value's first 8 bytes and leaves the template alone", () => {
    const put = encodePrefixedPuts(WATCH_PREFIX, { keySpace: 1, keySize: 8, valueSize: 32 })[0]!;
    const copy = Buffer.from(put);
    const framed = stampedPut(put, 32, true, 1234.5);
    expect(put.equals(copy)).toBe(true);
    expect(framed.readUInt32BE(1)).toBe(put.length);
    const p = etcdserverpb.PutRequest.decode(framed.subarray(5));
    expect(Buffer.from(p.value).readDoubleLE(0)).toBe(1234.5);
    expect(p.key.toString()).toBe("w0000000");
    const tiny = encodePrefixedPuts(WATCH_PREFIX, { keySpace: 1, keySize: 8, valueSize: 4 })[0]!;
    expect(stampedPut(tiny, 4, false, 1).equals(tiny)).toBe(true);
  });
});

describe.each<[Transport]>([["h2"], ["grpc-js"]])("WatchFanout against a toy etcd over %s", (transport) => {
  let toy: ToyEtcd;
  let channels: Channel[] = [];

  beforeEach(async () => {
    toy = new ToyEtcd();
    await toy.start();
    channels = [];
  });

  afterEach(() => {
    for (const c of channels) c.close();
    toy.stop();
  });

  async function open(n: number): Promise<Channel[]> {
    const out: Channel[] = [];
    for (let i = 0; i < n; i++) out.push(await openChannel(transport, `127.0.0.1:${toy.port}`, 5000));
    channels.push(...out);
    return out;
  }

  async function run(watchers: number, streams: number, maxRequests: number): Promise<Awaited<ReturnType<WatchFanout["stop"]>>> {
    const f = await WatchFanout.create({
      watchChannels: await open(streams),
      writerChannels: await open(2),
      watchers,
      writers: 4,
      createRequest: encodeWatchCreate(WATCH_PREFIX),
      puts: encodePrefixedPuts(WATCH_PREFIX, { keySpace: 100, keySize: 8, valueSize: 64 }),
      valueSize: 64,
      seed: 7,
      now: () => performance.now(),
      maxRequests,
      errorBackoffMs: 1,
      createTimeoutMs: 5000,
      drainTimeoutMs: 2000,
    });
    try {
      expect(toy.watchers.length).toBe(watchers);
      f.start();
      f.measure();
      // maxRequests ends the writers by themselves; wait until they have
      while (toy.revision < 100 + maxRequests) await new Promise((r) => setTimeout(r, 5));
      return await f.stop();
    } finally {
      f.close();
    }
  }

  it("delivers every put to every watcher, spread over the streams", async () => {
    const { result, watch } = await run(12, 3, 200);
    expect(watch.tally).toEqual({ expected: 2400, delivered: 2400, lost: 0, duplicated: 0, unexpected: 0, untrackedAcks: 0 });
    expect(watch).toMatchObject({ watchers: 12, streams: 3, writers: 4, failure: undefined });
    expect(watch.drainMs).toBeGreaterThanOrEqual(0);
    expect(result.errors).toBe(0);
    expect(result.totalOk).toBe(2400);
    // the window closed at stop(): events still on their way then are checked, not counted
    expect(result.ok).toBeGreaterThan(0);
    expect(result.ok).toBeLessThanOrEqual(2400);
    expect(result.histogram.count).toBe(result.ok);
    expect(result.hitMaxRequests).toBe(true);
  });

  it("counts a dropped and a duplicated event as errors of the run", async () => {
    toy.fault = (seq, rev) => (seq === 2 && rev === 150 ? "drop" : seq === 5 && rev === 160 ? "dup" : undefined);
    const { result, watch } = await run(6, 2, 100);
    expect(watch.tally).toMatchObject({ expected: 600, delivered: 599, lost: 1, duplicated: 1, unexpected: 0 });
    expect(result.errors).toBe(2);
    expect(result.firstError).toMatch(/1 lost, 1 duplicated/);
  });

  it("fails when the server refuses the Watch call", async () => {
    toy.refuseWatch = true;
    const create = WatchFanout.create({
      watchChannels: await open(1),
      writerChannels: await open(1),
      watchers: 2,
      writers: 1,
      createRequest: encodeWatchCreate(WATCH_PREFIX),
      puts: encodePrefixedPuts(WATCH_PREFIX, { keySpace: 10, keySize: 8, valueSize: 16 }),
      valueSize: 16,
      seed: 1,
      now: () => performance.now(),
      maxRequests: 10,
      errorBackoffMs: 1,
      createTimeoutMs: 5000,
      drainTimeoutMs: 1000,
    });
    await expect(create).rejects.toThrow(/watch stream 0 .* ended after 0 messages/);
    expect(await explainStream(`127.0.0.1:${toy.port}`, WATCH_PATH, encodeWatchCreate(WATCH_PREFIX), 2000)).toBe(
      "a /etcdserverpb.Watch/Watch stream opened through grpc-js got: 12 UNIMPLEMENTED: unknown service etcdserverpb.Watch",
    );
    toy.refuseWatch = false;
    expect(await explainStream(`127.0.0.1:${toy.port}`, WATCH_PATH, encodeWatchCreate(WATCH_PREFIX), 2000)).toMatch(/was answered$/);
  });
});
