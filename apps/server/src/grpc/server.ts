import { etcdserverpb, v3electionpb, v3lockpb } from "@etcd-ts/proto";
import { GrpcServer, type CallObserver, type CallStatus, type Interceptor } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { mapError } from "../etcd_server.js";
import { RpcError } from "../errors.js";
import type { Logger } from "../log.js";
import { withSerializers, withSharedEncoders } from "../shared_writer.js";
import { authInterceptor, authService } from "./auth.js";
import { clusterService } from "./cluster.js";
import { electionService } from "./election.js";
import { kvService } from "./kv.js";
import { encodeRangeResponse } from "./range_encode.js";
import { leaseService } from "./lease.js";
import { lockService } from "./lock.js";
import { MaintenanceServiceDefinition, maintenanceService } from "./maintenance.js";
import { WatchServiceDefinition, watchService } from "./watch.js";
import { RequireLeader } from "./require_leader.js";

/** GRPC_OVERHEAD_BYTES is what etcd allows on top of --max-request-bytes for gRPC framing. */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

/** ClientGrpcOptions are the member's settings for its client-facing gRPC server. */
export interface ClientGrpcOptions {
  maxRequestBytes: number;
  maxConcurrentStreams: number;
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
  keepaliveMinTimeMs: number;
  /** watchProgressNotifyMs is --experimental-watch-progress-notify-interval. */
  watchProgressNotifyMs: number;
  /** electionMs is --election-timeout (require-leader streams end after three without a leader). */
  electionMs: number;
  /** observer counts every call (the grpc_server_* metrics; see metrics/grpc_metrics.ts). */
  observer?: CallObserver;
  /** clientCertAuth is --client-cert-auth: a verified client certificate's common name authenticates its user. */
  clientCertAuth?: boolean;
}

/**
 * clientGrpcServer builds the gRPC server of the client port with etcd's services on s: the
 * receive limit is --max-request-bytes plus etcd's framing allowance, errors of the store
 * layers become etcd's status codes and texts, and an unexpected error is logged.
 */
export function clientGrpcServer(s: EtcdServer, o: ClientGrpcOptions, logger: Logger): GrpcServer {
  const requireLeader = new RequireLeader(s, o.electionMs);
  requireLeader.start();
  void s.stopNotify().then(() => requireLeader.stop());
  const grpc = new GrpcServer({
    maxReceiveMessageBytes: o.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    maxConcurrentStreams: o.maxConcurrentStreams,
    keepaliveIntervalMs: o.keepaliveIntervalMs,
    keepaliveTimeoutMs: o.keepaliveTimeoutMs,
    keepaliveMinTimeMs: o.keepaliveMinTimeMs,
    interceptors: [learnerGate(s), requireLeader.interceptor(), authInterceptor(s, o.clientCertAuth === true)],
    errorToStatus,
    onError: (err, ctx) => logger.warn("request failed", { method: ctx.method, error: String(err) }),
    onConnectionError: (err, peer) => logger.error("client connection failed; closed it", { "remote-addr": peer, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    ...(o.observer === undefined ? {} : { observer: o.observer }),
  });
  const pb = etcdserverpb;
  grpc.addService(
    withSerializers(withSharedEncoders(pb.KVService, { put: pb.PutResponse, deleteRange: pb.DeleteRangeResponse, txn: pb.TxnResponse }), {
      range: encodeRangeResponse,
    }),
    kvService(s),
  );
  grpc.addService(MaintenanceServiceDefinition, maintenanceService(s));
  grpc.addService(etcdserverpb.ClusterService, clusterService(s));
  grpc.addService(
    withSharedEncoders(pb.LeaseService, { leaseGrant: pb.LeaseGrantResponse, leaseRevoke: pb.LeaseRevokeResponse, leaseKeepAlive: pb.LeaseKeepAliveResponse }),
    leaseService(s, o.clientCertAuth === true),
  );
  grpc.addService(etcdserverpb.AuthService, authService(s));
  grpc.addService(
    WatchServiceDefinition,
    watchService(s, { maxResponseBytes: o.maxRequestBytes + GRPC_OVERHEAD_BYTES, progressNotifyMs: o.watchProgressNotifyMs, clientCertAuth: o.clientCertAuth === true }),
  );
  // etcd registers v3lock and v3election on the same server (embed's serve), behind the same interceptors.
  grpc.addService(v3lockpb.LockService, lockService(s, o.clientCertAuth === true));
  grpc.addService(v3electionpb.ElectionService, electionService(s, o.clientCertAuth === true));
  return grpc;
}

/**
 * learnerGate refuses, on a learner, every call etcd 3.4's learners refuse (its unary and
 * stream interceptors): all but Maintenance.Status and serializable KV.Range, with
 * `etcdserver: rpc not supported for learner`.
 */
function learnerGate(s: EtcdServer): Interceptor {
  return async (ctx, next) => {
    if (s.isLearner) s.checkLearner(ctx.method.slice(ctx.method.lastIndexOf("/") + 1), ctx.request);
    await next();
  };
}

/** errorToStatus sends an RpcError (or a store error etcd names) with etcd's code and message. */
function errorToStatus(err: unknown): CallStatus | undefined {
  const mapped = mapError(err);
  if (mapped instanceof RpcError) return { code: mapped.code, message: mapped.message };
  return undefined;
}

