import { etcdserverpb } from "@etcd-ts/proto";
import type { Balancer } from "./balancer.js";
import { parseEndpoint } from "./endpoint.js";
import type { CallOptions } from "./options.js";

/**
 * Maintenance wraps etcdserverpb.Maintenance. Calls given an endpoint go to that member only
 * (which need not be one of the client's endpoints); without one they fail over like reads.
 */
export class Maintenance {
  private readonly balancer: Balancer;

  constructor(balancer: Balancer) {
    this.balancer = balancer;
  }

  status(endpoint?: string, opts?: CallOptions): Promise<etcdserverpb.StatusResponse> {
    const req = etcdserverpb.StatusRequest.create();
    if (endpoint === undefined) {
      return this.balancer.unary((c) => c.maintenance.status.bind(c.maintenance), req, "repeatable", opts);
    }
    return this.balancer.unaryOn(
      parseEndpoint(endpoint),
      (c) => c.maintenance.status.bind(c.maintenance),
      req,
      "repeatable",
      opts,
    );
  }

  /** hashKV hashes the MVCC key space up to revision (0: the latest). */
  hashKV(endpoint: string | undefined, revision: bigint, opts?: CallOptions): Promise<etcdserverpb.HashKVResponse> {
    const req = etcdserverpb.HashKVRequest.fromPartial({ revision });
    if (endpoint === undefined) {
      return this.balancer.unary((c) => c.maintenance.hashKv.bind(c.maintenance), req, "repeatable", opts);
    }
    return this.balancer.unaryOn(
      parseEndpoint(endpoint),
      (c) => c.maintenance.hashKv.bind(c.maintenance),
      req,
      "repeatable",
      opts,
    );
  }
}
