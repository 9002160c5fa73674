import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import { startFakeWatch, type FakeWatch } from "./testing/fakewatch.js";
import type { WatchResponse } from "./watch.js";

const hdr = (revision: bigint) => ({ clusterId: 1n, memberId: 2n, revision, raftTerm: 3n });
const put = (key: string, rev: bigint) => ({
  type: 0,
  kv: { key: Buffer.from(key), value: Buffer.from("v"), createRevision: rev, modRevision: rev, version: 1n },
});

describe("Watch protocol (fake server)", () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
  });
  const setup = async (): Promise<{ f: FakeWatch; c: Client }> => {
    const f = await startFakeWatch();
    const c = new Client({ endpoints: [f.endpoint], dialTimeoutMs: 2000 });
    cleanup.push(() => c.close(), () => f.stop());
    return { f, c };
  };

  it("sends creates one at a time and matches created answers in order", async () => {
    const { f, c } = await setup();
    const w1 = c.watch("a");
    const w2 = c.watch("b", { watchId: 9n });
    await f.waitRequests(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]?.createRequest?.key.toString()).toBe("a");
    f.send({ header: hdr(10n), watchId: 0n, created: true });
    await f.waitRequests(2);
    expect(f.requests[1]?.createRequest).toMatchObject({ key: Buffer.from("b"), watchId: 9n, startRevision: 0n });
    f.send({ header: hdr(10n), watchId: 9n, created: true });
    expect((await w1.created).header?.revision).toBe(10n);
    await w2.created;
    expect([w1.watchId, w2.watchId]).toEqual([0n, 9n]);
  });

  it("reassembles fragments into one response", async () => {
    const { f, c } = await setup();
    const w = c.watch("k", { prefix: true, fragment: true });
    await f.waitRequests(1);
    expect(f.requests[0]?.createRequest?.fragment).toBe(true);
    f.send({ header: hdr(10n), watchId: 0n, created: true });
    f.send({ header: hdr(13n), watchId: 0n, fragment: true, events: [put("k1", 11n)] });
    f.send({ header: hdr(13n), watchId: 0n, fragment: true, events: [put("k2", 12n)] });
    f.send({ header: hdr(13n), watchId: 0n, fragment: false, events: [put("k3", 13n)] });
    const r = (await w.next()).value as WatchResponse;
    expect(r.events.map((e) => e.kv?.key.toString())).toEqual(["k1", "k2", "k3"]);
    expect(r.fragment).toBe(false);
  });

  it("re-creates watches from the revision after the last one seen when the stream breaks", async () => {
    const { f, c } = await setup();
    const w1 = c.watch("a", { prevKv: true, noDelete: true });
    await f.waitRequests(1);
    f.send({ header: hdr(10n), watchId: 0n, created: true });
    const w2 = c.watch("b", { startRevision: 5n });
    await f.waitRequests(2);
    f.send({ header: hdr(10n), watchId: 1n, created: true });
    await Promise.all([w1.created, w2.created]);
    f.send({ header: hdr(12n), watchId: 0n, events: [put("a", 12n)] });
    // A progress notification moves w2 on without events.
    f.send({ header: hdr(14n), watchId: -1n });
    expect((await w1.next()).value?.events).toHaveLength(1);
    expect((await w1.next()).value?.progressNotify).toBe(true);
    expect((await w2.next()).value?.progressNotify).toBe(true);
    f.fail(grpc.status.UNAVAILABLE, "connection lost");
    await f.waitRequests(3, 10_000);
    expect(f.calls).toHaveLength(2);
    expect(f.requests[2]?.createRequest).toMatchObject({ key: Buffer.from("a"), startRevision: 15n, prevKv: true, filters: [1] });
    f.send({ header: hdr(14n), watchId: 7n, created: true });
    await f.waitRequests(4);
    expect(f.requests[3]?.createRequest).toMatchObject({ key: Buffer.from("b"), startRevision: 15n });
    f.send({ header: hdr(14n), watchId: 8n, created: true });
    f.send({ header: hdr(15n), watchId: 8n, events: [put("b", 15n)] });
    const r = (await w2.next()).value as WatchResponse;
    expect(r.watchId).toBe(8n);
    expect(w2.watchId).toBe(8n);
    expect(w2.nextRevision).toBe(16n);
  });

  it("ends a watch on an error that is not about the connection", async () => {
    const { f, c } = await setup();
    const w = c.watch("a");
    await f.waitRequests(1);
    f.send({ header: hdr(10n), watchId: 0n, created: true });
    await w.created;
    f.fail(grpc.status.PERMISSION_DENIED, "etcdserver: permission denied");
    await expect(w.next()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED, message: "etcdserver: permission denied" });
    // The stream that error ended is not reused: a new watch opens a new one and works.
    const w2 = c.watch("b");
    await f.waitRequests(2);
    expect(f.calls).toHaveLength(2);
    expect(f.requests[1]?.createRequest?.key.toString()).toBe("b");
    f.send({ header: hdr(11n), watchId: 0n, created: true });
    await w2.created;
    f.send({ header: hdr(12n), watchId: 0n, events: [put("b", 12n)] });
    expect(((await w2.next()).value as WatchResponse).events.map((e) => e.kv?.key.toString())).toEqual(["b"]);
  });

  it("resumes, as after a broken connection, when the server resets the stream with ENHANCE_YOUR_CALM (GOAWAY too_many_pings)", async () => {
    const { f, c } = await setup();
    const w = c.watch("a");
    await f.waitRequests(1);
    f.send({ header: hdr(10n), watchId: 0n, created: true });
    await w.created;
    // What grpc-js reports for a stream reset with ENHANCE_YOUR_CALM.
    f.fail(grpc.status.RESOURCE_EXHAUSTED, "Bandwidth exhausted or memory limit exceeded");
    await f.waitRequests(2, 10_000);
    expect(f.requests[1]?.createRequest).toMatchObject({ key: Buffer.from("a"), startRevision: 11n });
  });

  it("sends a cancel for a watch canceled while its create was in flight", async () => {
    const { f, c } = await setup();
    const w = c.watch("a");
    await f.waitRequests(1);
    w.cancel();
    expect((await w.next()).done).toBe(true);
    f.send({ header: hdr(10n), watchId: 3n, created: true });
    await f.waitRequests(2);
    expect(f.requests[1]?.cancelRequest?.watchId).toBe(3n);
  });
});
