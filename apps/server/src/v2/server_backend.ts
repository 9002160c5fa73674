import { etcdserverpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";
import { hexId } from "../ids.js";
import type { V2Backend, V2WatchFeed } from "./backend.js";
import type { V2MembersContext } from "./http_members.js";

/**
 * serverV2Backend is the v2 store's V2Backend over this member: the same range, txn and
 * lease calls the v3 services make (with their checks, quota and raft path, and no auth
 * identity: with v3 auth on, v2 writes are refused as etcd's v2v3 refuses them), and watch
 * streams of the member's watchable store.
 *
 * A lease's expiry is exact on the leader (its lessor's clock); a follower asks the leader
 * for the lease's remaining whole seconds, so its TTLs can read up to a second short.
 */
export function serverV2Backend(s: EtcdServer): V2Backend {
  return {
    range: (req) => s.range(req),
    txn: (req) => s.txn(req),
    leaseGrant: async (ttl) => (await s.leaseGrant(etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: ttl }))).ID,
    leaseRevoke: async (id) => {
      try {
        await s.leaseRevoke(etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: id }));
      } catch {
        // gone already (expired, or revoked by another write)
      }
    },
    leaseExpiry: async (id) => {
      if (s.isLeader) {
        const left = s.lessor.remainingMs(id);
        if (left !== undefined) return Date.now() + left;
      }
      try {
        const r = await s.leaseTimeToLive(etcdserverpb.LeaseTimeToLiveRequest.fromPartial({ ID: id }));
        return r.TTL < 0n ? undefined : Date.now() + Number(r.TTL) * 1000;
      } catch {
        return undefined;
      }
    },
    watch: (key, end, startRev): V2WatchFeed => {
      const ws = s.newWatchStream();
      ws.watch({ key, end, startRev, prevKv: true });
      if (startRev <= ws.rev) s.kickWatchSync();
      return { next: () => ws.next(), close: () => ws.close() };
    },
    get compactRevision() {
      return s.kv.compactRevision;
    },
    raftStatus: () => ({ index: s.committedIndex, term: s.term }),
  };
}

/** serverV2Members is /v2/members over this member's Cluster operations. */
export function serverV2Members(s: EtcdServer): V2MembersContext {
  return {
    clusterId: () => hexId(s.membership.clusterId),
    members: () => s.members(),
    leader: () => s.leader,
    memberAdd: async (peerUrls) => {
      const r = await s.memberAdd(etcdserverpb.MemberAddRequest.fromPartial({ peerURLs: peerUrls }));
      const id = r.member?.ID;
      return id === undefined ? undefined : s.members().find((m) => m.id === id);
    },
    memberRemove: async (id) => {
      await s.memberRemove(etcdserverpb.MemberRemoveRequest.fromPartial({ ID: id }));
    },
    memberUpdate: async (id, peerUrls) => {
      await s.memberUpdate(etcdserverpb.MemberUpdateRequest.fromPartial({ ID: id, peerURLs: peerUrls }));
    },
    isRemoved: (id) => s.membership.removed.has(id),
  };
}
