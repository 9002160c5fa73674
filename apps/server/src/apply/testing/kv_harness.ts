import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend, BatchTx, consistentIndexKey } from "@etcd-ts/backend";
import { KVStore } from "@etcd-ts/mvcc";
import { Lessor } from "@etcd-ts/lease";
import { etcdserverpb, type mvccpb } from "@etcd-ts/proto";
import { AuthStore } from "@etcd-ts/auth";
import { ServerTokens } from "../../auth/tokens.js";
import { AlarmStore } from "../../alarm_store.js";
import { authBackend } from "../../auth/auth_backend.js";
import { READ_CONTEXT, type Applied, type RequestContext } from "../applier.js";
import { BaseApplier } from "../base_applier.js";

/** b turns a string into a Buffer. */
export const b = (s: string): Buffer => Buffer.from(s);

const CTX: RequestContext = { requestId: 1n, index: 1n, user: "", authRevision: 0n, origin: "local" };

/** Ranged is a range's answer as the KV tests read it. */
export interface Ranged {
  kvs: mvccpb.KeyValue[];
  more: boolean;
  count: bigint;
  revision: bigint;
}

/**
 * KvHarness applies KV requests through the base applier to a real store on a temp backend,
 * as the apply loop does (one batch transaction, committed with a consistent index), and
 * records the events each write published.
 */
export class KvHarness {
  dir = "";
  backend!: Backend;
  tx!: BatchTx;
  store!: KVStore;
  base!: BaseApplier;
  /** events are the events of every revision published since the last take. */
  events: mvccpb.Event[] = [];
  /** lessor holds the leases (a real one: the applier attaches and detaches keys). */
  lessor!: Lessor;
  private index = 0n;

  static async create(): Promise<KvHarness> {
    const h = new KvHarness();
    h.dir = await mkdtemp(join(tmpdir(), "apply-kv-test-"));
    await h.open();
    return h;
  }

  private async open(): Promise<void> {
    this.backend = await Backend.open(join(this.dir, "db"));
    this.tx = new BatchTx(this.backend);
    this.store = await KVStore.open(this.backend, this.tx);
    this.store.onEvents((evs) => this.events.push(...evs));
    const alarms = await AlarmStore.open(this.backend, this.tx);
    this.lessor = await Lessor.open(this.backend, this.tx, { minTtl: 1, clock: () => 0, checkpointIntervalMs: 0 });
    const auth = await AuthStore.open(authBackend(this.backend, this.tx));
    const tokens = new ServerTokens({ type: "simple" }, () => 0, () => 0, 300_000, (n) => new Uint8Array(n));
    this.base = new BaseApplier(
      this.store,
      alarms,
      this.lessor,
      () => undefined,
      (err) => {
        throw err;
      },
      auth,
      tokens,
    );
  }

  /** grantLease creates lease id (TTL 60s) so puts may name it. */
  grantLease(id: bigint): void {
    this.lessor.grant(id, 60n);
  }

  /** takeEvents returns and forgets the recorded events. */
  takeEvents(): mvccpb.Event[] {
    return this.events.splice(0);
  }

  commit(): Promise<void> {
    this.index++;
    const v = Buffer.alloc(8);
    v.writeBigUInt64BE(this.index);
    this.tx.put(consistentIndexKey, v);
    return this.tx.commit();
  }

  async reopen(): Promise<void> {
    await this.store.close();
    await this.tx.close();
    await this.backend.close();
    await this.open();
  }

  async destroy(): Promise<void> {
    await this.store.close();
    await this.tx.close();
    await this.backend.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  put(key: string, value: string, opts: Partial<etcdserverpb.PutRequest> = {}): Applied<etcdserverpb.PutResponse> {
    return this.base.put(CTX, etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value), ...opts }));
  }

  del(key: string, rangeEnd?: string, opts: Partial<etcdserverpb.DeleteRangeRequest> = {}): Applied<etcdserverpb.DeleteRangeResponse> {
    return this.base.deleteRange(CTX, etcdserverpb.DeleteRangeRequest.fromPartial({ key: b(key), rangeEnd: b(rangeEnd ?? ""), ...opts }));
  }

  /** txn applies a txn and returns its outcome with the events it published. */
  txn(req: etcdserverpb.TxnRequest): Applied<etcdserverpb.TxnResponse> & { events: mvccpb.Event[] } {
    this.events = [];
    const applied = this.base.txn(CTX, req);
    return { ...applied, events: this.takeEvents() };
  }

  /** listen also calls fn with every revision's events. */
  listen(fn: (events: mvccpb.Event[], revision: bigint) => void): void {
    this.store.onEvents((evs, rev) => {
      this.events.push(...evs);
      fn(evs, rev);
    });
  }

  /** rangeApplied answers a range request as the base applier does (done set for history). */
  rangeApplied(req: etcdserverpb.RangeRequest): Applied<etcdserverpb.RangeResponse> {
    return this.base.range(READ_CONTEXT, req);
  }

  req(key: string, rangeEnd = "", opts: Partial<etcdserverpb.RangeRequest> = {}): etcdserverpb.RangeRequest {
    return rangeReq(key, rangeEnd, opts);
  }

  /** range answers a range, waiting for history reads. */
  async range(key: string, rangeEnd = "", opts: Partial<etcdserverpb.RangeRequest> = {}): Promise<Ranged> {
    const r = this.rangeApplied(rangeReq(key, rangeEnd, opts));
    if (r.done !== undefined) await r.done;
    return { kvs: r.response.kvs, more: r.response.more, count: r.response.count, revision: r.revision };
  }

  /** kv returns "key=value" strings of a range. */
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
