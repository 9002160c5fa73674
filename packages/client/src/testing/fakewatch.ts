import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";

type WatchCall = grpc.ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

/**
 * FakeWatch is an in-process etcdserverpb.Watch server driven by the test: it records every
 * request, and the test answers through the open call (or breaks it).
 */
export interface FakeWatch {
  endpoint: string;
  /** requests lists every request received, on any stream, in order. */
  requests: etcdserverpb.WatchRequest[];
  /** calls lists the streams opened so far; the last one is the live one. */
  calls: WatchCall[];
  /** waitRequests resolves once n requests have arrived. */
  waitRequests(n: number, ms?: number): Promise<void>;
  send(r: etcdserverpb.DeepPartial<etcdserverpb.WatchResponse>): void;
  /** fail ends the live stream with a gRPC status. */
  fail(code: grpc.status, details: string): void;
  stop(): Promise<void>;
}

export async function startFakeWatch(): Promise<FakeWatch> {
  const server = new grpc.Server();
  const requests: etcdserverpb.WatchRequest[] = [];
  const calls: WatchCall[] = [];
  const impl: etcdserverpb.WatchServer = {
    watch: (call) => {
      calls.push(call);
      call.on("data", (r: etcdserverpb.WatchRequest) => requests.push(r));
      call.on("error", () => {});
    },
  };
  server.addService(etcdserverpb.WatchService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const live = (): WatchCall => {
    const c = calls[calls.length - 1];
    if (c === undefined) throw new Error("fake watch: no stream open");
    return c;
  };
  return {
    endpoint: `127.0.0.1:${port}`,
    requests,
    calls,
    async waitRequests(n, ms = 5000) {
      const end = Date.now() + ms;
      while (requests.length < n) {
        if (Date.now() > end) throw new Error(`fake watch: ${requests.length} of ${n} requests arrived`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    send(r) {
      live().write(etcdserverpb.WatchResponse.fromPartial(r));
    },
    fail(code, details) {
      live().emit("error", Object.assign(new Error(details), { code, details }));
    },
    stop: async () => server.forceShutdown(),
  };
}
