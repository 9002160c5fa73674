import { clusterId, hexId, memberId } from "./ids.js";

/** Member is one cluster member as the Cluster service reports it. */
export interface Member {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/**
 * Membership is the member list and the cluster ID. It is derived at bootstrap from
 * --initial-cluster (or fetched from a peer when joining), changed only by applied conf
 * changes and member-attribute entries, and kept in the backend (see MembershipStore) so a
 * restart does not depend on the flags. `removed` remembers members removed from the cluster.
 */
export class Membership {
  readonly removed = new Set<bigint>();
  /** clusterVersion is the version the cluster agreed on through raft ("3.4.0"), undefined until decided. */
  clusterVersion: string | undefined;

  constructor(
    public clusterId: bigint,
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

  /** findByPeerUrls returns the member whose peer URLs are exactly `urls`. */
  findByPeerUrls(urls: readonly string[]): Member | undefined {
    const key = [...urls].sort().join(",");
    for (const m of this.members.values()) if ([...m.peerUrls].sort().join(",") === key) return m;
    return undefined;
  }

  /** peerUrlInUse reports whether another member (not `except`) already has one of `urls`. */
  peerUrlInUse(urls: readonly string[], except?: bigint): boolean {
    for (const m of this.members.values()) {
      if (m.id === except) continue;
      if (m.peerUrls.some((u) => urls.includes(u))) return true;
    }
    return false;
  }

  add(m: Member): void {
    this.members.set(m.id, { ...m, peerUrls: [...m.peerUrls].sort() });
  }

  remove(id: bigint): void {
    this.members.delete(id);
    this.removed.add(id);
  }

  learners(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.isLearner) n++;
    return n;
  }

  /** encode serializes the membership (JSON with IDs as hex strings). */
  encode(): Buffer {
    return Buffer.from(
      JSON.stringify({
        clusterId: hexId(this.clusterId),
        members: [...this.members.values()].map((m) => ({ ...m, id: hexId(m.id) })),
        removed: [...this.removed].map(hexId),
        ...(this.clusterVersion !== undefined ? { clusterVersion: this.clusterVersion } : {}),
      }),
    );
  }

  static decode(buf: Buffer): Membership {
    const doc = JSON.parse(buf.toString("utf8")) as {
      clusterId: string;
      members: (Omit<Member, "id"> & { id: string })[];
      removed?: string[];
      clusterVersion?: string;
    };
    const members = new Map<bigint, Member>();
    for (const m of doc.members) {
      const id = BigInt(`0x${m.id}`);
      members.set(id, { ...m, id });
    }
    const ms = new Membership(BigInt(`0x${doc.clusterId}`), members);
    for (const r of doc.removed ?? []) ms.removed.add(BigInt(`0x${r}`));
    ms.clusterVersion = doc.clusterVersion;
    return ms;
  }
}
