import type { Bytes } from "./bytes.js";
import { Client } from "./client.js";
import { KeyValue } from "./key_value.js";
import { Namespace } from "./namespace.js";
import type { CallOptions, ClientOptions } from "./options.js";
import {
  deleteRequest,
  getResult,
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
  type ResultsOf,
} from "./ops.js";

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
    const r = await this.range(key, { ...opts, prefix: false, fromKey: false, limit: 1, countOnly: false });
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

