import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Endpoint } from "./endpoint.js";

/** ReadyState is the outcome of waiting for a connection: usable, failed to connect, or out of time. */
export type ReadyState = "ready" | "failed" | "timeout";

/**
 * EndpointConnection is one gRPC channel to one endpoint and the etcd service clients that
 * share it (plain text or TLS as creds say). Connecting starts on the first waitReady; grpc-js reconnects on its own with the
 * backoff given in the channel options.
 */
export class EndpointConnection {
  readonly endpoint: Endpoint;
  readonly kv: etcdserverpb.KVClient;
  readonly maintenance: etcdserverpb.MaintenanceClient;
  readonly cluster: etcdserverpb.ClusterClient;
  readonly watch: etcdserverpb.WatchClient;
  readonly lease: etcdserverpb.LeaseClient;
  readonly auth: etcdserverpb.AuthClient;
  private readonly channel: grpc.Channel;

  constructor(endpoint: Endpoint, creds: grpc.ChannelCredentials, channelOptions: grpc.ChannelOptions) {
    this.endpoint = endpoint;
    this.kv = new etcdserverpb.KVClient(endpoint.address, creds, channelOptions);
    this.channel = this.kv.getChannel() as grpc.Channel;
    const shared = { ...channelOptions, channelOverride: this.channel };
    this.maintenance = new etcdserverpb.MaintenanceClient(endpoint.address, creds, shared);
    this.cluster = new etcdserverpb.ClusterClient(endpoint.address, creds, shared);
    this.watch = new etcdserverpb.WatchClient(endpoint.address, creds, shared);
    this.lease = new etcdserverpb.LeaseClient(endpoint.address, creds, shared);
    this.auth = new etcdserverpb.AuthClient(endpoint.address, creds, shared);
  }

  /**
   * waitReady resolves "ready" once the channel is connected, "failed" as soon as a connection
   * attempt fails (so the caller can fail over at once), "timeout" when deadline (ms since
   * epoch) passes first.
   */
  waitReady(deadline: number): Promise<ReadyState> {
    return new Promise((resolve) => {
      const check = (): void => {
        const state = this.channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) return resolve("ready");
        if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
          return resolve("failed");
        }
        if (Date.now() >= deadline) return resolve("timeout");
        this.channel.watchConnectivityState(state, deadline, (err) => (err ? resolve("timeout") : check()));
      };
      check();
    });
  }

  close(): void {
    this.channel.close();
  }
}
