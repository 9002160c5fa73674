import type { CallContext, ServiceImplementation } from "@etcd-ts/grpc-server";
import { etcdserverpb, mvccpb, type v3electionpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";
import { clientError, createRevisionIs, NO_LEASE_SESSION, prefixEnd, RecipeClient, recipeKey, recipePrefix, stopSignal, topCreate, unknown } from "./recipe.js";

/** etcd 3.4's v3election and concurrency errors (plain Go errors: sent as Unknown). */
const missingLeaderKey = (): Error => unknown(`"leader" field must be provided`);
const notLeader = (): Error => unknown("election: not leader");
const noLeader = (): Error => unknown("election: no leader");

/**
 * electionService implements v3electionpb.Election as etcd 3.4's v3election does with
 * clientv3's concurrency.Election on an orphaned session (lease 0 grants a lease of 60 s
 * that nothing keeps alive; Leader and Observe grant none):
 *  - Campaign(name, lease, value): puts `<name>/<lease in %x>` = value on the lease unless it
 *    exists (an existing key keeps its create revision and gets the value by Proclaim), then
 *    waits until every key under `<name>/` created before it is deleted. It answers the
 *    header of that first txn and the LeaderKey {name, key, rev (the key's create revision),
 *    lease}. A cancelled Campaign deletes its key (if its create revision is still rev).
 *  - Proclaim(leader, value) puts the value if the leader key's create revision is still
 *    leader.rev (else `election: not leader`); Resign(leader) deletes the key on the same
 *    condition and answers its header either way.
 *  - Leader(name) is the first created key under `<name>/` (else `election: no leader`).
 *  - Observe(name) streams the current leader's key, each of its new values, and the next
 *    leader after its key is deleted (waiting for a first one if none); it ends without error
 *    when an operation fails, as etcd's does.
 * Every operation runs as the caller; every error is sent as etcd sends it (Unknown, with
 * etcd's message; see clientError).
 */
export function electionService(s: EtcdServer, clientCertAuth = false): ServiceImplementation<typeof v3electionpb.ElectionService> {
  const stopped = stopSignal(s);
  const client = (call: CallContext): RecipeClient => new RecipeClient(s, call, clientCertAuth, stopped);

  /** proclaimTxn is Election.Proclaim's txn: put value on key (on lease) if its create revision is rev. */
  const proclaimTxn = (key: Buffer, rev: bigint, lease: bigint, value: Buffer): etcdserverpb.TxnRequest =>
    etcdserverpb.TxnRequest.fromPartial({
      compare: [createRevisionIs(key, rev)],
      success: [{ requestPut: etcdserverpb.PutRequest.fromPartial({ key, value, lease }) }],
    });
  /** resignTxn is Election.Resign's txn: delete key if its create revision is rev. */
  const resignTxn = (key: Buffer, rev: bigint): etcdserverpb.TxnRequest =>
    etcdserverpb.TxnRequest.fromPartial({
      compare: [createRevisionIs(key, rev)],
      success: [{ requestDeleteRange: etcdserverpb.DeleteRangeRequest.fromPartial({ key }) }],
    });

  return {
    campaign: async (req, call) => {
      const c = client(call);
      try {
        const lease = await c.session(req.lease);
        const prefix = recipePrefix(req.name);
        const key = recipeKey(prefix, lease);
        const resp = await c.txn(
          etcdserverpb.TxnRequest.fromPartial({
            compare: [createRevisionIs(key, 0n)],
            success: [{ requestPut: etcdserverpb.PutRequest.fromPartial({ key, value: req.value, lease }) }],
            failure: [{ requestRange: etcdserverpb.RangeRequest.fromPartial({ key }) }],
          }),
        );
        const header = resp.header as etcdserverpb.ResponseHeader;
        let rev = header.revision;
        const existing = resp.succeeded ? undefined : resp.responses[0]?.responseRange?.kvs[0];
        if (existing !== undefined) {
          rev = existing.createRevision;
          if (!existing.value.equals(req.value)) {
            let proclaimed: etcdserverpb.TxnResponse;
            try {
              proclaimed = await c.txn(proclaimTxn(key, rev, lease, req.value));
            } catch (err) {
              // Go resigns with the call's context: a cancelled call resigns nothing.
              if (!c.done) await c.cleanup((ai) => s.txn(resignTxn(key, rev), ai));
              throw err;
            }
            // Not the leader any more: Go forgets the key before resigning, so nothing is deleted.
            if (!proclaimed.succeeded) throw notLeader();
          }
        }
        try {
          await c.waitDeletes(prefix, rev - 1n);
        } catch (err) {
          if (c.done) await c.cleanup((ai) => s.txn(resignTxn(key, rev), ai));
          throw err;
        }
        return { header, leader: { name: req.name, key, rev, lease } };
      } catch (err) {
        throw clientError(err);
      } finally {
        c.close();
      }
    },

    proclaim: async (req, call) => {
      const c = client(call);
      try {
        const leader = req.leader;
        if (leader === undefined) throw missingLeaderKey();
        const lease = await c.session(leader.lease);
        const resp = await c.txn(proclaimTxn(leader.key, leader.rev, lease, req.value));
        if (!resp.succeeded) throw notLeader();
        return { header: resp.header };
      } catch (err) {
        throw clientError(err);
      } finally {
        c.close();
      }
    },

    resign: async (req, call) => {
      const c = client(call);
      try {
        const leader = req.leader;
        if (leader === undefined) throw missingLeaderKey();
        await c.session(leader.lease);
        const resp = await c.txn(resignTxn(leader.key, leader.rev));
        return { header: resp.header };
      } catch (err) {
        throw clientError(err);
      } finally {
        c.close();
      }
    },

    leader: async (req, call) => {
      const c = client(call);
      try {
        await c.session(NO_LEASE_SESSION);
        const resp = await c.range(topCreate(recipePrefix(req.name), "first"));
        const kv = resp.kvs[0];
        if (kv === undefined) throw noLeader();
        return { header: resp.header, kv };
      } catch (err) {
        throw clientError(err);
      } finally {
        c.close();
      }
    },

    observe: async (req, call) => {
      const c = client(call);
      try {
        await observe(s, c, recipePrefix(req.name), (r) => call.send(r));
      } catch {
        // etcd's Observe ends its stream without an error when its observer stops; a failed
        // send means the call is gone.
      } finally {
        c.close();
      }
    },
  };
}

/**
 * observe is concurrency.Election's observe loop: it sends the first created key under
 * prefix (waiting for a first put if there is none), then every new value of that key until
 * it is deleted, and starts over. It returns (or throws) when an operation or a watcher fails.
 */
async function observe(
  s: EtcdServer,
  c: RecipeClient,
  prefix: Buffer,
  send: (r: v3electionpb.LeaderResponse) => Promise<void>,
): Promise<void> {
  for (;;) {
    const resp = await c.range(topCreate(prefix, "first"));
    let header = resp.header as etcdserverpb.ResponseHeader;
    let kv = resp.kvs[0];
    if (kv === undefined) {
      // Wait for the first put under the prefix, from the revision just read.
      const id = await c.watch(prefix, prefixEnd(prefix), header.revision);
      while (kv === undefined) {
        const r = await c.next();
        if (r === undefined || r.compactRevision !== 0n) return;
        if (r.watchId !== id) continue;
        const put = r.events.find((ev) => ev.type === mvccpb.Event_EventType.PUT);
        if (put?.kv !== undefined) {
          kv = put.kv;
          // The header of the watch response, at the put's revision.
          header = { ...s.header(r.revision), revision: kv.modRevision };
        }
      }
      c.unwatch(id);
    }
    c.check();
    await send({ header, kv });
    const id = await c.watch(kv.key, undefined, header.revision + 1n);
    let deleted = false;
    while (!deleted) {
      const r = await c.next();
      if (r === undefined || r.compactRevision !== 0n) return;
      if (r.watchId !== id) continue;
      for (const ev of r.events) {
        if (ev.type === mvccpb.Event_EventType.DELETE) {
          deleted = true;
          break;
        }
        c.check();
        await send({ header: s.header(r.revision), kv: ev.kv });
      }
    }
    c.unwatch(id);
  }
}
