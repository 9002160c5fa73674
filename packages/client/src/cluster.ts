import { etcdserverpb } from "@etcd-ts/proto";
import type { Balancer } from "./balancer.js";
import type { CallOptions } from "./options.js";

/** Cluster wraps etcdserverpb.Cluster (membership). */
export class Cluster {
  private readonly balancer: Balancer;

  constructor(balancer: Balancer) {
    this.balancer = balancer;
  }

  memberList(opts?: CallOptions): Promise<etcdserverpb.MemberListResponse> {
    return this.balancer.unary(
      (c) => c.cluster.memberList.bind(c.cluster),
      etcdserverpb.MemberListRequest.create(),
      "repeatable",
      opts,
    );
  }
}
