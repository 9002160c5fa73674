import * as grpc from "@grpc/grpc-js";
import { toBuffer, type Bytes } from "./bytes.js";
import { Client } from "./client.js";
import { Election, ERR_ELECTION_NO_LEADER, ERR_SESSION_EXPIRED, Mutex, Session } from "./concurrency.js";
import { EtcdError } from "./errors.js";
import { EtcdWatch, type EtcdWatchOptions } from "./etcd_watch.js";
import type { KeptAliveLease, KeepAliveOptions, LeaseGrantOptions } from "./lease.js";
import { KeyValue } from "./key_value.js";
import { Namespace } from "./namespace.js";
import type { CallOptions, ClientOptions } from "./options.js";
import {
  deleteRequest,
  getResult,
  nsRange,
  jsonBytes,
  kvsOf,
  opResults,
  putRequest,
  rangeRequest,
  txnRequest,
  type Compare,
  type DeleteOptions,
  type DeleteResult,
  type GetOptions,
  type GetResult,
  type Op,
  type PutOptions,
  type PutResult,
  type RangeSelect,
  type ResultsOf,
} from "./ops.js";
import { Barrier, PriorityQueue, Queue } from "./recipes.js";
import { runStm, type StmOptions, type StmResult, type Tx } from "./stm.js";

/** EtcdOptions configure an Etcd: the Client's options, and a namespace every key lives under. */
export interface EtcdOptions extends ClientOptions {
  /** namespace puts every key of this Etcd under a prefix (see Etcd.namespace). */
  namespace?: Bytes;
}

/** Revisioned adds the store's revision at the time of the answer (the response header's). */
export type Revisioned<T> = T & { revision: bigint };

/**
 * TxnResult is a transaction's outcome: which branch ran and that branch's results, one per
 * operation, typed by the operations given to do() and else().
 */
export type TxnResult<T extends readonly Op[], E extends readonly Op[]> = Revisioned<
  { succeeded: true; results: ResultsOf<T> } | { succeeded: false; results: ResultsOf<E> }
>;

/**
 * Etcd is the high-level etcd v3 API: keys and values as strings, bytes or JSON, reads with
 * every RangeRequest option, a transaction builder, and namespaces. It runs over a Client
 * (`client`), which has endpoint failover, TLS, authentication, and the raw service calls.
 * Every call takes CallOptions (a deadline, an AbortSignal).
 */
export class Etcd {
  /** client is the Client underneath, shared by every namespace of this Etcd. */
  readonly client: Client;
  private readonly ns: Namespace;

  constructor(opts: EtcdOptions);
  /** (internal) a namespace view sharing a client. */
  constructor(opts: EtcdOptions, shared: { client: Client; ns: Namespace });
  constructor(opts: EtcdOptions, shared?: { client: Client; ns: Namespace }) {
    if (shared !== undefined) {
      this.client = shared.client;
      this.ns = shared.ns;
      return;
    }
    this.client = new Client(opts);
    this.ns = new Namespace(opts.namespace ?? "");
  }

  /** over makes an Etcd on an existing Client (closing the Etcd closes the Client). */
  static over(client: Client, namespace: Bytes = ""): Etcd {
    return new Etcd({ endpoints: [] }, { client, ns: new Namespace(namespace) });
  }

  /**
   * namespace is a view of this Etcd with every key under `prefix` (inside this Etcd's own
   * namespace): keys are prefixed on the way in and the prefix is taken off keys on the way
   * out, as etcd's Go client namespace package does. It shares the connection.
   */
  namespace(prefix: Bytes): Etcd {
    return new Etcd({ endpoints: [] }, { client: this.client, ns: this.ns.nested(prefix) });
  }

  /** prefix is this Etcd's namespace (empty: none). */
  get prefix(): Buffer {
    return this.ns.prefix;
  }

  // ---- reads ----

  /** get is key's value as a UTF-8 string, undefined when the key does not exist. */
  async get(key: Bytes, opts?: GetOptions & CallOptions): Promise<string | undefined> {
    return (await this.getKv(key, opts))?.string();
  }

  /** getBytes is key's value, undefined when the key does not exist. */
  async getBytes(key: Bytes, opts?: GetOptions & CallOptions): Promise<Buffer | undefined> {
    return (await this.getKv(key, opts))?.value;
  }

  /** getJSON is key's value parsed as JSON, undefined when the key does not exist. */
  async getJSON<T = unknown>(key: Bytes, opts?: GetOptions & CallOptions): Promise<T | undefined> {
    return (await this.getKv(key, opts))?.json<T>();
  }

  /** getKv is the key with its value and revisions, undefined when it does not exist. */
  async getKv(key: Bytes, opts: GetOptions & CallOptions = {}): Promise<KeyValue | undefined> {
    const { rangeEnd: _end, ...one } = opts;
    const r = await this.range(key, { ...one, prefix: false, fromKey: false, limit: 1, countOnly: false });
    return r.kvs[0];
  }

  /**
   * range reads one key, or a range with opts.prefix, opts.fromKey or opts.rangeEnd, with
   * every RangeRequest option: revision, limit, sort, keys or count only, serializable, and
   * the revision filters.
   */
  async range(key: Bytes, opts: GetOptions & CallOptions = {}): Promise<Revisioned<GetResult>> {
    const r = await this.client.kv.range(rangeRequest(this.ns, key, opts), opts);
    return { ...getResult(this.ns, r), revision: r.header?.revision ?? 0n };
  }

  /** getAll is every key starting with prefix (default: every key of the namespace), sorted by key. */
  async getAll(prefix: Bytes = "", opts: GetOptions & CallOptions = {}): Promise<KeyValue[]> {
    return (await this.range(prefix, { ...opts, prefix: true })).kvs;
  }

  /** keys lists the keys starting with prefix (default: all), as UTF-8 strings, without their values. */
  async keys(prefix: Bytes = "", opts: GetOptions & CallOptions = {}): Promise<string[]> {
    return (await this.range(prefix, { ...opts, prefix: true, keysOnly: true })).kvs.map((kv) => kv.keyString);
  }

  /** count is the number of keys starting with prefix (default: all). */
  async count(prefix: Bytes = "", opts: GetOptions & CallOptions = {}): Promise<bigint> {
    return (await this.range(prefix, { ...opts, prefix: true, countOnly: true })).count;
  }

  // ---- writes ----

  /** put sets key to value (a string is stored as UTF-8). */
  async put(key: Bytes, value: Bytes, opts: PutOptions & CallOptions = {}): Promise<Revisioned<PutResult>> {
    const r = await this.client.kv.put(putRequest(this.ns, key, value, opts), opts);
    const prev = r.prevKv;
    return { prevKv: prev === undefined ? undefined : KeyValue.fromProto(prev, this.ns.strip), revision: r.header?.revision ?? 0n };
  }

  /** putJSON sets key to JSON.stringify(value). */
  putJSON(key: Bytes, value: unknown, opts: PutOptions & CallOptions = {}): Promise<Revisioned<PutResult>> {
    return this.put(key, jsonBytes(value), opts);
  }

  /** delete deletes key, or a range with opts.prefix, opts.fromKey or opts.rangeEnd. */
  async delete(key: Bytes, opts: DeleteOptions & CallOptions = {}): Promise<Revisioned<DeleteResult>> {
    const r = await this.client.kv.deleteRange(deleteRequest(this.ns, key, opts), opts);
    return { deleted: r.deleted, prevKvs: kvsOf(this.ns, r.prevKvs), revision: r.header?.revision ?? 0n };
  }

  /** deleteAll deletes every key starting with prefix (default: every key of the namespace). */
  deleteAll(prefix: Bytes = "", opts: Omit<DeleteOptions, "prefix" | "fromKey" | "rangeEnd"> & CallOptions = {}): Promise<Revisioned<DeleteResult>> {
    return this.delete(prefix, { ...opts, prefix: true });
  }

  /**
   * txn starts a transaction: `etcd.txn().if(compare.value("a", "==", "1")).do(op.put("b", "2")).else(op.get("b")).commit()`.
   * (The branches are do/else rather than then/else: an object with a then method would be
   * taken for a promise by await.)
   */
  txn(): TxnBuilder<[], []> {
    return new TxnBuilder(this, [], [], []);
  }

  /**
   * compact discards the history before revision; with physical it resolves once the
   * server has removed it from its backend.
   */
  async compact(revision: bigint, opts: { physical?: boolean } & CallOptions = {}): Promise<void> {
    await this.client.kv.compact({ revision, physical: opts.physical ?? false }, opts);
  }

  /** commitTxn runs a built transaction (TxnBuilder.commit). */
  async commitTxn<T extends readonly Op[], E extends readonly Op[]>(
    compares: readonly Compare[],
    success: T,
    failure: E,
    opts: CallOptions = {},
  ): Promise<TxnResult<T, E>> {
    const r = await this.client.kv.txn(txnRequest(this.ns, compares, success, failure), opts);
    return { succeeded: r.succeeded, results: opResults(this.ns, r.responses), revision: r.header?.revision ?? 0n } as TxnResult<T, E>;
  }

  // ---- watch, leases, recipes ----

  /**
   * watch reports the changes of key (or of a range, with prefix, fromKey or rangeEnd) as
   * events; see EtcdWatch. Without startRevision it starts after the current revision.
   */
  watch(key: Bytes, opts: EtcdWatchOptions & RangeSelect = {}): EtcdWatch {
    const r = nsRange(this.ns, key, opts);
    const { prefix: _p, fromKey: _f, ...rest } = opts;
    return new EtcdWatch(this.client.watch(r.key, { ...rest, rangeEnd: r.rangeEnd }), this.ns);
  }

  /**
   * lease grants a lease of ttl seconds and keeps it alive until it is closed or lost; its
   * "lost" event (and `lost` promise) says when the server no longer has it. Pass it as the
   * `lease` option of a put. Revoke it with revoke(lease).
   */
  lease(ttl: number | bigint, opts: LeaseGrantOptions & KeepAliveOptions = {}): Promise<KeptAliveLease> {
    return this.client.lease.grantKeptAlive(ttl, opts);
  }

  /** revoke revokes a lease (deleting its keys) and stops keeping it alive. */
  async revoke(lease: bigint | KeptAliveLease, opts?: CallOptions): Promise<void> {
    if (typeof lease !== "bigint") lease.close();
    await this.client.lease.revoke(typeof lease === "bigint" ? lease : lease.id, opts);
  }

  /**
   * lock runs fn while holding the lock `name` (clientv3/concurrency's Mutex: a lease of ttl
   * seconds, default 60, kept alive meanwhile, and a queue by create revision), then
   * releases it, also when fn throws. fn gets the lock's fencing revision (the create revision
   * of the holder's key; it grows with every new holder: guard writes with
   * `compare.createRevision(held.key, "==", held.revision)`) and a signal aborted if the
   * lease is lost while fn runs.
   */
  async lock<T>(name: Bytes, fn: (held: HeldLock) => Promise<T>, opts: { ttl?: number; signal?: AbortSignal } = {}): Promise<T> {
    const session = await Session.create(this.client, opts.ttl !== undefined ? { ttl: opts.ttl } : {});
    try {
      const m = new Mutex(session, this.ns.key(toBuffer(name)));
      await m.lock(opts.signal);
      if (session.isDone) {
        await m.unlock().catch(() => undefined);
        throw new EtcdError(grpc.status.ABORTED, ERR_SESSION_EXPIRED, true);
      }
      const lost = new AbortController();
      void session.done.then(() => lost.abort(new Error("client: the lock's lease was lost")));
      try {
        return await fn({ key: m.key.subarray(this.ns.strip), revision: m.rev, signal: lost.signal });
      } finally {
        await m.unlock().catch(() => undefined);
      }
    } finally {
      await session.close().catch(() => undefined);
    }
  }

  /** election is the leader election `name` (clientv3/concurrency's Election); see EtcdElection. */
  election(name: Bytes, opts: { ttl?: number } = {}): EtcdElection {
    return new EtcdElection(this.client, this.ns, this.ns.key(toBuffer(name)), opts.ttl);
  }

  /** queue is the FIFO queue `name` (etcd's recipes Queue); see Queue. */
  queue(name: string): Queue {
    return new Queue(this, name);
  }

  /** priorityQueue is the priority queue `name` (etcd's recipes PriorityQueue); see PriorityQueue. */
  priorityQueue(name: string): PriorityQueue {
    return new PriorityQueue(this, name);
  }

  /** barrier is the barrier `name` (etcd's recipes Barrier); see Barrier. */
  barrier(name: string): Barrier {
    return new Barrier(this, name);
  }

  /**
   * stm runs fn as a software transactional memory transaction (clientv3/concurrency's STM):
   * reads go through tx and see its own writes, writes are buffered and committed atomically
   * if nothing the isolation level watches changed; on a conflict fn runs again. fn must
   * have no effects other than through tx.
   */
  stm<T>(fn: (tx: Tx) => Promise<T>, opts?: StmOptions): Promise<StmResult<T>> {
    return runStm(this, fn, opts);
  }

  /**
   * close closes the connection: pending and later calls reject, watches end, and kept-alive
   * leases stop being renewed. It closes the Client, so every namespace of it too.
   */
  close(): void {
    this.client.close();
  }
}

/**
 * TxnBuilder builds one transaction: if every compare holds (or none is given) the do()
 * operations run, else the else() operations, atomically at one revision.
 */
export class TxnBuilder<T extends readonly Op[], E extends readonly Op[]> {
  constructor(
    private readonly etcd: Etcd,
    private readonly compares: readonly Compare[],
    private readonly success: T,
    private readonly failure: E,
  ) {}

  /** if adds conditions; all of them must hold. */
  if(...compares: Compare[]): TxnBuilder<T, E> {
    return new TxnBuilder(this.etcd, [...this.compares, ...compares], this.success, this.failure);
  }

  /** do sets the operations run when the conditions hold. */
  do<N extends Op[]>(...ops: N): TxnBuilder<N, E> {
    return new TxnBuilder(this.etcd, this.compares, ops, this.failure);
  }

  /** else sets the operations run when a condition fails. */
  else<N extends Op[]>(...ops: N): TxnBuilder<T, N> {
    return new TxnBuilder(this.etcd, this.compares, this.success, ops);
  }

  /** commit runs the transaction. */
  commit(opts?: CallOptions): Promise<TxnResult<T, E>> {
    return this.etcd.commitTxn(this.compares, this.success, this.failure, opts);
  }
}


/** HeldLock is what Etcd.lock hands its function: the holder's key, the fencing revision, and a signal aborted when the lease is lost. */
export interface HeldLock {
  key: Buffer;
  revision: bigint;
  signal: AbortSignal;
}


/**
 * EtcdElection is one participant of a leader election (clientv3/concurrency's Election,
 * interoperable with etcdctl elect and the Election service): campaign waits to lead,
 * proclaim changes the leader's value, resign steps down, leader reads the current one and
 * observe follows it. Its session (a lease kept alive, ttl seconds, default 60) is made on
 * first use; close resigns and revokes it. `revision` is the create revision of this
 * participant's key while it campaigns or leads: a fencing token.
 */
export class EtcdElection {
  private session: Session | undefined;
  private election: Election | undefined;
  /** opening is the session being made, shared by calls that need it at the same time. */
  private opening: Promise<Election> | undefined;
  /** lost aborts when the session behind this participant's key ends. */
  private lost = new AbortController();

  /** @internal */
  constructor(
    private readonly client: Client,
    private readonly ns: Namespace,
    private readonly prefix: Buffer,
    private readonly ttl: number | undefined,
  ) {}

  private open(): Promise<Election> {
    if (this.election !== undefined && this.session !== undefined && !this.session.isDone) return Promise.resolve(this.election);
    this.opening ??= (async () => {
      try {
        // A lost session's keys are gone with its lease; stop keeping it (it is revoked already or expired).
        this.session?.orphan();
        const session = await Session.create(this.client, this.ttl !== undefined ? { ttl: this.ttl } : {});
        this.session = session;
        const lost = new AbortController();
        this.lost = lost;
        void session.done.then(() => lost.abort(new Error("client: the election's lease was lost")));
        this.election = new Election(session, this.prefix);
        return this.election;
      } finally {
        this.opening = undefined;
      }
    })();
    return this.opening;
  }

  /** campaign puts value as this participant's proposal and resolves once it leads. */
  async campaign(value: Bytes, signal?: AbortSignal): Promise<void> {
    await (await this.open()).campaign(value, signal);
  }

  /** proclaim sets the leader's value without a new election (only while leading). */
  async proclaim(value: Bytes, signal?: AbortSignal): Promise<void> {
    await (await this.open()).proclaim(value, signal);
  }

  /** resign steps down (or leaves the queue), letting the next candidate lead. */
  async resign(): Promise<void> {
    if (this.election !== undefined) await this.election.resign();
  }

  /** leader is the current leader's key-value, undefined when nobody leads. */
  async leader(signal?: AbortSignal): Promise<KeyValue | undefined> {
    const r = await (await this.open()).leader(signal).catch((e: unknown) => {
      if (e instanceof EtcdError && e.local && e.message === ERR_ELECTION_NO_LEADER) return undefined;
      throw e;
    });
    const kv = r?.kvs[0];
    return kv === undefined ? undefined : KeyValue.fromProto(kv, this.ns.strip);
  }

  /** observe yields the leader's key-value each time the leader or its value changes, until signal aborts. */
  async *observe(signal?: AbortSignal): AsyncGenerator<KeyValue, void, undefined> {
    for await (const r of (await this.open()).observe(signal)) {
      const kv = r.kvs[0];
      if (kv !== undefined) yield KeyValue.fromProto(kv, this.ns.strip);
    }
  }

  /** revision is the create revision of this participant's key (0n when not campaigning). */
  get revision(): bigint {
    return this.election?.rev ?? 0n;
  }

  /**
   * key is this participant's key while it campaigns or leads (empty otherwise). With
   * `revision` it fences a leader's writes: `compare.createRevision(e.key, "==", e.revision)`
   * holds only while this participant's key, and so its leadership, lasts.
   */
  get key(): Buffer {
    const k = this.election?.key;
    return k === undefined || k.length === 0 ? Buffer.alloc(0) : k.subarray(this.ns.strip);
  }

  /**
   * signal aborts when the lease behind this participant's key is lost (it expired or was
   * revoked): from then on it neither leads nor campaigns. Read it after campaign resolves:
   * each new lease (the first call that needs one, or one after a loss) comes with a new
   * signal, and before any the signal never aborts.
   */
  get signal(): AbortSignal {
    return this.lost.signal;
  }

  /** close resigns and revokes the session's lease. */
  async close(): Promise<void> {
    await this.resign().catch(() => undefined);
    await this.session?.close().catch(() => undefined);
  }
}
