import { clusterId, memberId } from "./ids.js";

/** Member is one cluster member as the Cluster service reports it. */
export interface Member {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/**
 * Membership is the member list and the cluster ID of the cluster this member belongs to.
 * It is derived at bootstrap from --initial-cluster and persisted in the backend (see
 * MembershipStore) so a restart does not depend on the flags.
 */
export class Membership {
  constructor(
    readonly clusterId: bigint,
    readonly members: Map<bigint, Member>,
  ) {}

  /** fromInitialCluster computes IDs as etcd does for a new cluster. */
  static fromInitialCluster(initial: Map<string, string[]>, token: string): Membership {
    const members = new Map<bigint, Member>();
    for (const [name, peerUrls] of initial) {
      const id = memberId(peerUrls, token);
      if (members.has(id)) throw new Error(`membership: member ${name} has the same peer URLs as another member`);
      members.set(id, { id, name, peerUrls: [...peerUrls].sort(), clientUrls: [], isLearner: false });
    }
    return new Membership(clusterId([...members.keys()]), members);
  }

  /** encode serializes the membership for the backend (JSON with IDs as hex strings). */
  encode(): Buffer {
    return Buffer.from(
      JSON.stringify({
        clusterId: this.clusterId.toString(16),
        members: [...this.members.values()].map((m) => ({ ...m, id: m.id.toString(16) })),
      }),
    );
  }

  static decode(buf: Buffer): Membership {
    const doc = JSON.parse(buf.toString("utf8")) as {
      clusterId: string;
      members: (Omit<Member, "id"> & { id: string })[];
    };
    const members = new Map<bigint, Member>();
    for (const m of doc.members) {
      const id = BigInt(`0x${m.id}`);
      members.set(id, { ...m, id });
    }
    return new Membership(BigInt(`0x${doc.clusterId}`), members);
  }
}
