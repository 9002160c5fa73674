import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

describe("Client against a 3-member etcd cluster", () => {
  let etcd: RunningEtcd;
  let c: Client;
  beforeAll(async () => {
    // Without the strict check etcd does not wait for 5 s of full connectivity before reconfiguring.
    etcd = await startEtcd({ size: 3, flags: ["--strict-reconfig-check=false"] });
    c = new Client({ endpoints: etcd.members.map((m) => m.clientURL) });
  }, 30_000);
  afterAll(async () => {
    c?.close();
    await etcd?.stop();
  });

  it("lists the members", async () => {
    const r = await c.memberList();
    expect(r.members.map((m) => m.name).sort()).toEqual(["m1", "m2", "m3"]);
    expect(r.members.map((m) => m.clientURLs[0]).sort()).toEqual(etcd.members.map((m) => m.clientURL).sort());
    expect(r.members.every((m) => !m.isLearner)).toBe(true);
  });

  it("adds a learner, updates its peer URLs, refuses to promote it out of sync, and removes it", async () => {
    const add = await c.memberAdd(["http://127.0.0.1:1"], true);
    const id = add.member!.ID;
    expect(add.member).toMatchObject({ peerURLs: ["http://127.0.0.1:1"], isLearner: true, name: "" });
    expect(add.members).toHaveLength(4);
    expect(add.header!.clusterId).not.toBe(0n);

    const upd = await c.memberUpdate(id, ["http://127.0.0.1:2", "http://127.0.0.1:3"]);
    expect(upd.members.find((m) => m.ID === id)?.peerURLs).toEqual(["http://127.0.0.1:2", "http://127.0.0.1:3"]);

    await expect(c.memberPromote(id)).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      message: "etcdserver: can only promote a learner member which is in sync with leader",
      local: false,
    });

    const rm = await c.memberRemove(id);
    expect(rm.members.map((m) => m.ID)).not.toContain(id);
    await expect(c.memberRemove(id)).rejects.toMatchObject({ code: grpc.status.NOT_FOUND, message: "etcdserver: member not found" });
    expect((await c.memberList()).members).toHaveLength(3);
  });

  it("checks peer URLs before sending them", async () => {
    await expect(c.memberAdd(["127.0.0.1:2380"])).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      local: true,
      message: 'parse "127.0.0.1:2380": first path segment in URL cannot contain colon',
    });
    await expect(c.memberUpdate(1n, [])).rejects.toMatchObject({ local: true, message: "no valid URLs given" });
  });

  it("finds the leader and moves leadership to a follower", async () => {
    const before = await c.maintenance.findLeader();
    const leaderId = before.status.leader;
    const target = (await c.memberList()).members.find((m) => m.ID !== leaderId)!;
    await c.moveLeader(target.ID);
    const st = await c.status(target.clientURLs[0]);
    expect(st.leader).toBe(target.ID);
    expect(st.header!.memberId).toBe(target.ID);
    const after = await c.maintenance.findLeader();
    expect(after.endpoint).toBe(target.clientURLs[0]);
  });

  it("rejects moving leadership to a non-member", async () => {
    await expect(c.moveLeader(0x1234n)).rejects.toMatchObject({ message: "etcdserver: bad leader transferee" });
  });

  it("fails over reads and writes when a follower is down, and findLeader skips it", async () => {
    const leader = (await c.maintenance.findLeader()).endpoint;
    const down = etcd.members.find((m) => m.clientURL !== leader)!;
    await down.stop();
    const eps = [down.clientURL, ...etcd.members.filter((m) => m !== down).map((m) => m.clientURL)];
    const f = new Client({ endpoints: eps, dialTimeoutMs: 3000 });
    try {
      // A put is not repeated once a server may have it; grpc-js can report a connection that
      // dropped right after a killed member's socket went away ("Connection dropped"), which
      // the client rightly surfaces. The caller retries the idempotent put in that case.
      for (let attempt = 0; ; attempt++) {
        try {
          await f.put({ key: Buffer.from("failover"), value: Buffer.from("1") });
          break;
        } catch (e) {
          if (attempt >= 2 || (e as { code?: number }).code !== 14) throw e;
        }
      }
      expect((await f.range({ key: Buffer.from("failover") })).kvs[0]?.value).toEqual(Buffer.from("1"));
      await expect(f.status(down.clientURL, { timeoutMs: 300 })).rejects.toMatchObject({ local: true });
      const l = await f.maintenance.findLeader({ timeoutMs: 300 });
      expect(l.endpoint).not.toBe(down.clientURL);
    } finally {
      f.close();
    }
  });
});
