import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";

/** FakeBehaviour decides how a fake KV server answers: a response, a gRPC error, or never. */
export type FakeBehaviour = "ok" | "hang" | { code: grpc.status; details: string };

/** FakeKV is an in-process etcdserverpb.KV server that counts the calls it receives. */
export interface FakeKV {
  endpoint: string;
  calls: { range: number; put: number; txn: number };
  stop(): Promise<void>;
}

const header = (memberId: bigint): etcdserverpb.ResponseHeader =>
  etcdserverpb.ResponseHeader.fromPartial({ clusterId: 1n, memberId, revision: 7n, raftTerm: 2n });

/** startFakeKV serves KV on a free loopback port; memberId tags its response headers. */
export async function startFakeKV(behaviour: FakeBehaviour, memberId: bigint): Promise<FakeKV> {
  const server = new grpc.Server();
  const calls = { range: 0, put: 0, txn: 0 };
  const answer = <T>(make: () => T) =>
    (_call: unknown, cb: grpc.sendUnaryData<T>): void => {
      if (behaviour === "hang") return;
      if (behaviour === "ok") return cb(null, make());
      cb({ code: behaviour.code, details: behaviour.details } as grpc.ServiceError, null);
    };
  const impl: etcdserverpb.KVServer = {
    range: (call, cb) => {
      calls.range++;
      answer(() => etcdserverpb.RangeResponse.fromPartial({ header: header(memberId), count: 0n }))(call, cb);
    },
    put: (call, cb) => {
      calls.put++;
      answer(() => etcdserverpb.PutResponse.fromPartial({ header: header(memberId) }))(call, cb);
    },
    deleteRange: (call, cb) => answer(() => etcdserverpb.DeleteRangeResponse.fromPartial({ header: header(memberId) }))(call, cb),
    txn: (call, cb) => {
      calls.txn++;
      answer(() => etcdserverpb.TxnResponse.fromPartial({ header: header(memberId), succeeded: true }))(call, cb);
    },
    compact: (call, cb) => answer(() => etcdserverpb.CompactionResponse.fromPartial({ header: header(memberId) }))(call, cb),
  };
  server.addService(etcdserverpb.KVService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    endpoint: `127.0.0.1:${port}`,
    calls,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()),
  };
}
