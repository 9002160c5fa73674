import type * as grpc from "@grpc/grpc-js";
import type { etcdserverpb } from "@etcd-ts/proto";
import { Auth } from "./auth.js";
import { Balancer } from "./balancer.js";
import { Cluster } from "./cluster.js";
import { validateTLS } from "./credentials.js";
import { parseEndpoint, type Endpoint } from "./endpoint.js";
import type { Bytes } from "./bytes.js";
import { KV } from "./kv.js";
import { Lease } from "./lease.js";
import { Maintenance } from "./maintenance.js";
import type { CallOptions, ClientOptions, Credentials } from "./options.js";
import type { AuthState } from "./token.js";
import { Watcher, type Watch, type WatchOptions } from "./watch.js";

type DeepPartial<T> = etcdserverpb.DeepPartial<T>;

/** DEFAULT_DIAL_TIMEOUT_MS is etcd's default dial timeout. */
export const DEFAULT_DIAL_TIMEOUT_MS = 2000;

/**
 * Client is an etcd v3 client over gRPC. It connects lazily, on the first call. The service
 * wrappers (kv, lease, watcher, maintenance, cluster, auth) are public; the common calls are
 * also methods here. Watches share one Watch stream and kept-alive leases one LeaseKeepAlive
 * stream per client.
 * With `tls` set (or https:// endpoints) it connects over TLS. With `username` and `password`
 * it authenticates before the first call and sends the token with every call.
 */
export class Client {
  readonly kv: KV;
  readonly maintenance: Maintenance;
  readonly cluster: Cluster;
  readonly lease: Lease;
  readonly watcher: Watcher;
  readonly auth: Auth;
  private readonly balancer: Balancer;
  private readonly syncTimer: NodeJS.Timeout | undefined;

  constructor(opts: ClientOptions) {
    const endpoints = opts.endpoints.map(parseEndpoint);
    const channelOptions: grpc.ChannelOptions = {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
      "grpc.max_receive_message_length": -1,
    };
    if (opts.keepAliveTimeMs !== undefined && opts.keepAliveTimeMs > 0) {
      channelOptions["grpc.keepalive_time_ms"] = opts.keepAliveTimeMs;
      channelOptions["grpc.keepalive_permit_without_calls"] = 1;
      if (opts.keepAliveTimeoutMs !== undefined && opts.keepAliveTimeoutMs > 0) {
        channelOptions["grpc.keepalive_timeout_ms"] = opts.keepAliveTimeoutMs;
      }
    }
    if (opts.tls !== undefined) validateTLS(opts.tls);
    // As etcd's Go client: credentials count only when both parts are given.
    const creds: Credentials | undefined =
      (opts.username ?? "") !== "" && (opts.password ?? "") !== ""
        ? { username: opts.username as string, password: opts.password as string }
        : undefined;
    this.balancer = new Balancer(
      endpoints,
      channelOptions,
      opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      opts.tls,
      creds,
    );
    this.kv = new KV(this.balancer);
    this.maintenance = new Maintenance(this.balancer);
    this.cluster = new Cluster(this.balancer);
    this.lease = new Lease(this.balancer, opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
    this.watcher = new Watcher(this.balancer);
    this.auth = new Auth(this.balancer);
    const every = opts.autoSyncIntervalMs ?? 0;
    if (every > 0) {
      // A failed sync keeps the endpoints as they are; the next interval tries again.
      this.syncTimer = setInterval(() => void this.sync({ timeoutMs: every }).catch(() => undefined), every);
      this.syncTimer.unref();
    }
  }

  /**
   * sync replaces the endpoints with the client URLs of the cluster's members (learners
   * included, as etcd 3.4's client does; members not started yet have none) and returns
   * them. The endpoint in use stays in use if still listed.
   */
  async sync(opts?: CallOptions): Promise<string[]> {
    const r = await this.cluster.memberList(opts);
    const eps: Endpoint[] = [];
    for (const url of r.members.flatMap((m) => m.clientURLs)) {
      try {
        eps.push(parseEndpoint(url));
      } catch {
        // A URL this client cannot dial (a unix socket, say) is left out.
      }
    }
    this.balancer.setEndpoints(eps);
    return this.endpoints();
  }

  /**
   * authenticate gets the auth token for the client's credentials now, unless it has one
   * (calls otherwise do it before the first one). It resolves "token", "disabled" (the server
   * has authentication disabled: calls carry no token) or "none" (no credentials), and
   * rejects with the server's error, e.g. "etcdserver: authentication failed, invalid user
   * ID or password". opts.timeoutMs defaults to the dial timeout.
   */
  authenticate(opts?: CallOptions): Promise<AuthState> {
    return this.balancer.authenticate(opts);
  }

  /**
   * watch watches key (a range or prefix with opts) and returns an async iterator of its
   * responses; see Watch and WatchOptions.
   */
  watch(key: Bytes, opts?: WatchOptions): Watch {
    return this.watcher.watch(key, opts);
  }

  /** requestProgress asks for a progress notification on every watch of the client's stream. */
  requestProgress(opts?: { requireLeader?: boolean }): Promise<void> {
    return this.watcher.requestProgress(opts);
  }

  range(req: DeepPartial<etcdserverpb.RangeRequest>, opts?: CallOptions): Promise<etcdserverpb.RangeResponse> {
    return this.kv.range(req, opts);
  }

  put(req: DeepPartial<etcdserverpb.PutRequest>, opts?: CallOptions): Promise<etcdserverpb.PutResponse> {
    return this.kv.put(req, opts);
  }

  deleteRange(
    req: DeepPartial<etcdserverpb.DeleteRangeRequest>,
    opts?: CallOptions,
  ): Promise<etcdserverpb.DeleteRangeResponse> {
    return this.kv.deleteRange(req, opts);
  }

  txn(req: DeepPartial<etcdserverpb.TxnRequest>, opts?: CallOptions): Promise<etcdserverpb.TxnResponse> {
    return this.kv.txn(req, opts);
  }

  compact(
    req: DeepPartial<etcdserverpb.CompactionRequest>,
    opts?: CallOptions,
  ): Promise<etcdserverpb.CompactionResponse> {
    return this.kv.compact(req, opts);
  }

  /** status asks endpoint (or, without one, any reachable endpoint) for its status. */
  status(endpoint?: string, opts?: CallOptions): Promise<etcdserverpb.StatusResponse> {
    return this.maintenance.status(endpoint, opts);
  }

  hashKV(endpoint: string | undefined, revision: bigint, opts?: CallOptions): Promise<etcdserverpb.HashKVResponse> {
    return this.maintenance.hashKV(endpoint, revision, opts);
  }

  memberList(opts?: CallOptions): Promise<etcdserverpb.MemberListResponse> {
    return this.cluster.memberList(opts);
  }

  memberAdd(peerURLs: string[], isLearner = false, opts?: CallOptions): Promise<etcdserverpb.MemberAddResponse> {
    return this.cluster.memberAdd(peerURLs, isLearner, opts);
  }

  memberRemove(id: bigint, opts?: CallOptions): Promise<etcdserverpb.MemberRemoveResponse> {
    return this.cluster.memberRemove(id, opts);
  }

  memberUpdate(id: bigint, peerURLs: string[], opts?: CallOptions): Promise<etcdserverpb.MemberUpdateResponse> {
    return this.cluster.memberUpdate(id, peerURLs, opts);
  }

  memberPromote(id: bigint, opts?: CallOptions): Promise<etcdserverpb.MemberPromoteResponse> {
    return this.cluster.memberPromote(id, opts);
  }

  /** moveLeader transfers leadership to targetId through the current leader. */
  moveLeader(targetId: bigint, opts?: CallOptions): Promise<etcdserverpb.MoveLeaderResponse> {
    return this.maintenance.moveLeader(targetId, opts);
  }

  /** endpoints lists the endpoints the client uses: as given, or as the last sync found them. */
  endpoints(): string[] {
    return this.balancer.endpointList().map((e) => e.raw);
  }

  /**
   * close drops every connection; pending and later calls reject, watches end with the
   * "client is closed" error, and kept-alive leases stop being renewed (not revoked).
   */
  close(): void {
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    this.watcher.close();
    this.lease.close();
    this.balancer.close();
  }
}
