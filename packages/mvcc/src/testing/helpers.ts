import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend, BatchTx, consistentIndexKey } from "@etcd-ts/backend";
import type { mvccpb } from "@etcd-ts/proto";
import { KVStore, type RangeOptions, type RangeResult, type WriteTxn } from "../kvstore.js";

/** b turns a string into a Buffer. */
export const b = (s: string): Buffer => Buffer.from(s);

/**
 * Harness owns a temp directory, a backend, the batch transaction over it (as the server
 * does) and a store writing into it.
 */
export class Harness {
  dir = "";
  backend!: Backend;
  tx!: BatchTx;
  store!: KVStore;
  private index = 0n;

  static async create(): Promise<Harness> {
    const h = new Harness();
    h.dir = await mkdtemp(join(tmpdir(), "mvcc-test-"));
    await h.open();
    return h;
  }

  /** open opens the backend, a batch transaction and the store from disk. */
  async open(): Promise<void> {
    this.backend = await Backend.open(join(this.dir, "db"));
    this.tx = new BatchTx(this.backend);
    this.store = await KVStore.open(this.backend, this.tx);
  }

  /** commit commits pending changes with the next consistent index, as the server's apply loop does. */
  commit(): Promise<void> {
    this.index++;
    return this.commitAt(this.index);
  }

  /** commitAt commits pending changes recording consistent index ci. */
  commitAt(ci: bigint): Promise<void> {
    const v = Buffer.alloc(8);
    v.writeBigUInt64BE(ci);
    this.tx.put(consistentIndexKey, v);
    return this.tx.commit();
  }

  /** close closes the store, the batch transaction (dropping what is uncommitted) and the backend. */
  async close(): Promise<void> {
    await this.store.close();
    await this.tx.close();
    await this.backend.close();
  }

  /** reopen closes the store and backend and opens them again from disk. */
  async reopen(): Promise<void> {
    await this.close();
    await this.open();
  }

  async destroy(): Promise<void> {
    await this.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** put writes key = value (with a lease) in its own write transaction. */
  put(key: string, value: string, opts: { lease?: bigint } = {}): { revision: bigint; events: mvccpb.Event[]; prev: mvccpb.KeyValue | undefined } {
    const t = this.store.write();
    const prev = t.put(b(key), b(value), opts.lease ?? 0n);
    return { ...t.end(), prev };
  }

  /** del deletes key (or [key, rangeEnd); "\0": every key from key) in its own write transaction. */
  del(key: string, rangeEnd?: string): { revision: bigint; events: mvccpb.Event[]; deleted: mvccpb.KeyValue[] } {
    const t = this.store.write();
    const deleted = t.deleteRange(b(key), end(rangeEnd ?? ""));
    return { ...t.end(), deleted };
  }

  /** txn runs fn in one write transaction and ends it. */
  txn(fn: (t: WriteTxn) => void): { revision: bigint; events: mvccpb.Event[] } {
    const t = this.store.write();
    fn(t);
    return t.end();
  }

  /** rangeAt reads key (or [key, rangeEnd)) at rev as the store answers: at once, or a promise for history. */
  rangeAt(key: string, rangeEnd = "", opts: RangeOptions = {}): RangeResult | Promise<RangeResult> {
    return this.store.range(b(key), end(rangeEnd), opts);
  }

  /** range reads key (or [key, rangeEnd)), waiting for history reads. */
  async range(key: string, rangeEnd = "", opts: { revision?: bigint; limit?: number; countOnly?: boolean } = {}): Promise<RangeResult> {
    const o: RangeOptions = {};
    if (opts.revision !== undefined) o.rev = opts.revision;
    if (opts.limit !== undefined) o.limit = opts.limit;
    if (opts.countOnly !== undefined) o.countOnly = opts.countOnly;
    return await this.rangeAt(key, rangeEnd, o);
  }

  /** kv returns "key=value" strings of a range. */
  async kv(key: string, rangeEnd = "", opts: { revision?: bigint } = {}): Promise<string[]> {
    return (await this.range(key, rangeEnd, opts)).kvs.map(show);
  }
}

/** end maps a test's range end as etcd's requests do: "" = the key alone, "\0" = no upper bound. */
function end(rangeEnd: string): Buffer | undefined {
  if (rangeEnd === "") return undefined;
  if (rangeEnd === "\0") return Buffer.alloc(0);
  return b(rangeEnd);
}

/** show renders a KeyValue as "key=value". */
export function show(kv: mvccpb.KeyValue): string {
  return `${kv.key.toString()}=${kv.value.toString()}`;
}

/** meta renders a KeyValue with its revisions: "key=value c<create> m<mod> v<version> l<lease>". */
export function meta(kv: mvccpb.KeyValue | undefined): string {
  if (kv === undefined) return "none";
  return `${kv.key.toString()}=${kv.value.toString()} c${kv.createRevision} m${kv.modRevision} v${kv.version} l${kv.lease}`;
}
