import type { ServiceImplementation } from "@etcd-ts/grpc-server";
import { etcdserverpb, type v3lockpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";
import { clientError, createRevisionIs, RecipeClient, recipeKey, recipePrefix, stopSignal, topCreate } from "./recipe.js";

/**
 * lockService implements v3lockpb.Lock as etcd 3.4's v3lock does with clientv3's
 * concurrency.Mutex on an orphaned session:
 *  - Lock(name, lease): lease 0 grants a lease of 60 s that nothing keeps alive. The key is
 *    `<name>/<lease in %x>`; one txn puts it (empty value, on the lease) unless it exists,
 *    and reads the first created key under `<name>/`. The caller holds the lock once every
 *    key under the prefix created before its own is deleted: it waits for the deletion of
 *    the last created of them, again and again. The answer is the header of the txn
 *    (uncontended) or of the read that found no older key, and the key. If the wait fails
 *    (the call is cancelled, the member stops, the watched revision is compacted), the key is
 *    deleted.
 *  - Unlock(key) deletes the key.
 * Every operation runs as the caller; every error is sent as etcd sends it (Unknown, with
 * etcd's message; see clientError).
 */
export function lockService(s: EtcdServer, clientCertAuth = false): ServiceImplementation<typeof v3lockpb.LockService> {
  const stopped = stopSignal(s);
  return {
    lock: async (req, call) => {
      const c = new RecipeClient(s, call, clientCertAuth, stopped);
      try {
        const lease = await c.session(req.lease);
        const prefix = recipePrefix(req.name);
        const key = recipeKey(prefix, lease);
        const getOwner = { requestRange: topCreate(prefix, "first") };
        const resp = await c.txn(
          etcdserverpb.TxnRequest.fromPartial({
            compare: [createRevisionIs(key, 0n)],
            success: [{ requestPut: etcdserverpb.PutRequest.fromPartial({ key, lease }) }, getOwner],
            failure: [{ requestRange: etcdserverpb.RangeRequest.fromPartial({ key }) }, getOwner],
          }),
        );
        const header = resp.header as etcdserverpb.ResponseHeader;
        // This session may already hold the key (the same lease locked the name before): its
        // create revision stands.
        const myRev = resp.succeeded ? header.revision : (resp.responses[0]?.responseRange?.kvs[0]?.createRevision ?? header.revision);
        const owner = resp.responses[1]?.responseRange?.kvs[0];
        if (owner === undefined || owner.createRevision === myRev) return { header, key };
        let waited: etcdserverpb.ResponseHeader;
        try {
          waited = await c.waitDeletes(prefix, myRev - 1n);
        } catch (err) {
          await c.cleanup((ai) => s.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial({ key }), ai));
          throw err;
        }
        return { header: waited, key };
      } catch (err) {
        throw clientError(err);
      } finally {
        c.close();
      }
    },
    unlock: async (req, call) => {
      const c = new RecipeClient(s, call, clientCertAuth, stopped);
      try {
        const resp = await c.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial({ key: req.key }));
        return { header: resp.header };
      } catch (err) {
        throw clientError(err);
      } finally {
        c.close();
      }
    },
  };
}
