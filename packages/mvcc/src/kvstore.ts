import { consistentIndexKey, mergedScan, type Backend, type BatchTx, type WriteOp } from "@etcd-ts/backend";
import { crc32c } from "@node-rs/crc32";
import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { compareKVs } from "./compare.js";
import { ErrCompacted, ErrFutureRev, ErrKeyNotFound } from "./errors.js";
import type { KeyIndex } from "./key_index.js";
import { fetchLimit, shapeRange, type RangeResult } from "./range.js";
import {
  decodeUint64,
  encodeUint64,
  etcdRevisionBytes,
  finishedCompactKey,
  keyPrefix,
  keyPrefixEnd,
  parseRevisionKey,
  revisionBound,
  revisionKey,
  revKeyLen,
  scheduledCompactKey,
  type Revision,
} from "./revision.js";
import { encodeKV, keyField } from "./stored_kv.js";
import { TreeIndex } from "./tree_index.js";

/**
 * WriteResult is the outcome of a write: the response without its header (the server fills
 * it; responses nested in a txn carry etcd's partial headers), the header revision, and the
 * events the write produced (empty when it changed nothing). ready is set only when the
 * response holds ranges at past revisions that still read the backend: the response is
 * complete once ready resolves. The store's state changed synchronously either way.
 */
export interface WriteResult<T> {
  response: T;
  revision: bigint;
  events: mvccpb.Event[];
  ready?: Promise<void>;
}

/** EventListener receives the events of one revision, once, in revision order. */
export type EventListener = (events: mvccpb.Event[], revision: bigint) => void;

/** WriteTx tracks one write transaction: its changes share main revision beginRev + 1. */
interface WriteTx {
  beginRev: bigint;
  changes: number;
  events: mvccpb.Event[];
  reads: Promise<void>[];
}

/** compactBatchOps is how many old revisions one physical-compaction write deletes. */
const compactBatchOps = 10_000;

const emptyBuffer = Buffer.alloc(0);
const keyBucketName = Buffer.from("key");

/**
 * KVStore is etcd's multi-version key-value store. Every change gets a revision; the key index
 * (in memory) maps each key to its revisions and caches its current value, so reads at the
 * current revision and all compares are synchronous. Reads at past revisions fetch values
 * from the backend. Mutations change memory at once and put their backend writes into the
 * member's batch transaction, which its owner commits (with the raft consistent index and
 * every other store's changes) once per applied batch. The store is single-threaded: callers
 * apply entries one at a time.
 *
 * Request buffers (keys, values) are kept by reference and must not be mutated afterwards;
 * returned KeyValues are shared with the store and must not be mutated either.
 */
export class KVStore {
  private readonly backend: Backend;
  private readonly writer: BatchTx;
  private readonly tree = new TreeIndex();
  private rev = 1n;
  /** compactMainRev is the compacted revision, -1 before the first compaction (as etcd). */
  private compactMainRev = -1n;
  private listener: EventListener | undefined;
  /** exclusive serializes physical compactions and hashes over the backend. */
  private exclusiveTail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** closedSignal rejects when the store closes, ending waits for commits that may never come. */
  private readonly closedSignal = rejectOnClose();

  private constructor(backend: Backend, tx: BatchTx) {
    this.backend = backend;
    this.writer = tx;
  }

  /**
   * open rebuilds a store from the backend: the key index, the current values, the current
   * and compacted revisions. A compaction that was scheduled but not finished resumes in the
   * background. The store writes into tx, a batch transaction over the same backend.
   */
  static async open(backend: Backend, tx: BatchTx): Promise<KVStore> {
    const s = new KVStore(backend, tx);
    await s.restore();
    return s;
  }

  /** currentRevision is the revision of the last change (1 on an empty store). */
  get currentRevision(): bigint {
    return this.rev;
  }

  /** compactRevision is the revision of the last compaction (0 when never compacted). */
  get compactRevision(): bigint {
    return this.compactMainRev < 0n ? 0n : this.compactMainRev;
  }

  /** onEvents sets the listener that receives every revision's events (replacing any other). */
  onEvents(listener: EventListener): void {
    this.listener = listener;
  }

  /**
   * range reads the keys [key, range_end) (one key when range_end is empty, every key >= key
   * when it is "\0") at req.revision (0 = current) with etcd's limit, filters and sort. It
   * answers synchronously at the current revision and with a promise for past revisions;
   * it throws MvccError synchronously for a compacted or future revision.
   */
  range(req: etcdserverpb.RangeRequest): RangeResult | Promise<RangeResult> {
    this.checkOpen();
    return this.rangeAt(req, this.rev);
  }

  /** put writes one key (see etcd's Put: prev_kv, lease, ignore_value, ignore_lease). */
  put(req: etcdserverpb.PutRequest): WriteResult<etcdserverpb.PutResponse> {
    this.checkOpen();
    const tx = this.beginTx();
    const response = this.txPut(tx, req);
    return this.endTx(tx, response);
  }

  /** deleteRange deletes the keys in a range; deleting nothing does not change the revision. */
  deleteRange(req: etcdserverpb.DeleteRangeRequest): WriteResult<etcdserverpb.DeleteRangeResponse> {
    this.checkOpen();
    const tx = this.beginTx();
    const response = this.txDeleteRange(tx, req);
    return this.endTx(tx, response);
  }

  /**
   * txn evaluates the compares (of the txn and of every nested txn on the chosen path) against
   * the state before the txn, checks the chosen operations (ignore_value/ignore_lease need an
   * existing key; range revisions must be readable), then applies them. All changes share one
   * main revision; ranges see the txn's earlier writes. A txn that changes nothing keeps the
   * revision.
   */
  txn(req: etcdserverpb.TxnRequest): WriteResult<etcdserverpb.TxnResponse> {
    this.checkOpen();
    const path: boolean[] = [];
    this.comparePath(req, path);
    if (!isTxnReadOnly(req)) this.checkOps(req, path, { i: 0 }, (op) => this.checkPut(op));
    this.checkOps(req, path, { i: 0 }, (op) => this.checkRange(op));
    const tx = this.beginTx();
    const response = this.applyTxn(tx, req, path, { i: 0 });
    return this.endTx(tx, response);
  }

  /**
   * compact discards the history before rev: reads below rev fail with ErrCompacted afterwards,
   * and every key keeps its newest revision <= rev unless that is a deletion. It throws
   * ErrCompacted when rev <= the compacted revision and ErrFutureRev when rev > the current
   * one. The index changes at once; the compaction is recorded in the pending batch, and
   * `done` settles after the batch transaction's next commit has written it and the old
   * revisions have been deleted from the backend.
   */
  compact(rev: bigint): { done: Promise<void> } {
    this.checkOpen();
    if (rev <= this.compactMainRev) throw ErrCompacted();
    if (rev > this.rev) throw ErrFutureRev();
    this.compactMainRev = rev;
    this.writer.put(scheduledCompactKey, encodeUint64(rev));
    const available = this.tree.compact(rev);
    const persisted = this.writer.pendingWritten();
    const done = this.exclusive(async () => {
      // The store may close before the batch holding the compaction is committed.
      await Promise.race([persisted, this.closedSignal.promise]);
      await this.deleteCompacted(rev, available);
    });
    done.catch(() => undefined);
    return { done };
  }

  /**
   * hash is the CRC-32C of every key and value in the backend except the consistent index,
   * including changes not yet committed (etcd's Maintenance.Hash).
   */
  hash(): Promise<number> {
    this.checkOpen();
    return this.exclusive(async () => {
      let crc = 0;
      for await (const [k, v] of mergedScan(this.backend, this.writer.unflushed(), undefined, undefined)) {
        if (k.equals(consistentIndexKey)) continue;
        crc = crc32c(v, crc32c(k, crc));
      }
      return crc;
    });
  }

  /**
   * hashKV is etcd's HashKV: the CRC-32C of the revisions up to `revision` (0 = current) that
   * a read at that revision could still need, in etcd's byte layout, so stores with the same
   * history (and etcd itself) agree. compactRevision is -1 when never compacted, as etcd
   * reports it. Throws ErrCompacted for revision <= the compacted revision, ErrFutureRev for
   * revision > the current one.
   */
  async hashKV(revision: bigint): Promise<{ hash: number; compactRevision: bigint; hashRevision: bigint }> {
    this.checkOpen();
    const compactRev = this.compactMainRev;
    const currentRev = this.rev;
    if (revision > 0n && revision <= compactRev) throw ErrCompacted();
    if (revision > 0n && revision > currentRev) throw ErrFutureRev();
    const hashRev = revision === 0n ? currentRev : revision;
    // etcd hashes no revision at all for a negative revision.
    if (hashRev < 0n) return { hash: crc32c(keyBucketName), compactRevision: compactRev, hashRevision: hashRev };
    const keep = this.tree.keep(hashRev);
    const upper = revisionBound(hashRev + 1n);
    return this.exclusive(async () => {
      let crc = crc32c(keyBucketName);
      for await (const [k, v] of mergedScan(this.backend, this.writer.unflushed(), keyPrefix, upper)) {
        const { rev } = parseRevisionKey(k);
        if (rev.main <= compactRev && keep.size > 0 && !keep.has(k.toString("latin1", 0, revKeyLen))) continue;
        crc = crc32c(v, crc32c(etcdRevisionBytes(k), crc));
      }
      return { hash: crc, compactRevision: compactRev, hashRevision: hashRev };
    });
  }

  /**
   * readEvents returns the events of revisions fromRev..toRev (inclusive) in revision order, as
   * onEvents published them, for watchers catching up. With prevKv each event carries the key's
   * value before it when that is still readable. Throws ErrCompacted when fromRev is below the
   * compacted revision and ErrFutureRev when toRev is above the current one.
   */
  async readEvents(fromRev: bigint, toRev: bigint, opts: { prevKv?: boolean } = {}): Promise<mvccpb.Event[]> {
    this.checkOpen();
    if (fromRev < this.compactMainRev) throw ErrCompacted();
    if (toRev > this.rev) throw ErrFutureRev();
    if (fromRev < 1n) fromRev = 1n;
    if (toRev < fromRev) return [];
    // prev_kv revisions come from the index; ones below the compacted revision may be gone.
    const events: mvccpb.Event[] = [];
    const prevRevs: Revision[] = [];
    const prevOf: number[] = [];
    for await (const [k, v] of mergedScan(this.backend, this.writer.unflushed(), revisionBound(fromRev), revisionBound(toRev + 1n))) {
      const { rev, tombstone } = parseRevisionKey(k);
      const kv = mvccpb.KeyValue.decode(v);
      if (tombstone) kv.modRevision = rev.main;
      events.push({
        type: tombstone ? mvccpb.Event_EventType.DELETE : mvccpb.Event_EventType.PUT,
        kv,
        prevKv: undefined,
      });
      if (opts.prevKv && (tombstone || kv.version > 1n)) {
        const prev = this.tree.get(kv.key)?.get(rev.main - 1n);
        if (prev !== undefined && prev.main >= this.compactMainRev) {
          prevRevs.push(prev);
          prevOf.push(events.length - 1);
        }
      }
    }
    if (prevRevs.length > 0) {
      // A compaction running meanwhile may have deleted a previous value: it stays unset.
      const prevs = await this.readRevisions(prevRevs, true);
      for (let i = 0; i < prevs.length; i++) events[prevOf[i]!]!.prevKv = prevs[i];
    }
    return events;
  }

  /** forEachLiveKey calls fn with the current KeyValue of every existing key, in key order. */
  forEachLiveKey(fn: (kv: mvccpb.KeyValue) => void): void {
    this.tree.forEach((ki) => {
      if (ki.live !== undefined) fn(ki.live);
    });
  }

  /**
   * close stops the store: a running physical compaction stops (it resumes at the next open).
   * The batch transaction and the backend stay open; their owner closes them.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closedSignal.reject(new Error("mvcc: store closed before the batch holding the compaction was committed"));
    await this.exclusiveTail.catch(() => undefined);
  }

  // ---- reads ----

  private rangeAt(req: etcdserverpb.RangeRequest, curRev: bigint): RangeResult | Promise<RangeResult> {
    let atRev = req.revision;
    if (atRev > curRev) throw ErrFutureRev();
    if (atRev <= 0n) atRev = curRev;
    if (atRev < this.compactMainRev) throw ErrCompacted();
    const end = rangeEnd(req.rangeEnd);
    const limit = req.countOnly ? -1 : fetchLimit(req);
    let count = 0;
    if (atRev === curRev) {
      const kvs: mvccpb.KeyValue[] = [];
      this.tree.forEachInRange(req.key, end, (ki) => {
        const kv = ki.live;
        if (kv === undefined) return;
        count++;
        if (limit === 0 || kvs.length < limit) kvs.push(kv);
      });
      return shapeRange(req, kvs, count, curRev);
    }
    const revs: Revision[] = [];
    this.tree.forEachInRange(req.key, end, (ki) => {
      const r = ki.get(atRev);
      if (r === undefined) return;
      count++;
      if (limit === 0 || revs.length < limit) revs.push(r);
    });
    const kvs = this.readRevisions(revs);
    if (Array.isArray(kvs)) return shapeRange(req, kvs, count, curRev);
    return kvs.then((fetched) => shapeRange(req, fetched, count, curRev));
  }

  /**
   * readRevisions loads the KeyValues stored at revs, from the unwritten batches or the backend.
   * A revision missing from the backend is an error, or an undefined entry with allowMissing.
   */
  private readRevisions(revs: Revision[]): mvccpb.KeyValue[] | Promise<mvccpb.KeyValue[]>;
  private readRevisions(revs: Revision[], allowMissing: true): Array<mvccpb.KeyValue | undefined> | Promise<Array<mvccpb.KeyValue | undefined>>;
  private readRevisions(revs: Revision[], allowMissing = false): Array<mvccpb.KeyValue | undefined> | Promise<Array<mvccpb.KeyValue | undefined>> {
    const kvs = new Array<mvccpb.KeyValue | undefined>(revs.length);
    const missing: number[] = [];
    const missingKeys: Buffer[] = [];
    for (let i = 0; i < revs.length; i++) {
      const key = revisionKey(revs[i]!);
      const v = this.writer.lookup(key.toString("latin1"));
      if (v !== undefined) {
        kvs[i] = mvccpb.KeyValue.decode(v);
      } else {
        missing.push(i);
        missingKeys.push(key);
      }
    }
    if (missing.length === 0) return kvs;
    return this.backend.getMany(missingKeys).then((values) => {
      for (let j = 0; j < missing.length; j++) {
        const v = values[j];
        const i = missing[j]!;
        if (v === undefined) {
          if (allowMissing) continue;
          throw new Error(`mvcc: revision ${revs[i]!.main}/${revs[i]!.sub} is missing from the backend`);
        }
        kvs[i] = mvccpb.KeyValue.decode(v);
      }
      return kvs;
    });
  }

  // ---- writes ----

  private beginTx(): WriteTx {
    return { beginRev: this.rev, changes: 0, events: [], reads: [] };
  }

  /** txRev is the revision a read inside tx sees: the txn's own once it has changed something. */
  private txRev(tx: WriteTx): bigint {
    return tx.changes > 0 ? tx.beginRev + 1n : tx.beginRev;
  }

  private endTx<T>(tx: WriteTx, response: T): WriteResult<T> {
    const revision = this.txRev(tx);
    if (tx.changes > 0) {
      this.rev = revision;
      const listener = this.listener;
      if (listener !== undefined) {
        try {
          listener(tx.events, revision);
        } catch (err) {
          // The write has happened; a failing listener is a bug of its own, reported apart.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
    const result: WriteResult<T> = { response, revision, events: tx.events };
    if (tx.reads.length > 0) result.ready = Promise.all(tx.reads).then(() => undefined);
    return result;
  }

  private txPut(tx: WriteTx, req: etcdserverpb.PutRequest): etcdserverpb.PutResponse {
    const prev = this.tree.get(req.key)?.live;
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw ErrKeyNotFound();
    const rev: Revision = { main: tx.beginRev + 1n, sub: tx.changes };
    const ki = this.tree.getOrCreate(req.key);
    const kv: mvccpb.KeyValue = {
      key: ki.key,
      createRevision: prev === undefined ? rev.main : prev.createRevision,
      modRevision: rev.main,
      version: prev === undefined ? 1n : prev.version + 1n,
      value: req.ignoreValue ? prev!.value : req.value,
      lease: req.ignoreLease ? prev!.lease : req.lease,
    };
    const revKey = revisionKey(rev);
    this.writer.put(revKey, encodeKV(kv), revKey.toString("latin1"));
    ki.put(rev);
    ki.live = kv;
    tx.changes++;
    tx.events.push({ type: mvccpb.Event_EventType.PUT, kv, prevKv: prev });
    return { header: undefined, prevKv: req.prevKv ? prev : undefined };
  }

  private txDeleteRange(tx: WriteTx, req: etcdserverpb.DeleteRangeRequest): etcdserverpb.DeleteRangeResponse {
    const targets: KeyIndex[] = [];
    this.tree.forEachInRange(req.key, rangeEnd(req.rangeEnd), (ki) => {
      if (ki.live !== undefined) targets.push(ki);
    });
    const prevKvs: mvccpb.KeyValue[] = [];
    for (const ki of targets) {
      const prev = ki.live!;
      if (req.prevKv) prevKvs.push(prev);
      const rev: Revision = { main: tx.beginRev + 1n, sub: tx.changes };
      const tomb: mvccpb.KeyValue = {
        key: ki.key,
        createRevision: 0n,
        modRevision: 0n,
        version: 0n,
        value: emptyBuffer,
        lease: 0n,
      };
      this.writer.put(revisionKey(rev, true), encodeKV(tomb));
      ki.tombstone(rev);
      ki.live = undefined;
      tx.changes++;
      tx.events.push({ type: mvccpb.Event_EventType.DELETE, kv: { ...tomb, modRevision: rev.main }, prevKv: prev });
    }
    return { header: undefined, deleted: BigInt(targets.length), prevKvs };
  }

  // ---- txn ----

  /** comparePath appends, in pre-order, whether each txn on the executed path succeeds. */
  private comparePath(req: etcdserverpb.TxnRequest, path: boolean[]): void {
    let ok = true;
    for (const c of req.compare) {
      const kvs: mvccpb.KeyValue[] = [];
      this.tree.forEachInRange(c.key, rangeEnd(c.rangeEnd), (ki) => {
        if (ki.live !== undefined) kvs.push(ki.live);
      });
      if (!compareKVs(c, kvs)) {
        ok = false;
        break;
      }
    }
    path.push(ok);
    for (const op of ok ? req.success : req.failure) {
      if (op.requestTxn !== undefined) this.comparePath(op.requestTxn, path);
    }
  }

  /** checkOps runs check on every non-txn operation of the executed path. */
  private checkOps(
    req: etcdserverpb.TxnRequest,
    path: boolean[],
    cursor: { i: number },
    check: (op: etcdserverpb.RequestOp) => void,
  ): void {
    const ops = path[cursor.i++] ? req.success : req.failure;
    for (const op of ops) {
      if (op.requestTxn !== undefined) this.checkOps(op.requestTxn, path, cursor, check);
      else check(op);
    }
  }

  private checkPut(op: etcdserverpb.RequestOp): void {
    const put = op.requestPut;
    if (put === undefined || !(put.ignoreValue || put.ignoreLease)) return;
    if (this.tree.get(put.key)?.live === undefined) throw ErrKeyNotFound();
  }

  private checkRange(op: etcdserverpb.RequestOp): void {
    const range = op.requestRange;
    if (range === undefined || range.revision === 0n) return;
    if (range.revision > this.rev) throw ErrFutureRev();
    if (range.revision < this.compactMainRev) throw ErrCompacted();
  }

  private applyTxn(
    tx: WriteTx,
    req: etcdserverpb.TxnRequest,
    path: boolean[],
    cursor: { i: number },
  ): etcdserverpb.TxnResponse {
    const succeeded = path[cursor.i++]!;
    const responses: etcdserverpb.ResponseOp[] = [];
    for (const op of succeeded ? req.success : req.failure) {
      if (op.requestRange !== undefined) {
        responses.push({ responseRange: this.txRange(tx, op.requestRange) });
      } else if (op.requestPut !== undefined) {
        const resp = this.txPut(tx, op.requestPut);
        resp.header = header(tx.beginRev + 1n);
        responses.push({ responsePut: resp });
      } else if (op.requestDeleteRange !== undefined) {
        const resp = this.txDeleteRange(tx, op.requestDeleteRange);
        resp.header = header(this.txRev(tx));
        responses.push({ responseDeleteRange: resp });
      } else if (op.requestTxn !== undefined) {
        const resp = this.applyTxn(tx, op.requestTxn, path, cursor);
        resp.header = header(0n);
        responses.push({ responseTxn: resp });
      } else {
        responses.push({});
      }
    }
    return { header: undefined, succeeded, responses };
  }

  private txRange(tx: WriteTx, req: etcdserverpb.RangeRequest): etcdserverpb.RangeResponse {
    const curRev = this.txRev(tx);
    const resp: etcdserverpb.RangeResponse = { header: header(curRev), kvs: [], more: false, count: 0n };
    const fill = (r: RangeResult): void => {
      resp.kvs = r.kvs;
      resp.more = r.more;
      resp.count = r.count;
    };
    const result = this.rangeAt(req, curRev);
    if (result instanceof Promise) tx.reads.push(result.then(fill));
    else fill(result);
    return resp;
  }

  // ---- compaction ----

  /** deleteCompacted deletes from the backend the revisions <= rev that are not available. */
  private async deleteCompacted(rev: bigint, available: Set<string>): Promise<void> {
    let ops: WriteOp[] = [];
    const stopped = (): Error => new Error(`mvcc: store closed before compaction at ${rev} finished (it resumes at the next open)`);
    for await (const chunk of this.backend.scanChunks({ gte: keyPrefix, lt: revisionBound(rev + 1n) })) {
      if (this.closed) throw stopped();
      for (const k of chunk.keys) {
        if (k.length === revKeyLen && available.has(k.toString("latin1"))) continue;
        ops.push({ type: "del", key: k });
        if (ops.length >= compactBatchOps) {
          await this.writer.write(ops);
          ops = [];
        }
      }
    }
    if (this.closed) throw stopped();
    ops.push({ type: "put", key: finishedCompactKey, value: encodeUint64(rev) });
    await this.writer.write(ops);
  }

  /** exclusive runs fn after every earlier physical compaction and hash has finished. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusiveTail.then(fn);
    this.exclusiveTail = run.catch(() => undefined);
    return run;
  }

  // ---- restore ----

  private async restore(): Promise<void> {
    const [scheduled, finished] = await this.backend.getMany([scheduledCompactKey, finishedCompactKey]);
    const finishedRev = finished === undefined ? -1n : decodeUint64(finished, "finished compact revision");
    const scheduledRev = scheduled === undefined ? -1n : decodeUint64(scheduled, "scheduled compact revision");
    this.compactMainRev = finishedRev > scheduledRev ? finishedRev : scheduledRev;

    let maxMain = 1n;
    const lastPut = new Map<KeyIndex, Buffer>();
    for await (const chunk of this.backend.scanChunks({ gte: keyPrefix, lt: keyPrefixEnd })) {
      for (let i = 0; i < chunk.keys.length; i++) {
        const { rev, tombstone } = parseRevisionKey(chunk.keys[i]!);
        const value = chunk.values[i]!;
        if (rev.main > maxMain) maxMain = rev.main;
        const userKey = keyField(value);
        if (tombstone) {
          const ki = this.tree.get(userKey);
          // A deletion whose key is gone is a leftover of an interrupted compaction.
          if (ki === undefined || !lastPut.has(ki)) continue;
          ki.tombstone(rev);
          lastPut.delete(ki);
          continue;
        }
        const ki = this.tree.get(userKey) ?? this.tree.getOrCreate(Buffer.from(userKey));
        ki.put(rev);
        lastPut.set(ki, value);
      }
    }
    for (const [ki, value] of lastPut) {
      const kv = mvccpb.KeyValue.decode(value);
      kv.key = ki.key;
      ki.live = kv;
    }
    this.rev = maxMain > this.compactMainRev ? maxMain : this.compactMainRev;

    if (scheduledRev > finishedRev) {
      const available = this.tree.compact(scheduledRev);
      const done = this.exclusive(() => this.deleteCompacted(scheduledRev, available));
      done.catch(() => undefined);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("mvcc: store is closed");
  }
}

/** rejectOnClose makes the store's closed signal: a promise rejected by close, never resolved. */
function rejectOnClose(): { promise: Promise<never>; reject: (err: Error) => void } {
  let reject!: (err: Error) => void;
  const promise = new Promise<never>((_, rej) => {
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, reject };
}

/** rangeEnd maps a request's range_end: empty = single key (undefined), "\0" = no bound (empty). */
function rangeEnd(end: Buffer): Buffer | undefined {
  if (end.length === 0) return undefined;
  if (end.length === 1 && end[0] === 0) return emptyBuffer;
  return end;
}

/** isTxnReadOnly reports whether both branches hold only ranges (a nested txn counts as a write). */
function isTxnReadOnly(req: etcdserverpb.TxnRequest): boolean {
  for (const op of req.success) if (op.requestRange === undefined) return false;
  for (const op of req.failure) if (op.requestRange === undefined) return false;
  return true;
}

function header(revision: bigint): etcdserverpb.ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0n };
}
