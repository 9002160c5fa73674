import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import { EtcdError } from "./errors.js";
import { startFakeKV, type FakeKV } from "./testing/fake.js";
import { freePort } from "@etcd-ts/test-kit";

const unavailable = { code: grpc.status.UNAVAILABLE, details: "etcdserver: no leader" };

describe("Client failover", () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
  });
  const fake = async (b: Parameters<typeof startFakeKV>[0], id: bigint): Promise<FakeKV> => {
    const f = await startFakeKV(b, id);
    cleanup.push(() => f.stop());
    return f;
  };
  const client = (endpoints: string[], dialTimeoutMs = 3000): Client => {
    const c = new Client({ endpoints, dialTimeoutMs });
    cleanup.push(() => c.close());
    return c;
  };

  it("skips an endpoint that refuses connections, for reads and writes", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const live = await fake("ok", 2n);
    const c = client([dead, `http://${live.endpoint}`]);
    expect((await c.range({ key: Buffer.from("a") })).header?.memberId).toBe(2n);
    expect((await c.put({ key: Buffer.from("a"), value: Buffer.from("b") })).header?.memberId).toBe(2n);
    expect(live.calls).toMatchObject({ range: 1, put: 1 });
  });

  it("retries a read on the next endpoint after UNAVAILABLE but not a write", async () => {
    const sick = await fake(unavailable, 1n);
    const live = await fake("ok", 2n);
    const c = client([sick.endpoint, live.endpoint]);
    const r = await c.range({ key: Buffer.from("a") });
    expect(r.header?.memberId).toBe(2n);
    expect(sick.calls.range).toBe(1);

    const c2 = client([sick.endpoint, live.endpoint]);
    const err = await c2.put({ key: Buffer.from("a") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdError);
    expect(err).toMatchObject({ code: grpc.status.UNAVAILABLE, details: "etcdserver: no leader", local: false });
    expect(sick.calls.put).toBe(1);
    expect(live.calls.put).toBe(0);
  });

  it("treats a txn without writes as a read", async () => {
    const sick = await fake(unavailable, 1n);
    const live = await fake("ok", 2n);
    const c = client([sick.endpoint, live.endpoint]);
    const ro = await c.txn({ success: [{ requestRange: { key: Buffer.from("a") } }] });
    expect(ro.header?.memberId).toBe(2n);
    const c2 = client([sick.endpoint, live.endpoint]);
    await expect(c2.txn({ success: [{ requestPut: { key: Buffer.from("a") } }] })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    expect(live.calls.txn).toBe(1);
  });

  it("surfaces server errors with the server's message and code", async () => {
    const s = await fake({ code: grpc.status.OUT_OF_RANGE, details: "etcdserver: mvcc: required revision is a future revision" }, 1n);
    const c = client([s.endpoint]);
    const err = await c.range({ key: Buffer.from("a"), revision: 99n }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EtcdError);
    expect((err as EtcdError).message).toBe("etcdserver: mvcc: required revision is a future revision");
    expect((err as EtcdError).code).toBe(grpc.status.OUT_OF_RANGE);
    expect((err as EtcdError).local).toBe(false);
  });

  it("fails a call with a local deadline error when the server does not answer in time", async () => {
    const s = await fake("hang", 1n);
    const c = client([s.endpoint]);
    await expect(c.range({ key: Buffer.from("a") }, { timeoutMs: 300 })).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
      local: true,
    });
  });

  it("gives up when no endpoint is reachable", async () => {
    const c = client([`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`], 300);
    await expect(c.range({ key: Buffer.from("a") })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      local: true,
    });
    await expect(c.range({ key: Buffer.from("a") }, { timeoutMs: 300 })).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
      local: true,
    });
  });

  it("rejects calls after close", async () => {
    const s = await fake("ok", 1n);
    const c = client([s.endpoint]);
    c.close();
    await expect(c.range({ key: Buffer.from("a") })).rejects.toMatchObject({ code: grpc.status.CANCELLED, local: true });
  });

  it("refuses a client certificate without its key", () => {
    expect(() => new Client({ endpoints: ["https://127.0.0.1:2379"], tls: { cert: Buffer.from("x") } })).toThrow(
      /cert and key must be given together/,
    );
  });
});
