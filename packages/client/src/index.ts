/**
 * @etcd-ts/client is a typed etcd v3 client for Node.js over gRPC, with endpoint failover and
 * per-call deadlines.
 */
export { Client, DEFAULT_DIAL_TIMEOUT_MS } from "./client.js";
export type { ClientOptions, CallOptions, TLSOptions } from "./options.js";
export { EtcdError } from "./errors.js";
export { parseEndpoint, type Endpoint, type EndpointScheme } from "./endpoint.js";
export { KV, txnIsReadOnly } from "./kv.js";
export { Maintenance, type LeaderEndpoint } from "./maintenance.js";
export { Cluster } from "./cluster.js";
export { checkPeerURLs } from "./urls.js";
export type { RetryPolicy } from "./balancer.js";
