import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Etcd } from "./etcd.js";
import { startEtcd, type RunningEtcd } from "./testing/etcd.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Endpoint auto-sync: a client given one member of a 3-member cluster learns the others from
// the member list and keeps working when the member it was given goes away.
describe.each(["etcd", "etcd-ts"] as const)("endpoint auto-sync against a 3-member %s", (kind) => {
  let server: RunningEtcd;
  let etcd: Etcd | undefined;

  beforeAll(async () => {
    server = await startEtcd({ kind, size: 3 });
  }, 60_000);
  afterAll(async () => {
    etcd?.close();
    await server?.stop();
  });

  it("learns every member's client URL and fails over to them", async () => {
    // The member given is a follower: stopping it takes the client's only configured
    // endpoint away without an election (a proposal caught in one may fail, as in etcd).
    const probe = new Etcd({ endpoints: [server.members[0]!.endpoint] });
    const st = await probe.client.status();
    const ids = await Promise.all(server.members.map(async (m) => (await probe.client.status(m.endpoint)).header?.memberId));
    probe.close();
    const first = server.members[ids.findIndex((id) => id !== st.leader)]!;
    etcd = new Etcd({ endpoints: [first.endpoint], autoSyncIntervalMs: 100, dialTimeoutMs: 1000 });
    await etcd.put("k", "1");
    for (let i = 0; i < 100 && etcd.client.endpoints().length < 3; i++) await sleep(50);
    expect([...etcd.client.endpoints()].sort()).toEqual(server.members.map((m) => m.clientURL).sort());
    const w = etcd.watch("k");
    await w.created;
    await first.stop();
    // Reads and writes go to the other members; the watch resumes there without a gap.
    // A put is not repeated once a server may have it: grpc-js can report the stopped
    // member's socket as "Connection dropped" (UNAVAILABLE) for a put that was already on
    // it, which the client rightly surfaces (etcd's clientv3 does the same). The caller
    // repeats the idempotent put then; the next attempt must go to another member.
    for (let attempt = 0; ; attempt++) {
      try {
        await etcd.put("k", "2", { timeoutMs: 10_000 });
        break;
      } catch (e) {
        if (attempt >= 1 || (e as { code?: number }).code !== 14) throw e;
      }
    }
    expect(await etcd.get("k", { timeoutMs: 10_000 })).toBe("2");
    for await (const ev of w) {
      expect(ev.kv.string()).toBe("2");
      break;
    }
  }, 60_000);
});
