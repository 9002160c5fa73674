import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend, BatchTx, consistentIndexKey } from "@etcd-ts/backend";
import { etcdserverpb, type mvccpb } from "@etcd-ts/proto";
import { KVStore } from "../kvstore.js";
import type { RangeResult } from "../range.js";

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

  put(key: string, value: string, opts: Partial<etcdserverpb.PutRequest> = {}) {
    return this.store.put(etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value), ...opts }));
  }

  del(key: string, rangeEnd?: string, opts: Partial<etcdserverpb.DeleteRangeRequest> = {}) {
    return this.store.deleteRange(
      etcdserverpb.DeleteRangeRequest.fromPartial({ key: b(key), rangeEnd: b(rangeEnd ?? ""), ...opts }),
    );
  }

  /** req builds a RangeRequest. */
  req(key: string, rangeEnd = "", opts: Partial<etcdserverpb.RangeRequest> = {}): etcdserverpb.RangeRequest {
    return rangeReq(key, rangeEnd, opts);
  }

  /** get ranges (awaiting historical reads) and returns the result. */
  async range(key: string, rangeEnd = "", opts: Partial<etcdserverpb.RangeRequest> = {}): Promise<RangeResult> {
    return await this.store.range(rangeReq(key, rangeEnd, opts));
  }

  /** keys returns "key=value" strings of a range. */
  async kv(key: string, rangeEnd = "", opts: Partial<etcdserverpb.RangeRequest> = {}): Promise<string[]> {
    return (await this.range(key, rangeEnd, opts)).kvs.map(show);
  }
}

export function rangeReq(key: string, rangeEnd = "", opts: Partial<etcdserverpb.RangeRequest> = {}): etcdserverpb.RangeRequest {
  return etcdserverpb.RangeRequest.fromPartial({ key: b(key), rangeEnd: b(rangeEnd), ...opts });
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
