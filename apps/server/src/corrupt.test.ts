import { join } from "node:path";
import { Backend } from "@etcd-ts/backend";
import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import type { Etcd } from "./embed.js";
import { Errors } from "./errors.js";
import { leaderOf, put, running, specs, startCluster, startMember, stopAll, until, type Spec } from "./testing/cluster.js";

afterEach(stopAll);

/**
 * corruptValue stops member e and rewrites, in its backend, the stored value of the newest
 * revision of `key` (as a disk that flipped bits would), leaving the revision itself alone.
 */
async function corruptValue(e: Etcd, key: string): Promise<Spec> {
  const spec = specs.get(e) as Spec;
  await e.stop();
  running.splice(running.indexOf(e), 1);
  const dataDir = spec.argv[spec.argv.indexOf("--data-dir") + 1] as string;
  const backend = await Backend.open(join(dataDir, "member", "snap", "db"));
  let last: [Buffer, Buffer] | undefined;
  for await (const [k, v] of backend.scan({ gte: Buffer.from("key/"), lt: Buffer.from("key0") })) {
    const kv = mvccpb.KeyValue.decode(v);
    if (kv.key.toString() === key) last = [k, v];
  }
  if (last === undefined) throw new Error(`no revision of ${key}`);
  const kv = mvccpb.KeyValue.decode(last[1]);
  kv.value = Buffer.from("bit-flipped");
  await backend.write([{ type: "put", key: last[0], value: Buffer.from(mvccpb.KeyValue.encode(kv).finish()) }], { sync: true });
  await backend.close();
  return spec;
}

describe("corruption checks", { timeout: 60_000 }, () => {
  it("--experimental-initial-corrupt-check refuses to start a member whose data differs from its peers'", async () => {
    const ms = await startCluster(3);
    for (let i = 0; i < 10; i++) await put(ms[0] as Etcd, `k${i}`, "v");
    const follower = ms.find((m) => m !== leaderOf(ms)) as Etcd;
    await until(async () => (await follower.server.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("k9"), serializable: true }))).count === 1n);
    const spec = await corruptValue(follower, "k3");
    await expect(startMember({ ...spec, argv: [...spec.argv, "--experimental-initial-corrupt-check"] })).rejects.toThrow(
      /^[0-9a-f]+ found data inconsistency with peers$/,
    );
    // A member whose data matches starts with the check on.
    const healthy = ms.find((m) => m !== follower) as Etcd;
    const hs = specs.get(healthy) as Spec;
    await healthy.stop();
    running.splice(running.indexOf(healthy), 1);
    const back = await startMember({ ...hs, argv: [...hs.argv, "--experimental-initial-corrupt-check"] });
    expect(back.server.memberId).toBe(healthy.server.memberId);
  });

  it("--experimental-corrupt-check-time makes the leader raise the CORRUPT alarm when a follower's hash differs", async () => {
    const ms = await startCluster(3, ["--experimental-corrupt-check-time", "300ms"]);
    for (let i = 0; i < 10; i++) await put(ms[0] as Etcd, `k${i}`, "v");
    const leader = leaderOf(ms);
    const follower = ms.find((m) => m !== leader) as Etcd;
    await until(async () => (await follower.server.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("k9"), serializable: true }))).count === 1n);
    const spec = await corruptValue(follower, "k3");
    await startMember(spec);
    const alarms = () => leader.server.alarm({ action: etcdserverpb.AlarmRequest_AlarmAction.GET, memberID: 0n, alarm: etcdserverpb.AlarmType.NONE });
    await until(async () => (await alarms()).alarms.length > 0, 20_000);
    expect((await alarms()).alarms).toEqual([{ memberID: 0n, alarm: etcdserverpb.AlarmType.CORRUPT }]);
    await expect(put(leader, "after", "x")).rejects.toBe(Errors.corrupt);
  });

  it("raises no alarm while every member agrees", async () => {
    const ms = await startCluster(3, ["--experimental-corrupt-check-time", "200ms"]);
    for (let i = 0; i < 10; i++) await put(ms[0] as Etcd, `k${i}`, "v");
    await new Promise((r) => setTimeout(r, 1500));
    const leader = leaderOf(ms);
    expect((await leader.server.status()).errors).toEqual([]);
    await put(leader, "after", "x");
  });
});
