import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Operation } from "@etcd-ts/linearizability";
import type { Clock } from "./clock.js";
import { rangeRequest, rangeResult } from "./convert.js";
import { channelOptions, endpointTarget, prefixEnd } from "./workload.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** ReadOptions reach the cluster for recordPrefixRead. */
export interface ReadOptions {
  endpoints: readonly string[];
  prefix: string;
  timeoutMs: number;
  credentials?: grpc.ChannelCredentials;
  metadata?: () => grpc.Metadata;
}

/**
 * recordPrefixRead reads every key under the prefix with a linearizable range, retrying until
 * one answers or timeoutMs passes, and returns it as a recorded operation (client -1). A run
 * records one at its start (its revision is where the watchers begin) and one at its end,
 * after the faults healed: with it in the history, an acknowledged write that was lost makes
 * the history non-linearizable.
 */
export async function recordPrefixRead(o: ReadOptions, clock: Clock): Promise<Operation> {
  const kvs = o.endpoints.map((e) => new etcdserverpb.KVClient(endpointTarget(e), o.credentials ?? grpc.credentials.createInsecure(), channelOptions()));
  const deadline = Date.now() + o.timeoutMs;
  try {
    for (let attempt = 0; ; attempt++) {
      const kv = kvs[attempt % kvs.length] as etcdserverpb.KVClient;
      const input = { type: "range" as const, key: o.prefix, end: prefixEnd(o.prefix) };
      const call = clock.now();
      const res = await new Promise<etcdserverpb.RangeResponse | undefined>((resolve) =>
        kv.range(rangeRequest(input), o.metadata?.() ?? new grpc.Metadata(), { deadline: Date.now() + 2000 }, (err, r) => resolve(err ? undefined : r)),
      );
      if (res !== undefined) return { client: -1, call, return: clock.now(), input, output: rangeResult(res) };
      if (Date.now() > deadline) throw new Error(`recorder: no member answered a read of ${o.prefix} within ${o.timeoutMs} ms`);
      await sleep(200);
    }
  } finally {
    for (const kv of kvs) kv.close();
  }
}
