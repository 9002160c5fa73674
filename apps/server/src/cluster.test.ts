import { join } from "node:path";
import { connect } from "node:http2";
import { etcdserverpb, raftpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import type { Etcd } from "./embed.js";
import { NO_AUTH } from "./etcd_server.js";
import { count, dirs, freePort, hashOf, leaderOf, put, restart, running, specs, startCluster, startMember, stopAll, until, type Spec } from "./testing/cluster.js";

const b = (s: string) => Buffer.from(s);

afterEach(stopAll);

describe("3-member cluster (in process)", { timeout: 60_000 }, () => {
  it("elects one leader, replicates writes and serves linearizable reads on every member", async () => {
    const ms = await startCluster(3);
    const leaders = new Set(ms.map((m) => m.server.leader));
    expect(leaders.size).toBe(1);
    for (const [i, m] of ms.entries()) {
      await m.server.put(etcdserverpb.PutRequest.fromPartial({ key: b(`k${i}`), value: b(`v${i}`) }));
    }
    for (const m of ms) {
      const r = await m.server.range(etcdserverpb.RangeRequest.fromPartial({ key: b("k"), rangeEnd: b("l") }));
      expect(r.kvs.map((kv) => kv.value.toString())).toEqual(["v0", "v1", "v2"]);
    }
    const hashes = await Promise.all(ms.map((m) => m.server.hashKV(etcdserverpb.HashKVRequest.fromPartial({}))));
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
    expect(ms[0]?.server.members().length).toBe(3);
  });

  it("keeps writing after the leader stops, and the old leader catches up", async () => {
    const ms = await startCluster(3);
    const leader = leaderOf(ms);
    const others = ms.filter((m) => m !== leader);
    for (let i = 0; i < 20; i++) await put(others[0] as Etcd, `a${i}`, "x");
    await leader.stop();
    running.splice(running.indexOf(leader), 1);
    await until(() => others.some((m) => m.server.leader !== 0n && m.server.leader !== leader.server.memberId));
    for (let i = 0; i < 20; i++) await put(others[1] as Etcd, `b${i}`, "y");
    const back = await startMember(specs.get(leader) as Spec);
    await until(async () => (await count(back, "b")) === 20n);
    expect(await count(back, "a")).toBe(20n);
    const all = [back, ...others];
    await until(async () => new Set(await Promise.all(all.map(hashOf))).size === 1);
  });

  it("catches a member up by snapshot after it missed more than --snapshot-count entries", async () => {
    const ms = await startCluster(3, ["--snapshot-count", "30"]);
    const follower = ms.find((m) => m.server.leader !== m.server.memberId) as Etcd;
    const spec = specs.get(follower) as Spec;
    await follower.stop();
    running.splice(running.indexOf(follower), 1);
    const live = ms.filter((m) => m !== follower);
    // Auth state travels in the snapshot too.
    const l0 = (live[0] as Etcd).server;
    await l0.proposeAuth("authUserAdd", { name: "snapuser", hashedPassword: Buffer.from("$2a$04$x"), noPassword: false }, NO_AUTH);
    await l0.proposeAuth("authRoleAdd", { name: "snaprole" }, NO_AUTH);
    await l0.proposeAuth("authUserGrantRole", { user: "snapuser", role: "snaprole" }, NO_AUTH);
    for (let i = 0; i < 200; i++) await put(live[i % 2] as Etcd, `s${i}`, `v${i}`);
    const back = await startMember(spec);
    await until(async () => (await count(back, "s")) === 200n);
    expect(back.server.auth.userGet("snapuser")).toEqual(["snaprole"]);
    expect(back.server.auth.revision).toBe(l0.auth.revision);
    const all = [back, ...live];
    await until(async () => new Set(await Promise.all(all.map(hashOf))).size === 1);
    // And it keeps following after the snapshot.
    await put(live[0] as Etcd, "after", "snap");
    await until(async () => (await count(back, "after")) === 1n);
  });

  it("adds a learner that joins with --initial-cluster-state existing, promotes it, and removes a member", async () => {
    // Without the strict check etcd does not wait for 5 s of full connectivity before reconfiguring (see strict_reconfig.test.ts).
    const ms = await startCluster(3, ["--strict-reconfig-check=false"]);
    for (let i = 0; i < 10; i++) await put(ms[0] as Etcd, `j${i}`, "x");
    const peer = await freePort();
    const client = await freePort();
    const peerUrl = `http://127.0.0.1:${peer}`;
    const added = await (ms[1] as Etcd).server.memberAdd(etcdserverpb.MemberAddRequest.fromPartial({ peerURLs: [peerUrl], isLearner: true }));
    expect(added.member?.isLearner).toBe(true);
    expect(added.members.length).toBe(4);
    const initial = [...(ms.map((m) => `${(specs.get(m) as Spec).name}=${(specs.get(m) as Spec).peerUrl}`)), `m3=${peerUrl}`].join(",");
    const base = dirs[dirs.length - 1] as string;
    const learner = await startMember({
      name: "m3",
      peerUrl,
      clientUrl: `http://127.0.0.1:${client}`,
      argv: [
        "--name", "m3",
        "--data-dir", join(base, "m3"),
        "--listen-peer-urls", peerUrl,
        "--initial-advertise-peer-urls", peerUrl,
        "--listen-client-urls", `http://127.0.0.1:${client}`,
        "--advertise-client-urls", `http://127.0.0.1:${client}`,
        "--initial-cluster", initial,
        "--initial-cluster-state", "existing",
        "--heartbeat-interval", "20",
        "--election-timeout", "200",
        "--log-level", "error",
      ],
    });
    expect(learner.server.memberId).toBe(added.member?.ID);
    await until(async () => (await count(learner, "j")) === 10n);
    // A follower forwards the promote to the leader.
    const follower = ms.find((m) => m.server.leader !== m.server.memberId) as Etcd;
    await until(async () => {
      try {
        await follower.server.memberPromote({ ID: added.member?.ID ?? 0n });
        return true;
      } catch {
        return false;
      }
    });
    expect(leaderOf(ms).server.members().find((m) => m.id === added.member?.ID)?.isLearner).toBe(false);
    // Raft takes one membership change at a time: let the promotion apply everywhere first.
    await until(() => [...ms, learner].every((m) => m.server.members().find((x) => x.id === added.member?.ID)?.isLearner === false));
    const leader = leaderOf(ms);
    const victim = ms.find((m) => m !== leader) as Etcd;
    await leader.server.memberRemove({ ID: victim.server.memberId });
    expect(leader.server.members().map((m) => m.id)).not.toContain(victim.server.memberId);
    await put(leader, "post-remove", "ok");
    await until(async () => (await count(learner, "post-remove")) === 1n);
  });

  it("moves the leader", async () => {
    const ms = await startCluster(3);
    const leader = leaderOf(ms);
    const target = ms.find((m) => m !== leader) as Etcd;
    await leader.server.moveLeader(target.server.memberId);
    await until(() => ms.every((m) => m.server.leader === target.server.memberId));
    await put(leader, "after-move", "ok");
  });

  it("refuses peer traffic from another cluster", async () => {
    const ms = await startCluster(3);
    const spec = specs.get(ms[0] as Etcd) as Spec;
    const post = (clusterId: string) =>
      new Promise<number>((resolve, reject) => {
        const s = connect(spec.peerUrl);
        s.on("error", reject);
        const req = s.request({ ":method": "POST", ":path": "/raft/messages", "x-etcd-cluster-id": clusterId, "x-etcd-from": "1" });
        req.on("response", (h) => {
          resolve(Number(h[":status"]));
          s.destroy();
        });
        req.resume();
        req.on("error", reject);
        req.end(Buffer.from(raftpb.MessageBatch.encode({ messages: [] }).finish()));
      });
    expect(await post("deadbeef")).toBe(412);
    expect(await post((ms[0] as Etcd).server.membership.clusterId.toString(16))).toBe(204);
  });
});
