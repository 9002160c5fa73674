import { existsSync, readFileSync, renameSync } from "node:fs";
import { raftpb, type serverpb } from "@etcd-ts/proto";
import type { Backend, BatchTx } from "@etcd-ts/backend";
import { hexId } from "./ids.js";
import type { Logger } from "./log.js";
import { Membership } from "./membership.js";

/**
 * MEMBERSHIP_KEY is the backend key of the member list (etcd keeps it in its "members" and
 * "members_removed" buckets): the encoded Membership, written in the batch of the entry that
 * changed it, so the member list is always as of the consistent index.
 */
export const MEMBERSHIP_KEY = Buffer.from("cluster/membership");

/** MembershipListener hears about applied membership changes (the server wires transport and shutdown). */
export interface MembershipListener {
  /** changed runs after every applied change of the member list. */
  changed(m: Membership): void;
  /** removedSelf runs once this member applied its own removal. */
  removedSelf(): void;
}

/**
 * MembershipStore applies committed membership changes (conf changes and member attributes)
 * to the member list and writes it into the member's batch transaction; it is the
 * membership part of the apply layer. `current` is replaced wholesale by a snapshot.
 */
export class MembershipStore {
  private listener: MembershipListener | undefined;

  constructor(
    public current: Membership,
    private readonly tx: Pick<BatchTx, "put">,
    private readonly memberId: bigint,
    private readonly logger: Logger,
  ) {}

  /**
   * load reads the member list from the backend. A data directory written before the member
   * list moved into the backend has it in `legacyFile` (membership.json): it is written into
   * the backend (synced) and the file is kept aside as membership.json.converted.
   */
  static async load(backend: Backend, legacyFile: string, logger: Logger): Promise<Membership | undefined> {
    const stored = await backend.get(MEMBERSHIP_KEY);
    if (stored !== undefined) return Membership.decode(stored);
    if (!existsSync(legacyFile)) return undefined;
    const m = Membership.decode(readFileSync(legacyFile));
    await backend.write([{ type: "put", key: MEMBERSHIP_KEY, value: m.encode() }], { sync: true });
    renameSync(legacyFile, `${legacyFile}.converted`);
    logger.info("moved the member list from membership.json into the backend", {
      "cluster-id": hexId(m.clusterId),
      members: m.members.size,
    });
    return m;
  }

  /** save puts the current member list into the pending batch. */
  save(): void {
    this.tx.put(MEMBERSHIP_KEY, this.current.encode());
  }

  /** replace installs a member list received in a snapshot. */
  replace(m: Membership): void {
    this.current = m;
    this.save();
    this.listener?.changed(m);
  }

  setListener(l: MembershipListener): void {
    this.listener = l;
  }

  /** applyConfChange updates the member list for an applied conf change. */
  applyConfChange(cc: raftpb.ConfChange, ctx: serverpb.ConfChangeContext): void {
    const ms = this.current;
    let removedSelf = false;
    for (const ch of cc.changes) {
      const existing = ms.members.get(ch.nodeId);
      switch (ch.type) {
        case raftpb.ConfChangeType.CONF_CHANGE_ADD_NODE:
        case raftpb.ConfChangeType.CONF_CHANGE_ADD_LEARNER_NODE: {
          const isLearner = ch.type === raftpb.ConfChangeType.CONF_CHANGE_ADD_LEARNER_NODE;
          const promoted = existing !== undefined && existing.isLearner && !isLearner;
          if (existing !== undefined) existing.isLearner = isLearner;
          else ms.add({ id: ch.nodeId, name: ctx.name, peerUrls: ctx.peerUrls, clientUrls: [], isLearner });
          this.logger.info(promoted ? "promote member" : "added member", {
            "cluster-id": hexId(ms.clusterId),
            "local-member-id": hexId(this.memberId),
            "added-peer-id": hexId(ch.nodeId),
            "added-peer-peer-urls": ctx.peerUrls,
          });
          break;
        }
        case raftpb.ConfChangeType.CONF_CHANGE_REMOVE_NODE:
          ms.remove(ch.nodeId);
          this.logger.info("removed member", {
            "cluster-id": hexId(ms.clusterId),
            "local-member-id": hexId(this.memberId),
            "removed-remote-peer-id": hexId(ch.nodeId),
          });
          if (ch.nodeId === this.memberId) removedSelf = true;
          break;
        case raftpb.ConfChangeType.CONF_CHANGE_UPDATE_NODE:
          if (existing !== undefined) existing.peerUrls = [...ctx.peerUrls].sort();
          break;
        default:
          break;
      }
    }
    this.save();
    this.listener?.changed(ms);
    if (removedSelf) this.listener?.removedSelf();
  }

  /**
   * applyClusterVersion records the cluster version the leader decided (etcd's SetVersion and
   * UpdateCapability logs).
   */
  applyClusterVersion(ver: string): void {
    const ms = this.current;
    const short = ver.split(".").slice(0, 2).join(".");
    if (ms.clusterVersion === ver) return;
    if (ms.clusterVersion === undefined) {
      this.logger.info("set initial cluster version", {
        "cluster-id": hexId(ms.clusterId),
        "local-member-id": hexId(this.memberId),
        "cluster-version": short,
      });
    } else {
      this.logger.info("updated cluster version", {
        "cluster-id": hexId(ms.clusterId),
        "local-member-id": hexId(this.memberId),
        from: ms.clusterVersion.split(".").slice(0, 2).join("."),
        to: short,
      });
    }
    ms.clusterVersion = ver;
    this.save();
    this.logger.info("enabled capabilities for version", { "cluster-version": short });
  }

  /** applyMemberAttributes records a member's published name and client URLs. */
  applyMemberAttributes(req: serverpb.MemberAttributesRequest): void {
    const m = this.current.members.get(req.memberId);
    if (m === undefined) return;
    m.name = req.name;
    m.clientUrls = req.clientUrls;
    this.save();
  }
}
