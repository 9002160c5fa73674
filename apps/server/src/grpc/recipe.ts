import { setMaxListeners } from "node:events";
import { status as Status } from "@grpc/grpc-js";
import type { AuthInfo } from "@etcd-ts/auth";
import type { CallContext } from "@etcd-ts/grpc-server";
import type { WatchResponse as StoreResponse, WatchStream } from "@etcd-ts/mvcc";
import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import type { EtcdServer } from "../etcd_server.js";
import { mapError } from "../etcd_server.js";
import { Errors, RpcError } from "../errors.js";
import { credentialsOf } from "./auth.js";

/**
 * recipe.ts is the server side of etcd 3.4's v3lock and v3election services: what their
 * in-process clientv3 client and the concurrency recipes (session, mutex, election,
 * waitDeletes) do, run directly on the member's KV, lease and watchable store as the caller.
 */

/** SESSION_TTL is the TTL (seconds) of the lease a session grants when the request names none (concurrency's defaultSessionTTL). */
export const SESSION_TTL = 60n;

/** NO_LEASE_SESSION is the lease Leader and Observe open their session with (v3election asks for -1: no lease is granted). */
export const NO_LEASE_SESSION = -1n;

const SLASH = Buffer.from("/");

/** recipePrefix is the key prefix of a lock or election name (the recipes' `pfx + "/"`). */
export function recipePrefix(name: Buffer): Buffer {
  return Buffer.concat([name, SLASH]);
}

/** recipeKey is a session's key under prefix: `<prefix><lease id in %x>` (Go's %x of an int64: a negative ID is "-" and its magnitude). */
export function recipeKey(prefix: Buffer, lease: bigint): Buffer {
  return Buffer.concat([prefix, Buffer.from(lease.toString(16))]);
}

/** prefixEnd is clientv3's GetPrefixRangeEnd: the prefix with its last byte below 0xff incremented; "\0" (every key) if none. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** topCreate is clientv3's Get(prefix, WithFirstCreate()/WithLastCreate()[, WithMaxCreateRev(max)]): the first or last created key under prefix. */
export function topCreate(prefix: Buffer, order: "first" | "last", maxCreateRevision = 0n): etcdserverpb.RangeRequest {
  return etcdserverpb.RangeRequest.fromPartial({
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    limit: 1n,
    sortTarget: etcdserverpb.RangeRequest_SortTarget.CREATE,
    sortOrder: order === "first" ? etcdserverpb.RangeRequest_SortOrder.ASCEND : etcdserverpb.RangeRequest_SortOrder.DESCEND,
    maxCreateRevision,
  });
}

/** createRevisionIs is the compare `create_revision(key) == rev`. */
export function createRevisionIs(key: Buffer, rev: bigint): etcdserverpb.Compare {
  return etcdserverpb.Compare.fromPartial({
    key,
    target: etcdserverpb.Compare_CompareTarget.CREATE,
    result: etcdserverpb.Compare_CompareResult.EQUAL,
    createRevision: rev,
  });
}

/**
 * clientError is how an error reaches the caller of a Lock or Election RPC in etcd 3.4: the
 * in-process client turns every etcd error into a clientv3 error value, which is no gRPC
 * status, so grpc-go sends it as Unknown with etcd's message (e.g. `etcdserver: requested
 * lease not found`, `election: no leader`).
 */
export function clientError(err: unknown): unknown {
  const m = mapError(err);
  if (m instanceof RpcError) return m.code === Status.UNKNOWN ? m : new RpcError(Status.UNKNOWN, m.message);
  return m;
}

/** unknown is an error etcd's recipes return as a plain Go error (sent as Unknown). */
export function unknown(message: string): RpcError {
  return new RpcError(Status.UNKNOWN, message);
}

/** canceled is Go's context.Canceled, what an in-process call answers once the RPC is cancelled. */
const canceled = (): RpcError => unknown("context canceled");

/**
 * RecipeClient is one Lock or Election call's view of the member (etcd's in-process client
 * with the call's context): every operation runs with the caller's credentials, resolved
 * again for each operation as etcd does (a token may expire, the auth store may change),
 * and none starts once the call is cancelled or the member stops (one under way completes:
 * a key it put is found by the next step, which fails and cleans up). It holds at most one watch
 * stream (with one watcher at a time), closed by close().
 */
export class RecipeClient {
  private readonly ac = new AbortController();
  private ws: WatchStream | undefined;
  private readonly onStop = (): void => this.abort(Errors.stopped);
  private readonly onCancel = (): void => this.abort(canceled());
  private closed = false;

  constructor(
    private readonly s: EtcdServer,
    private readonly call: CallContext,
    private readonly clientCertAuth: boolean,
    private readonly stopSignal: AbortSignal,
  ) {
    if (stopSignal.aborted) this.abort(Errors.stopped);
    else if (call.signal.aborted) this.abort(canceled());
    stopSignal.addEventListener("abort", this.onStop);
    call.signal.addEventListener("abort", this.onCancel);
  }

  /** done: the call was cancelled or the member stopped (Go's ctx.Done()). */
  get done(): boolean {
    return this.ac.signal.aborted;
  }

  private abort(reason: RpcError): void {
    if (this.ac.signal.aborted) return;
    this.ac.abort(reason);
    // A pending wait sees its stream end and reports the reason.
    this.ws?.close();
  }

  /** check throws the reason the call can go no further (cancelled, member stopped). */
  check(): void {
    if (this.ac.signal.aborted) throw this.ac.signal.reason;
  }

  /** close frees what the call holds. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopSignal.removeEventListener("abort", this.onStop);
    this.call.signal.removeEventListener("abort", this.onCancel);
    this.ws?.close();
    this.ws = undefined;
  }

  private auth(): Promise<AuthInfo> {
    return credentialsOf(this.s, this.call, this.clientCertAuth);
  }

  async range(req: etcdserverpb.RangeRequest): Promise<etcdserverpb.RangeResponse> {
    this.check();
    return this.s.range(req, await this.auth());
  }

  async txn(req: etcdserverpb.TxnRequest): Promise<etcdserverpb.TxnResponse> {
    this.check();
    return this.s.txn(req, await this.auth());
  }

  async deleteRange(req: etcdserverpb.DeleteRangeRequest): Promise<etcdserverpb.DeleteRangeResponse> {
    this.check();
    return this.s.deleteRange(req, await this.auth());
  }

  /**
   * session is concurrency.NewSession(WithLease(lease)) followed by Orphan(): lease 0 grants a
   * new lease of SESSION_TTL seconds, which nothing keeps alive; any other ID is used as it is
   * (a missing lease is found out by the first write that names it).
   */
  async session(lease: bigint): Promise<bigint> {
    if (lease !== 0n) return lease;
    this.check();
    const r = await this.s.leaseGrant(etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: SESSION_TTL, ID: 0n }), await this.auth());
    return r.ID;
  }

  /**
   * cleanup runs `op` once a wait failed (the recipes' clean-up of the key they put, which Go
   * runs on the in-process client's own context). It runs with the caller's credentials,
   * resolved again; its failure is ignored, as Go ignores it.
   */
  async cleanup(op: (ai: AuthInfo) => Promise<unknown>): Promise<void> {
    try {
      await op(await this.auth());
    } catch {
      // Nothing to tell: the call is already failing.
    }
  }

  /**
   * watch starts a watcher on [key, end) (end undefined: the key alone) from startRev, after
   * checking that the caller may read the range (as etcd checks a watch at its creation).
   */
  async watch(key: Buffer, end: Buffer | undefined, startRev: bigint): Promise<bigint> {
    this.check();
    const ai = await this.auth();
    this.s.auth.isRangePermitted(ai, key, end ?? Buffer.alloc(0));
    this.check();
    if (this.ws === undefined) this.ws = this.s.newWatchStream();
    const id = this.ws.watch({ key, end, startRev, prevKv: false });
    // A watcher from a revision already in the store catches up now, not at the next sync pass.
    if (startRev <= this.ws.rev) this.s.kickWatchSync();
    return id;
  }

  /** unwatch cancels a watcher started by watch. */
  unwatch(id: bigint): void {
    this.ws?.cancel(id);
  }

  /**
   * next is the next response of the watchers, or undefined when the stream ended (the call
   * was cancelled, or the member stopped).
   */
  async next(): Promise<StoreResponse | undefined> {
    const ws = this.ws;
    if (ws === undefined || this.done) return undefined;
    return ws.next();
  }

  /**
   * waitDelete is concurrency's waitDelete: it returns once key is deleted at or after rev.
   * A compaction of rev fails it with etcd's compacted error.
   */
  async waitDelete(key: Buffer, rev: bigint): Promise<void> {
    const id = await this.watch(key, undefined, rev);
    try {
      for (;;) {
        const r = await this.next();
        if (r === undefined) {
          this.check();
          throw unknown("lost watcher waiting for delete");
        }
        if (r.watchId !== id) continue;
        if (r.events.some((ev) => ev.type === mvccpb.Event_EventType.DELETE)) return;
        if (r.compactRevision !== 0n) throw Errors.compacted;
      }
    } finally {
      this.unwatch(id);
    }
  }

  /**
   * waitDeletes is concurrency's waitDeletes: until no key under prefix has a create
   * revision at or below maxCreateRev, it waits for the deletion of the last created of them.
   * It answers the header of the read that found none.
   */
  async waitDeletes(prefix: Buffer, maxCreateRev: bigint): Promise<etcdserverpb.ResponseHeader> {
    const req = topCreate(prefix, "last", maxCreateRev);
    for (;;) {
      const resp = await this.range(req);
      const last = resp.kvs[0];
      if (last === undefined) return resp.header as etcdserverpb.ResponseHeader;
      await this.waitDelete(last.key, (resp.header as etcdserverpb.ResponseHeader).revision);
    }
  }
}

/**
 * stopSignal is a signal aborted once the member stops (one listener on the member for all
 * the calls of a service).
 */
export function stopSignal(s: EtcdServer): AbortSignal {
  const ac = new AbortController();
  // Every call in flight listens on it: no listener bound (Node warns past 10 by default).
  setMaxListeners(0, ac.signal);
  void s.stopNotify().then(() => ac.abort());
  return ac.signal;
}
