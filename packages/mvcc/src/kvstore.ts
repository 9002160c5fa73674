import { consistentIndexKey, mergedScan, type Backend, type BatchTx, type WriteOp } from "@etcd-ts/backend";
import { crc32c } from "@node-rs/crc32";
import { mvccpb } from "@etcd-ts/proto";
import { own } from "./bytes.js";
import { CompactionInterrupted, ErrCompacted, ErrFutureRev } from "./errors.js";
import type { KeyIndex } from "./key_index.js";
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
 * RangeOptions select what a range reads (etcd's mvcc RangeOptions): `limit` caps the
 * key-values returned (0: all; the count still counts every key), `rev` is the revision to
 * read at (0: the current one), `countOnly` returns the count alone.
 */
export interface RangeOptions {
  limit?: number;
  rev?: bigint;
  countOnly?: boolean;
}

/**
 * RangeResult is a range's answer: the key-values of the range at the read revision in key
 * order (at most the limit), the number of keys in the range, and `rev`, the revision of the
 * store (or of the write transaction) when the read ran. The KeyValues are shared with the
 * store and must not be mutated.
 */
export interface RangeResult {
  kvs: mvccpb.KeyValue[];
  count: number;
  rev: bigint;
}

/** EventListener receives the events of one revision, once, in revision order. */
export type EventListener = (events: mvccpb.Event[], revision: bigint) => void;

/**
 * WriteTxn is one write transaction (etcd's TxnWrite): its puts and deletions share main
 * revision rev0 + 1, and its ranges see its own earlier writes. end() publishes it.
 */
export interface WriteTxn {
  /** rev is the revision a read in this transaction sees: the new one once it has changed something. */
  readonly rev: bigint;
  /** compactRev is the compacted revision (-1 before the first compaction): reads below it fail (etcd's FirstRev). */
  readonly compactRev: bigint;
  /** range reads [key, end) (end undefined: the key alone; empty: every key >= key) within the transaction. */
  range(key: Buffer, end: Buffer | undefined, opts?: RangeOptions): RangeResult | Promise<RangeResult>;
  /** put writes key = value with lease (0: none); it returns the key's previous KeyValue, if any. */
  put(key: Buffer, value: Buffer, lease: bigint): mvccpb.KeyValue | undefined;
  /** deleteRange deletes the live keys of [key, end) and returns their KeyValues before deletion. */
  deleteRange(key: Buffer, end: Buffer | undefined): mvccpb.KeyValue[];
  /**
   * end finishes the transaction: the store moves to its revision if it changed anything and
   * the listener gets its events. It returns that revision and the events.
   */
  end(): { revision: bigint; events: mvccpb.Event[] };
}

/**
 * KVStats counts the store's operations as etcd's mvcc metrics do (metrics_txn.go): every
 * range, put and deleteRange call, whether on the store or in a write transaction, and as a
 * txn every write transaction that made more than one of those calls. Totals since open.
 */
export interface KVStats {
  ranges: number;
  puts: number;
  deletes: number;
  txns: number;
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
 * Keys and values are kept in memory of their own (see own in bytes.ts): a view into a larger
 * buffer is copied, a buffer that is the whole of its memory is kept by reference and must
 * not be mutated afterwards. Returned KeyValues are shared with the store and must not be
 * mutated either.
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

  /** The open write transaction's state (at most one is open). */
  private txOpen = false;
  private txBeginRev = 0n;
  private txChanges = 0;
  private txEvents: mvccpb.Event[] = [];
  /** txn is the one WriteTxn view of the open transaction, made once per store. */
  private readonly txn: WriteTxn;
  /** txOps counts the range, put and deleteRange calls of the open transaction. */
  private txOps = 0;
  /** stats are the operation totals (see KVStats); read them, never write them. */
  readonly stats: KVStats = { ranges: 0, puts: 0, deletes: 0, txns: 0 };
  private live = 0;

  private constructor(backend: Backend, tx: BatchTx) {
    this.backend = backend;
    this.writer = tx;
    const store = this;
    this.txn = {
      get rev() {
        return store.txRev();
      },
      get compactRev() {
        return store.compactMainRev;
      },
      range: (key, end, opts = {}) => {
        store.checkTx();
        store.stats.ranges++;
        store.txOps++;
        return store.rangeAt(key, end, opts, store.txRev());
      },
      put: (key, value, lease) => store.txPut(key, value, lease),
      deleteRange: (key, end) => store.txDeleteRange(key, end),
      end: () => store.txEnd(),
    };
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

  /** liveKeys is the number of keys that exist at the current revision (etcd's keys_total). */
  get liveKeys(): number {
    return this.live;
  }

  /** onEvents sets the listener that receives every revision's events (replacing any other). */
  onEvents(listener: EventListener): void {
    this.listener = listener;
  }

  /**
   * range reads [key, end) at opts.rev (0: current): end undefined reads the key alone, an
   * empty end every key >= key. It answers synchronously at the current revision and with a
   * promise for past revisions; it throws MvccError synchronously for a compacted or future
   * revision.
   */
  range(key: Buffer, end: Buffer | undefined, opts: RangeOptions = {}): RangeResult | Promise<RangeResult> {
    this.checkOpen();
    this.stats.ranges++;
    return this.rangeAt(key, end, opts, this.rev);
  }

  /**
   * write begins a write transaction (see WriteTxn). The store is single-threaded: one write
   * transaction at a time, ended before the next begins.
   */
  write(): WriteTxn {
    this.checkOpen();
    if (this.txOpen) throw new Error("mvcc: a write transaction is already open");
    this.txOpen = true;
    this.txBeginRev = this.rev;
    this.txChanges = 0;
    this.txOps = 0;
    this.txEvents = [];
    return this.txn;
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
    this.closedSignal.reject(new CompactionInterrupted("mvcc: store closed before the batch holding the compaction was committed"));
    await this.exclusiveTail.catch(() => undefined);
  }

  // ---- reads ----

  private rangeAt(key: Buffer, end: Buffer | undefined, opts: RangeOptions, curRev: bigint): RangeResult | Promise<RangeResult> {
    let atRev = opts.rev ?? 0n;
    if (atRev > curRev) throw ErrFutureRev();
    if (atRev <= 0n) atRev = curRev;
    if (atRev < this.compactMainRev) throw ErrCompacted();
    const limit = opts.countOnly === true ? -1 : (opts.limit ?? 0);
    let count = 0;
    if (atRev === curRev) {
      const kvs: mvccpb.KeyValue[] = [];
      this.tree.forEachInRange(key, end, (ki) => {
        const kv = ki.live;
        if (kv === undefined) return;
        count++;
        if (limit === 0 || kvs.length < limit) kvs.push(kv);
      });
      return { kvs, count, rev: curRev };
    }
    const revs: Revision[] = [];
    this.tree.forEachInRange(key, end, (ki) => {
      const r = ki.get(atRev);
      if (r === undefined) return;
      count++;
      if (limit === 0 || revs.length < limit) revs.push(r);
    });
    const kvs = this.readRevisions(revs);
    if (Array.isArray(kvs)) return { kvs, count, rev: curRev };
    return kvs.then((fetched) => ({ kvs: fetched, count, rev: curRev }));
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

  // ---- the write transaction ----

  /** txRev is the revision a read in the open transaction sees: the new one once it has changed something. */
  private txRev(): bigint {
    return this.txChanges > 0 ? this.txBeginRev + 1n : this.txBeginRev;
  }

  private checkTx(): void {
    if (!this.txOpen) throw new Error("mvcc: the write transaction has ended");
  }

  private txPut(key: Buffer, value: Buffer, lease: bigint): mvccpb.KeyValue | undefined {
    this.checkTx();
    this.stats.puts++;
    this.txOps++;
    const ki = this.tree.getOrCreate(key);
    const prev = ki.live;
    if (prev === undefined) this.live++;
    const rev: Revision = { main: this.txBeginRev + 1n, sub: this.txChanges };
    const kv: mvccpb.KeyValue = {
      key: ki.key,
      createRevision: prev === undefined ? rev.main : prev.createRevision,
      modRevision: rev.main,
      version: prev === undefined ? 1n : prev.version + 1n,
      value: own(value),
      lease,
    };
    const revKey = revisionKey(rev);
    this.writer.put(revKey, encodeKV(kv), revKey.toString("latin1"));
    ki.put(rev);
    ki.live = kv;
    this.txChanges++;
    this.txEvents.push({ type: mvccpb.Event_EventType.PUT, kv, prevKv: prev });
    return prev;
  }

  private txDeleteRange(key: Buffer, end: Buffer | undefined): mvccpb.KeyValue[] {
    this.checkTx();
    this.stats.deletes++;
    this.txOps++;
    const targets: KeyIndex[] = [];
    this.tree.forEachInRange(key, end, (ki) => {
      if (ki.live !== undefined) targets.push(ki);
    });
    const prevs: mvccpb.KeyValue[] = [];
    for (const ki of targets) {
      const prev = ki.live as mvccpb.KeyValue;
      prevs.push(prev);
      const rev: Revision = { main: this.txBeginRev + 1n, sub: this.txChanges };
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
      this.live--;
      this.txChanges++;
      this.txEvents.push({ type: mvccpb.Event_EventType.DELETE, kv: { ...tomb, modRevision: rev.main }, prevKv: prev });
    }
    return prevs;
  }

  private txEnd(): { revision: bigint; events: mvccpb.Event[] } {
    this.checkTx();
    this.txOpen = false;
    if (this.txOps > 1) this.stats.txns++;
    const revision = this.txRev();
    const events = this.txEvents;
    this.txEvents = [];
    if (this.txChanges > 0) {
      this.rev = revision;
      const listener = this.listener;
      if (listener !== undefined) {
        try {
          listener(events, revision);
        } catch (err) {
          // The write has happened; a failing listener is a bug of its own, reported apart.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
    return { revision, events };
  }

  // ---- compaction ----

  /** deleteCompacted deletes from the backend the revisions <= rev that are not available. */
  private async deleteCompacted(rev: bigint, available: Set<string>): Promise<void> {
    let ops: WriteOp[] = [];
    const stopped = (): Error => new CompactionInterrupted(`mvcc: store closed before compaction at ${rev} finished (it resumes at the next open)`);
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
        const ki = this.tree.get(userKey) ?? this.tree.getOrCreate(userKey);
        ki.put(rev);
        lastPut.set(ki, value);
      }
    }
    for (const [ki, value] of lastPut) {
      const kv = mvccpb.KeyValue.decode(value);
      kv.key = ki.key;
      kv.value = own(kv.value); // decoded into a pool slab shared with bytes dropped here
      ki.live = kv;
    }
    this.live = lastPut.size;
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
