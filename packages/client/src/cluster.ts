import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Balancer } from "./balancer.js";
import { EtcdError } from "./errors.js";
import type { CallOptions } from "./options.js";
import { checkPeerURLs } from "./urls.js";

/**
 * Cluster wraps etcdserverpb.Cluster (membership). MemberList and MemberUpdate fail over
 * like reads; MemberAdd, MemberRemove and MemberPromote only while no server received them.
 * Member IDs are full 64-bit values. Peer URLs are checked locally first, as etcd's Go
 * client does, and a bad one rejects with a local InvalidArgument error.
 */
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

  /** memberAdd adds a member (a non-voting learner when isLearner) with peerURLs. */
  async memberAdd(peerURLs: string[], isLearner = false, opts?: CallOptions): Promise<etcdserverpb.MemberAddResponse> {
    urlCheck(peerURLs);
    return this.balancer.unary(
      (c) => c.cluster.memberAdd.bind(c.cluster),
      etcdserverpb.MemberAddRequest.fromPartial({ peerURLs, isLearner }),
      "nonRepeatable",
      opts,
    );
  }

  memberRemove(id: bigint, opts?: CallOptions): Promise<etcdserverpb.MemberRemoveResponse> {
    return this.balancer.unary(
      (c) => c.cluster.memberRemove.bind(c.cluster),
      etcdserverpb.MemberRemoveRequest.fromPartial({ ID: id }),
      "nonRepeatable",
      opts,
    );
  }

  /** memberUpdate replaces the peer URLs of member id. */
  async memberUpdate(id: bigint, peerURLs: string[], opts?: CallOptions): Promise<etcdserverpb.MemberUpdateResponse> {
    urlCheck(peerURLs);
    return this.balancer.unary(
      (c) => c.cluster.memberUpdate.bind(c.cluster),
      etcdserverpb.MemberUpdateRequest.fromPartial({ ID: id, peerURLs }),
      "repeatable",
      opts,
    );
  }

  /** memberPromote turns learner id into a voting member (it must have caught up with the leader). */
  memberPromote(id: bigint, opts?: CallOptions): Promise<etcdserverpb.MemberPromoteResponse> {
    return this.balancer.unary(
      (c) => c.cluster.memberPromote.bind(c.cluster),
      etcdserverpb.MemberPromoteRequest.fromPartial({ ID: id }),
      "nonRepeatable",
      opts,
    );
  }
}

function urlCheck(peerURLs: readonly string[]): void {
  const bad = checkPeerURLs(peerURLs);
  if (bad !== undefined) throw new EtcdError(grpc.status.INVALID_ARGUMENT, bad, true);
}
