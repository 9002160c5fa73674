import { afterEach, describe, expect, it } from "vitest";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Etcd } from "../embed.js";
import { leaderOf, running, startCluster, stopAll, until } from "../testing/cluster.js";

afterEach(stopAll);

const addressOf = (e: Etcd): string => (e.server.membership.members.get(e.server.memberId)?.clientUrls[0] as string).replace("http://", "");

function requireLeader(): Metadata {
  const md = new Metadata();
  md.set("hasleader", "true");
  return md;
}

describe("require-leader metadata (clientv3.WithRequireLeader)", () => {
  it("ends a require-leader watch stream with 'no leader' once the member has had none for three election timeouts, and refuses new calls meanwhile", async () => {
    const all = await startCluster(3);
    const leader = leaderOf(all);
    const lonely = all.find((m) => m !== leader) as Etcd;
    const watch = new etcdserverpb.WatchClient(addressOf(lonely), credentials.createInsecure());
    const kv = new etcdserverpb.KVClient(addressOf(lonely), credentials.createInsecure());
    try {
      const required = watch.watch(requireLeader());
      const plain = watch.watch();
      const got: etcdserverpb.WatchResponse[] = [];
      let requiredErr: ServiceError | undefined;
      let plainErr: ServiceError | undefined;
      required.on("data", (r: etcdserverpb.WatchResponse) => got.push(r));
      required.on("error", (err: ServiceError) => (requiredErr = err));
      plain.on("data", () => undefined);
      plain.on("error", (err: ServiceError) => (plainErr = err));
      required.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: Buffer.from("k") }) });
      plain.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: Buffer.from("k") }) });
      await until(() => got.length === 1);
      // The other two members go away: the remaining one loses its leader.
      for (const m of all.filter((x) => x !== lonely)) {
        await m.stop();
        running.splice(running.indexOf(m), 1);
      }
      const lostAt = Date.now();
      await until(() => requiredErr !== undefined, 10_000);
      expect(requiredErr?.code).toBe(status.UNAVAILABLE);
      expect(requiredErr?.details).toBe("etcdserver: no leader");
      // Three election timeouts of 200 ms (plus detecting the loss itself).
      expect(Date.now() - lostAt).toBeGreaterThanOrEqual(400);
      // A stream without the metadata stays open.
      expect(plainErr).toBeUndefined();
      const err = await new Promise<ServiceError | null>((resolve) =>
        kv.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("k"), serializable: true }), requireLeader(), (e) => resolve(e)),
      );
      expect(err?.code).toBe(status.UNAVAILABLE);
      expect(err?.details).toBe("etcdserver: no leader");
      // Without the metadata a serializable read is still served.
      const ok = await new Promise<ServiceError | null>((resolve) =>
        kv.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("k"), serializable: true }), (e) => resolve(e)),
      );
      expect(ok).toBeNull();
      plain.cancel();
    } finally {
      watch.close();
      kv.close();
    }
  }, 30_000);
});
