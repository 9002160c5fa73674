import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { Client } from "./client.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

describe("Client against etcd", () => {
  let etcd: RunningEtcd;
  let c: Client;
  beforeAll(async () => {
    etcd = await startEtcd();
    c = new Client({ endpoints: [etcd.endpoint] });
  }, 30_000);
  afterAll(async () => {
    c?.close();
    await etcd?.stop();
  });

  it("puts, ranges, runs txns, deletes and compacts", async () => {
    const p1 = await c.put({ key: Buffer.from("k1"), value: Buffer.from("v1") });
    const p2 = await c.put({ key: Buffer.from("k2"), value: Buffer.from([0, 255]), prevKv: true });
    expect(p2.header!.revision).toBe(p1.header!.revision + 1n);
    expect(p2.prevKv).toBeUndefined();

    const r = await c.range({ key: Buffer.from("k"), rangeEnd: Buffer.from("l") });
    expect(r.count).toBe(2n);
    expect(r.kvs.map((kv) => kv.value)).toEqual([Buffer.from("v1"), Buffer.from([0, 255])]);

    const t = await c.txn({
      compare: [{ key: Buffer.from("k1"), target: 3 /* VALUE */, result: 0 /* EQUAL */, value: Buffer.from("v1") }],
      success: [{ requestPut: { key: Buffer.from("k3"), value: Buffer.from("v3") } }],
      failure: [],
    });
    expect(t.succeeded).toBe(true);
    expect(t.responses[0]?.responsePut).toBeDefined();

    const d = await c.deleteRange({ key: Buffer.from("k1"), prevKv: true });
    expect(d.deleted).toBe(1n);
    expect(d.prevKvs[0]?.value).toEqual(Buffer.from("v1"));

    await c.compact({ revision: p2.header!.revision, physical: true });
    const err = await c.range({ key: Buffer.from("k1"), revision: p1.header!.revision }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpc.status.OUT_OF_RANGE, message: "etcdserver: mvcc: required revision has been compacted" });
  });

  it("reports status, hash and members", async () => {
    const s = await c.status(etcd.endpoint);
    expect(s.version).toMatch(/^3\./);
    expect(s.leader).toBe(s.header!.memberId);
    const anyS = await c.status();
    expect(anyS.header!.memberId).toBe(s.header!.memberId);
    const h = await c.hashKV(etcd.endpoint, 0n);
    expect(h.hash).toBeGreaterThan(0);
    const m = await c.memberList();
    expect(m.members.map((x) => x.ID)).toEqual([s.header!.memberId]);
  });
});
