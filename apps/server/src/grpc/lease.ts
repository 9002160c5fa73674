import type { etcdserverpb } from "@etcd-ts/proto";
import type { ServiceImplementation } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { authOf, credentialsOf } from "./auth.js";
import { Errors } from "../errors.js";

/**
 * leaseService implements etcdserverpb.Lease on an EtcdServer, with etcd's v3rpc answers:
 * a keep-alive for a lease that is gone answers TTL 0 (not an error), and TimeToLive of an
 * unknown lease answers TTL -1. Keep-alives of one stream are handled in order, one at a
 * time (a follower forwards each to the leader).
 */
export function leaseService(s: EtcdServer, clientCertAuth = false): ServiceImplementation<typeof etcdserverpb.LeaseService> {
  return {
    leaseGrant: (r, call) => s.leaseGrant(r, authOf(call)),
    leaseRevoke: (r, call) => s.leaseRevoke(r, authOf(call)),
    leaseKeepAlive: async (call) => {
      for await (const req of call) {
        const header = s.header(s.kv.currentRevision);
        let ttl: bigint;
        try {
          ttl = await s.leaseRenew(req.ID);
        } catch (err) {
          if (err !== Errors.leaseNotFound) throw err;
          ttl = 0n;
        }
        await call.send({ header, ID: req.ID, TTL: ttl });
      }
    },
    leaseTimeToLive: async (r, call) => {
      try {
        // Credentials matter only for the keys (and are resolved only then, as etcd does).
        return await s.leaseTimeToLive(r, () => credentialsOf(s, call, clientCertAuth));
      } catch (err) {
        if (err !== Errors.leaseNotFound) throw err;
        return { header: s.header(s.kv.currentRevision), ID: r.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
      }
    },
    leaseLeases: async () => s.leaseLeases(),
  };
}
