import type { DefragCounts } from "./defrag.js";
import type { LeaseCounts } from "./lease-put.js";
import type { LoopResult } from "./loop.js";
import type { RequestShape } from "./requests.js";
import type { WatchCounts } from "./watch.js";
import type { Op } from "./workload.js";

/**
 * Transport is how the load generator speaks gRPC: "h2" is the bench's own minimal HTTP/2
 * client (cheapest per request, the default); "grpc-js" is @grpc/grpc-js's Client with
 * identity serializers (the reference, several times more CPU per request).
 */
export type Transport = "h2" | "grpc-js";

/**
 * WorkerSetup tells a load-generator worker thread what to send and where. The worker
 * opens `conns` gRPC connections; its connection j goes to
 * endpoints[(connOffset + j) % endpoints.length].
 */
export interface WorkerSetup {
  type: "setup";
  /** endpoints are "127.0.0.1:PORT" client addresses. */
  endpoints: string[];
  transport: Transport;
  conns: number;
  connOffset: number;
  /** clients is the number of closed-loop clients, or of watchers for "watch". */
  clients: number;
  op: Op;
  /** writers is the number of put clients of a "watch" workload (0 otherwise). */
  writers: number;
  /** writerConns is the number of connections those put clients share. */
  writerConns: number;
  shape: RequestShape;
  /** mode "random" picks keys at random with `seed`; "sequential" sends each key once. */
  mode: "random" | "sequential";
  seed: number;
  /** requestTimeoutMs is each request's gRPC deadline. */
  requestTimeoutMs: number;
  /** connectTimeoutMs bounds waiting for the connections to become ready. */
  connectTimeoutMs: number;
  maxRequests: number;
  /**
   * token is etcd's auth token (from Auth.Authenticate) that every request and stream the
   * worker opens carries (h2 header / grpc-js metadata "token"); undefined without --auth.
   */
  token: string | undefined;
}

/** ToWorker is a message from the main thread to a load-generator worker. */
export type ToWorker = WorkerSetup | { type: "start" } | { type: "measure" } | { type: "stop" };

/** FromWorker is a message from a load-generator worker to the main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "result"; result: LoopResult; watch?: WatchCounts; lease?: LeaseCounts; defrag?: DefragCounts }
  | { type: "error"; message: string };
