import * as grpc from "@grpc/grpc-js";
import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { prefixEnd, toBuffer, type Bytes } from "./bytes.js";
import type { Client } from "./client.js";
import { aborted, canceledError, EtcdError } from "./errors.js";
import type { KeptAliveLease } from "./lease.js";

/**
 * Distributed locks and leader election on plain KV, lease, txn and watch calls: the
 * algorithms of etcd's Go clientv3/concurrency package (Session, Mutex, Election), so
 * etcd-ts clients and Go clients can contend for the same locks and elections. The etcd
 * Lock and Election gRPC services are not used.
 */

const { Compare_CompareResult: CmpResult, Compare_CompareTarget: CmpTarget } = etcdserverpb;
const { RangeRequest_SortOrder: SortOrder, RangeRequest_SortTarget: SortTarget } = etcdserverpb;

/** DEFAULT_SESSION_TTL is the TTL (seconds) of a session's lease unless given (Go's defaultSessionTTL). */
export const DEFAULT_SESSION_TTL = 60;

/** ERR_ELECTION_NOT_LEADER and ERR_ELECTION_NO_LEADER are the Go package's election errors. */
export const ERR_ELECTION_NOT_LEADER = "election: not leader";
export const ERR_ELECTION_NO_LEADER = "election: no leader";
/** ERR_SESSION_EXPIRED: a lock was granted to a contender whose session (lease) had expired meanwhile (Go's ErrSessionExpired). */
export const ERR_SESSION_EXPIRED = "session expired";

/** leaseHex is Go's %x of a lease ID (an int64): lower-case hex, a minus sign when negative. */
export function leaseHex(id: bigint): string {
  const v = BigInt.asIntN(64, id);
  return v < 0n ? "-" + (-v).toString(16) : v.toString(16);
}

/** SessionOptions: the lease TTL in seconds (default 60), or an existing lease to keep alive. */
export interface SessionOptions {
  ttl?: number;
  leaseId?: bigint;
}

/**
 * Session is a lease kept alive for as long as the session lives: the keys of locks and
 * election candidacies are attached to it, so they vanish when the process holding them
 * dies. `done` resolves when the lease is lost (expired, revoked, or no keep-alive answer
 * within the TTL) or the session is orphaned or closed.
 */
export class Session {
  readonly client: Client;
  readonly lease: bigint;
  readonly ttl: number;
  readonly done: Promise<void>;
  private readonly keptAlive: KeptAliveLease;
  private finished = false;

  private constructor(client: Client, lease: bigint, ttl: number, keptAlive: KeptAliveLease) {
    this.client = client;
    this.lease = lease;
    this.ttl = ttl;
    this.keptAlive = keptAlive;
    this.done = keptAlive.ended.then(() => {
      this.finished = true;
    });
  }

  /** create grants the session's lease (unless opts.leaseId is given) and starts keeping it alive. */
  static async create(client: Client, opts: SessionOptions = {}): Promise<Session> {
    const ttl = opts.ttl !== undefined && opts.ttl > 0 ? opts.ttl : DEFAULT_SESSION_TTL;
    let id = opts.leaseId ?? 0n;
    if (id === 0n) id = (await client.lease.grant(ttl)).ID;
    const ka = client.lease.keepAlive(id);
    return new Session(client, id, ttl, ka);
  }

  /** isDone tells whether the session has ended. */
  get isDone(): boolean {
    return this.finished;
  }

  /** orphan stops keeping the lease alive without revoking it: it expires after its TTL. */
  orphan(): void {
    this.keptAlive.close();
  }

  /** close orphans the session and revokes its lease (waiting at most the TTL). */
  async close(): Promise<void> {
    this.orphan();
    await this.client.lease.revoke(this.lease, { timeoutMs: this.ttl * 1000 });
  }
}

/** rangeTop is clientv3's WithFirstCreate (ASCEND) or WithLastCreate (DESCEND) over a prefix: the oldest or newest key. */
function rangeTop(prefix: Buffer, order: etcdserverpb.RangeRequest_SortOrder, maxCreateRevision = 0n): etcdserverpb.RangeRequest {
  return etcdserverpb.RangeRequest.fromPartial({
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortTarget: SortTarget.CREATE,
    sortOrder: order,
    limit: 1n,
    maxCreateRevision,
  });
}

function createRevisionIs(key: Buffer, rev: bigint): etcdserverpb.Compare {
  return etcdserverpb.Compare.fromPartial({ key, target: CmpTarget.CREATE, result: CmpResult.EQUAL, createRevision: rev });
}

/**
 * waitDelete watches key from revision rev until it is deleted (Go's waitDelete). A watch
 * that ends without the delete is an error.
 */
async function waitDelete(client: Client, key: Buffer, rev: bigint, signal: AbortSignal | undefined): Promise<void> {
  if (aborted(signal)) throw canceledError();
  const w = client.watch(key, { startRevision: rev, ...(signal !== undefined ? { signal } : {}) });
  try {
    for await (const r of w) {
      if (r.events.some((ev) => ev.type === mvccpb.Event_EventType.DELETE)) return;
    }
  } finally {
    w.cancel();
  }
  if (aborted(signal)) throw canceledError();
  throw new Error("lost watcher waiting for delete");
}

/**
 * waitDeletes waits until no key under prefix with a create revision <= maxCreateRev is left,
 * each time waiting for the newest such key to go (Go's waitDeletes). It returns the header
 * of the read that found none.
 */
async function waitDeletes(
  client: Client,
  prefix: Buffer,
  maxCreateRev: bigint,
  signal: AbortSignal | undefined,
): Promise<etcdserverpb.ResponseHeader | undefined> {
  for (;;) {
    const resp = await client.range(rangeTop(prefix, SortOrder.DESCEND, maxCreateRev), signal !== undefined ? { signal } : {});
    const last = resp.kvs[0];
    if (last === undefined) return resp.header;
    await waitDelete(client, last.key, resp.header?.revision ?? 0n, signal);
  }
}

/**
 * Mutex is a distributed lock under a key prefix (Go's concurrency.Mutex): each contender puts
 * `<prefix>/<lease hex>` with its session's lease; the oldest key (lowest create revision)
 * holds the lock, and every other contender waits for the deletion of the key created just
 * before its own.
 */
export class Mutex {
  readonly session: Session;
  private readonly pfx: Buffer;
  private myKey: Buffer = Buffer.alloc(0);
  private myRev = -1n;
  private hdr: etcdserverpb.ResponseHeader | undefined;

  constructor(session: Session, prefix: Bytes) {
    this.session = session;
    this.pfx = Buffer.concat([toBuffer(prefix), Buffer.from("/")]);
  }

  /**
   * lock waits until the lock is held. When waiting fails (aborted through signal, or an
   * error) the contender's key is deleted again and the error is thrown.
   */
  async lock(signal?: AbortSignal): Promise<void> {
    const client = this.session.client;
    const lease = this.session.lease;
    this.myKey = Buffer.concat([this.pfx, Buffer.from(leaseHex(lease))]);
    const getOwner = rangeTop(this.pfx, SortOrder.ASCEND);
    const resp = await client.txn(
      {
        compare: [createRevisionIs(this.myKey, 0n)],
        success: [{ requestPut: { key: this.myKey, value: Buffer.alloc(0), lease } }, { requestRange: getOwner }],
        failure: [{ requestRange: { key: this.myKey } }, { requestRange: getOwner }],
      },
      signal !== undefined ? { signal } : {},
    );
    this.myRev = resp.header?.revision ?? 0n;
    if (!resp.succeeded) this.myRev = resp.responses[0]?.responseRange?.kvs[0]?.createRevision ?? 0n;
    const owner = resp.responses[1]?.responseRange?.kvs ?? [];
    if (owner.length === 0 || owner[0]?.createRevision === this.myRev) {
      this.hdr = resp.header;
      return;
    }
    try {
      this.hdr = await waitDeletes(client, this.pfx, this.myRev - 1n, signal);
    } catch (e) {
      await this.unlock().catch(() => {});
      throw e;
    }
    // The session may have expired while waiting: its key went with its lease, and holding
    // the lock now would be a lie (etcd 3.5's check, ErrSessionExpired).
    const own = await client.range({ key: this.myKey }, signal !== undefined ? { signal } : {});
    if (own.kvs.length === 0 || own.kvs[0]?.createRevision !== this.myRev) {
      this.myKey = Buffer.from([0]);
      this.myRev = -1n;
      throw new EtcdError(grpc.status.ABORTED, ERR_SESSION_EXPIRED, true);
    }
  }

  /** unlock deletes the contender's key, releasing the lock (or leaving the queue). */
  async unlock(): Promise<void> {
    await this.session.client.deleteRange({ key: this.myKey });
    this.myKey = Buffer.from([0]);
    this.myRev = -1n;
  }

  /** isOwner is the txn comparison that holds while this contender owns the lock. */
  isOwner(): etcdserverpb.Compare {
    return createRevisionIs(this.myKey, this.myRev);
  }

  /** key is the contender's key (`<prefix>/<lease hex>`). */
  get key(): Buffer {
    return this.myKey;
  }

  /**
   * rev is the create revision of the contender's key (-1n when it holds none): while the
   * lock is held, a fencing token that grows with every new holder.
   */
  get rev(): bigint {
    return this.myRev;
  }

  /** header is the response header of the call that acquired the lock. */
  get header(): etcdserverpb.ResponseHeader | undefined {
    return this.hdr;
  }
}

/**
 * Election is leader election under a key prefix (Go's concurrency.Election): candidates put
 * `<prefix>/<lease hex>` with their proposal; the oldest key is the leader, and its value the
 * leader's proposal.
 */
export class Election {
  readonly session: Session;
  private readonly keyPrefix: Buffer;
  private leaderKey: Buffer = Buffer.alloc(0);
  private leaderRev = 0n;
  private leaderSession: Session | undefined;
  private hdr: etcdserverpb.ResponseHeader | undefined;

  constructor(session: Session, prefix: Bytes) {
    this.session = session;
    this.keyPrefix = Buffer.concat([toBuffer(prefix), Buffer.from("/")]);
  }

  /**
   * campaign puts the candidate's proposal and waits until it is the leader. Aborted through
   * signal, it resigns and throws; after another error it stops being a candidate.
   */
  async campaign(val: Bytes, signal?: AbortSignal): Promise<void> {
    const s = this.session;
    const client = s.client;
    const v = toBuffer(val);
    const k = Buffer.concat([this.keyPrefix, Buffer.from(leaseHex(s.lease))]);
    const resp = await client.txn(
      {
        compare: [createRevisionIs(k, 0n)],
        success: [{ requestPut: { key: k, value: v, lease: s.lease } }],
        failure: [{ requestRange: { key: k } }],
      },
      signal !== undefined ? { signal } : {},
    );
    this.leaderKey = k;
    this.leaderRev = resp.header?.revision ?? 0n;
    this.leaderSession = s;
    if (!resp.succeeded) {
      const kv = resp.responses[0]?.responseRange?.kvs[0];
      this.leaderRev = kv?.createRevision ?? 0n;
      if (kv !== undefined && !Buffer.from(kv.value).equals(v)) {
        try {
          await this.proclaim(v, signal);
        } catch (e) {
          await this.resign().catch(() => {});
          throw e;
        }
      }
    }
    try {
      await waitDeletes(client, this.keyPrefix, this.leaderRev - 1n, signal);
    } catch (e) {
      if (aborted(signal)) await this.resign().catch(() => {});
      else this.leaderSession = undefined;
      throw e;
    }
    this.hdr = resp.header;
  }

  /** proclaim changes the leader's proposal without a new election; only the leader may. */
  async proclaim(val: Bytes, signal?: AbortSignal): Promise<void> {
    if (this.leaderSession === undefined) throw new EtcdError(grpc.status.FAILED_PRECONDITION, ERR_ELECTION_NOT_LEADER, true);
    const resp = await this.session.client.txn(
      {
        compare: [createRevisionIs(this.leaderKey, this.leaderRev)],
        success: [{ requestPut: { key: this.leaderKey, value: toBuffer(val), lease: this.leaderSession.lease } }],
        failure: [],
      },
      signal !== undefined ? { signal } : {},
    );
    if (!resp.succeeded) {
      this.leaderKey = Buffer.alloc(0);
      throw new EtcdError(grpc.status.FAILED_PRECONDITION, ERR_ELECTION_NOT_LEADER, true);
    }
    this.hdr = resp.header;
  }

  /** resign gives up leadership (or candidacy) by deleting the candidate's key. */
  async resign(): Promise<void> {
    if (this.leaderSession === undefined) return;
    try {
      const resp = await this.session.client.txn({
        compare: [createRevisionIs(this.leaderKey, this.leaderRev)],
        success: [{ requestDeleteRange: { key: this.leaderKey } }],
        failure: [],
      });
      this.hdr = resp.header;
    } finally {
      this.leaderKey = Buffer.alloc(0);
      this.leaderSession = undefined;
    }
  }

  /** leader reads the current leader's key-value; with no leader it throws ERR_ELECTION_NO_LEADER. */
  async leader(signal?: AbortSignal): Promise<etcdserverpb.RangeResponse> {
    const resp = await this.session.client.range(rangeTop(this.keyPrefix, SortOrder.ASCEND), signal !== undefined ? { signal } : {});
    if (resp.kvs.length === 0) throw new EtcdError(grpc.status.NOT_FOUND, ERR_ELECTION_NO_LEADER, true);
    return resp;
  }

  /**
   * observe yields the leader each time it changes or proclaims a new value, as range
   * responses holding the leader's key-value, exactly as Go's Election.Observe builds them.
   * It ends when signal is aborted or a read or watch fails.
   */
  async *observe(signal?: AbortSignal): AsyncGenerator<etcdserverpb.RangeResponse, void, undefined> {
    const client = this.session.client;
    const sig = signal !== undefined ? { signal } : {};
    for (;;) {
      let resp: etcdserverpb.RangeResponse;
      try {
        resp = await client.range(rangeTop(this.keyPrefix, SortOrder.ASCEND), sig);
      } catch {
        return;
      }
      let kv: mvccpb.KeyValue | undefined;
      let hdr: etcdserverpb.ResponseHeader | undefined;
      if (resp.kvs.length === 0) {
        const w = client.watch(this.keyPrefix, { prefix: true, startRevision: resp.header?.revision ?? 0n, ...sig });
        try {
          while (kv === undefined) {
            let r: IteratorResult<etcdserverpb.WatchResponse>;
            try {
              r = await w.next();
            } catch {
              return;
            }
            if (r.done === true) return;
            for (const ev of r.value.events) {
              if (ev.type === mvccpb.Event_EventType.PUT && ev.kv !== undefined) {
                hdr = etcdserverpb.ResponseHeader.fromPartial({ ...r.value.header, revision: ev.kv.modRevision });
                kv = ev.kv;
                break;
              }
            }
          }
        } finally {
          w.cancel();
        }
      } else {
        hdr = resp.header;
        kv = resp.kvs[0] as mvccpb.KeyValue;
      }
      if (aborted(signal)) return;
      yield etcdserverpb.RangeResponse.fromPartial({ header: hdr, kvs: [kv] });

      const w = client.watch(kv.key, { startRevision: (hdr?.revision ?? 0n) + 1n, ...sig });
      try {
        let deleted = false;
        while (!deleted) {
          let r: IteratorResult<etcdserverpb.WatchResponse>;
          try {
            r = await w.next();
          } catch {
            return;
          }
          if (r.done === true) return;
          for (const ev of r.value.events) {
            if (ev.type === mvccpb.Event_EventType.DELETE) {
              deleted = true;
              break;
            }
            resp = { ...resp, header: r.value.header, kvs: ev.kv !== undefined ? [ev.kv] : [] };
            if (aborted(signal)) return;
            yield resp;
          }
        }
      } finally {
        w.cancel();
      }
    }
  }

  /** key is the candidate's key once campaigning (empty otherwise). */
  get key(): Buffer {
    return this.leaderKey;
  }

  /** rev is the create revision of the candidate's key. */
  get rev(): bigint {
    return this.leaderRev;
  }

  /** header is the response header of the last successful election call. */
  get header(): etcdserverpb.ResponseHeader | undefined {
    return this.hdr;
  }
}
