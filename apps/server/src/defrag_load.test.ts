import { credentials, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterAll, describe, expect, it } from "vitest";
import { specs, startCluster, stopAll } from "./testing/cluster.js";

const unary = <Req, Res>(fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> =>
  new Promise((resolve, reject) => fn(req, (err, res) => (err !== null ? reject(err) : resolve(res))));

/**
 * Defragment under load: 100 clients (50 writing, 50 reading linearizably, over 10
 * connections) keep going while the member defragments a backend with deleted and compacted
 * data. etcd blocks writes for the whole defrag; etcd-ts must neither fail a request nor
 * stop writing. The longest gap between two completed writes is printed (the bench's
 * defrag-100 workload measures it side by side with etcd).
 */
describe("Defragment while 100 clients read and write", () => {
  afterAll(stopAll);

  it("fails no request and keeps completing writes during the defrag", async () => {
    const [m] = await startCluster(1);
    const target = (specs.get(m as never)?.clientUrl ?? "").replace("http://", "");
    const conns = Array.from({ length: 10 }, () => new etcdserverpb.KVClient(target, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }));
    const maint = new etcdserverpb.MaintenanceClient(target, credentials.createInsecure());
    const kv = conns[0] as etcdserverpb.KVClient;
    const value = Buffer.alloc(1024, 7);
    // About 24 MiB of values, then half deleted and compacted away: something to defragment.
    for (let b = 0; b < 375; b++) {
      const success = Array.from({ length: 64 }, (_, i) => ({ requestPut: { key: Buffer.from(`fill/${String(b * 64 + i).padStart(6, "0")}`), value } }));
      await unary(kv.txn.bind(kv), etcdserverpb.TxnRequest.fromPartial({ success }));
    }
    const del = await unary<etcdserverpb.DeleteRangeRequest, etcdserverpb.DeleteRangeResponse>(kv.deleteRange.bind(kv), etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from("fill/012000"), rangeEnd: Buffer.from("fill0") }));
    await unary(kv.compact.bind(kv), etcdserverpb.CompactionRequest.fromPartial({ revision: del.header?.revision ?? 0n, physical: true }));

    let stop = false;
    let failures = 0;
    const putDone: number[] = [];
    const loops = Array.from({ length: 100 }, async (_, i) => {
      const c = conns[i % conns.length] as etcdserverpb.KVClient;
      for (let n = 0; !stop; n++) {
        try {
          if (i % 2 === 0) {
            await unary(c.put.bind(c), etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(`load/${i}/${n % 50}`), value: Buffer.alloc(256, 1) }));
            putDone.push(performance.now());
          } else {
            await unary(c.range.bind(c), etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from(`fill/${String((i * 997 + n) % 12000).padStart(6, "0")}`) }));
          }
        } catch {
          failures++;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    await unary(maint.defragment.bind(maint), etcdserverpb.DefragmentRequest.fromPartial({}));
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(loops);
    for (const c of [...conns, maint]) c.close();

    const during = putDone.filter((t) => t >= t0 && t <= t1);
    const after = putDone.find((t) => t > t1) ?? t1;
    let gap = 0;
    let prev = t0;
    for (const t of [...during, after]) {
      gap = Math.max(gap, t - prev);
      prev = t;
    }
    process.stderr.write(`defrag took ${(t1 - t0).toFixed(0)} ms; ${during.length} puts completed during it; longest write gap ${gap.toFixed(0)} ms\n`);
    expect(failures).toBe(0);
    expect(during.length).toBeGreaterThan(0);
  }, 120_000);
});
