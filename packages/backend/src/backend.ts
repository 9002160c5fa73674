import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { binding, openLevelDown, type LevelDown, type NativeIteratorOptions } from "./rocksdb.js";

/** WriteOp is one change of an atomic write batch. Keys must be non-empty. */
export type WriteOp = { type: "put"; key: Buffer; value: Buffer } | { type: "del"; key: Buffer };

/** BackendOptions configures Backend.open. */
export interface BackendOptions {
  /** createIfMissing creates the directory and an empty database when absent (default true). */
  createIfMissing?: boolean;
  /** errorIfExists fails the open when a database already exists (default false). */
  errorIfExists?: boolean;
  /** cacheSize is RocksDB's block cache size in bytes (default 8 MiB). */
  cacheSize?: number;
  /** writeBufferSize is RocksDB's memtable size in bytes (default 4 MiB). */
  writeBufferSize?: number;
}

/** ScanOptions select a key range [gte, lt) in ascending (or, with reverse, descending) order. */
export interface ScanOptions {
  gte?: Buffer;
  lt?: Buffer;
  reverse?: boolean;
  /** limit caps the number of entries returned; absent or negative means no cap. */
  limit?: number;
  /**
   * readAhead asks the native iterator for the next chunk while the caller handles the one
   * just yielded, so reading overlaps the caller's work (for whole-store scans; a caller that
   * stops early has read at most one chunk more).
   */
  readAhead?: boolean;
}

/** BackendScan is one of the scans openScans made: read it once with chunks(), release it with end(). */
export interface BackendScan {
  chunks(): AsyncGenerator<ScanChunk, void, undefined>;
  end(): Promise<void>;
}

/** ScanChunk holds consecutive entries of a scan: keys[i] maps to values[i]. */
export interface ScanChunk {
  keys: Buffer[];
  values: Buffer[];
}

/** syncKey is never stored; sync() deletes it to force a synced write. It sorts before any printable key. */
const syncKey = Buffer.from("\u0000backend/sync");

/** chunkBytes is the size (keys + values, bytes) after which one native next() call returns. */
const chunkBytes = 1 << 20;

/**
 * Backend is an ordered byte-key store on RocksDB with a promise API. Every method fails with
 * an Error whose message starts with "backend: " once the backend is closed. Writes are
 * atomic per batch and unsynced unless asked; the caller's WAL is the source of truth.
 */
export class Backend {
  readonly dir: string;
  private readonly db: LevelDown;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** writing counts the batches handed to RocksDB and not yet done; quiet waits for 0. */
  private writing = 0;
  private quietWaiters: Array<() => void> = [];
  /**
   * bytesWritten counts the key and value bytes handed to write() since open (a deletion
   * counts its key): what the files may have grown by since a sizeBytes measurement.
   */
  bytesWritten = 0;

  private constructor(dir: string, db: LevelDown) {
    this.dir = dir;
    this.db = db;
  }

  /** open opens (by default creating) the RocksDB database in dir. */
  static async open(dir: string, opts: BackendOptions = {}): Promise<Backend> {
    const createIfMissing = opts.createIfMissing ?? true;
    if (createIfMissing) await mkdir(dir, { recursive: true });
    const db = openLevelDown(dir);
    const native: Record<string, unknown> = {
      createIfMissing,
      errorIfExists: opts.errorIfExists ?? false,
      infoLogLevel: "error",
    };
    if (opts.cacheSize !== undefined) native["cacheSize"] = opts.cacheSize;
    if (opts.writeBufferSize !== undefined) native["writeBufferSize"] = opts.writeBufferSize;
    await new Promise<void>((resolve, reject) => {
      db.open(native, (err) => (err ? reject(wrap("open " + dir, err)) : resolve()));
    });
    return new Backend(dir, db);
  }

  /** get returns the value stored under key, or undefined when absent. */
  get(key: Buffer): Promise<Buffer | undefined> {
    this.checkOpen();
    return new Promise((resolve, reject) => {
      binding.db_get_many(this.db.context, [key], { asBuffer: true, fillCache: true }, (err, values) => {
        if (err) reject(wrap("get", err));
        else resolve(values[0]);
      });
    });
  }

  /** getMany returns the values of several keys in one native call (undefined when absent). */
  getMany(keys: Buffer[]): Promise<Array<Buffer | undefined>> {
    this.checkOpen();
    if (keys.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      binding.db_get_many(this.db.context, keys, { asBuffer: true, fillCache: true }, (err, values) => {
        if (err) reject(wrap("get", err));
        else resolve(values);
      });
    });
  }

  /**
   * write applies batch atomically: after a crash either all of its operations are visible or
   * none. sync (default false) makes RocksDB fsync its log before resolving. Later operations
   * in the batch win over earlier ones on the same key. Writes issued one after another (each
   * awaited) are applied in that order.
   */
  write(batch: readonly WriteOp[], opts: { sync?: boolean } = {}): Promise<void> {
    this.checkOpen();
    if (batch.length === 0) return Promise.resolve();
    let bytes = 0;
    for (const op of batch) bytes += op.type === "put" ? op.key.length + op.value.length : op.key.length;
    this.bytesWritten += bytes;
    this.writing++;
    return new Promise((resolve, reject) => {
      binding.batch_do(this.db.context, batch, { sync: opts.sync ?? false }, (err) => {
        if (--this.writing === 0) for (const w of this.quietWaiters.splice(0)) w();
        if (err) reject(wrap("write", err));
        else resolve();
      });
    });
  }

  /**
   * openScans opens `count` scans of the same range that all read one consistent state: once
   * no write is in flight, their native iterators (each takes a RocksDB snapshot when made)
   * are made in one synchronous step, so no write can land between them. `ready`, when given,
   * is asked in that same step: if it says no, nothing is opened and undefined is returned (the
   * caller's own writers, such as a rewrite of the whole store, are not done). Each scan is
   * read at most once; `end` releases its iterator (and snapshot) whether it was read or not.
   */
  async openScans(count: number, opts: ScanOptions = {}, ready?: () => boolean): Promise<BackendScan[] | undefined> {
    this.checkOpen();
    while (this.writing > 0) await new Promise<void>((resolve) => this.quietWaiters.push(resolve));
    this.checkOpen();
    if (ready !== undefined && !ready()) return undefined;
    const scans: BackendScan[] = [];
    const made: unknown[] = [];
    try {
      for (let i = 0; i < count; i++) made.push(binding.iterator_init(this.db.context, this.nativeOptions(opts)));
    } catch (err) {
      for (const it of made) binding.iterator_end(it, () => undefined);
      throw wrap("scan", err as Error);
    }
    for (const it of made) {
      let ended = false;
      const end = async (): Promise<void> => {
        if (ended) return;
        ended = true;
        if (!this.closed) await new Promise<void>((resolve) => binding.iterator_end(it, () => resolve()));
      };
      let used = false;
      scans.push({
        chunks: () => {
          if (used) throw new Error("backend: a scan from openScans is read once");
          used = true;
          return this.iterate(it, opts, end);
        },
        end,
      });
    }
    return scans;
  }

  /**
   * sync makes every write that has completed so far durable (fsync of RocksDB's log), by
   * writing a synced batch that deletes syncKey, a key reserved for this purpose.
   */
  sync(): Promise<void> {
    return this.write([{ type: "del", key: syncKey }], { sync: true });
  }

  /**
   * scanChunks iterates a range, yielding entries in chunks as the native iterator returns them
   * (up to 1000 entries or about 1 MiB per chunk). The iteration reads a consistent snapshot
   * taken when it starts. Breaking out of the loop releases the native iterator.
   */
  async *scanChunks(opts: ScanOptions = {}): AsyncGenerator<ScanChunk, void, undefined> {
    this.checkOpen();
    if (opts.limit === 0) return;
    const it = binding.iterator_init(this.db.context, this.nativeOptions(opts));
    yield* this.iterate(it, opts, async () => {
      // close() ends the native iterators of a closed database itself.
      if (!this.closed) await new Promise<void>((resolve) => binding.iterator_end(it, () => resolve()));
    });
  }

  private nativeOptions(opts: ScanOptions): NativeIteratorOptions {
    const native: NativeIteratorOptions = {
      reverse: opts.reverse ?? false,
      limit: opts.limit ?? -1,
      keyAsBuffer: true,
      valueAsBuffer: true,
      fillCache: false,
      highWaterMark: chunkBytes,
    };
    if (opts.gte !== undefined) native.gte = opts.gte;
    if (opts.lt !== undefined) native.lt = opts.lt;
    return native;
  }

  /** iterate yields the chunks of native iterator `it` and calls end once it is done with it. */
  private async *iterate(it: unknown, opts: ScanOptions, end: () => Promise<void>): AsyncGenerator<ScanChunk, void, undefined> {
    const next = (): Promise<{ array: Buffer[]; finished: boolean }> =>
      new Promise((resolve, reject) => {
        binding.iterator_next(it, (err, array, finished) => {
          if (err) reject(wrap("scan", err));
          else resolve({ array, finished });
        });
      });
    let pending: Promise<{ array: Buffer[]; finished: boolean }> | undefined;
    try {
      if (opts.limit === 0) return;
      pending = next();
      for (;;) {
        const { array, finished } = await (pending as Promise<{ array: Buffer[]; finished: boolean }>);
        pending = undefined;
        if (!finished && opts.readAhead === true) {
          pending = next();
          // Handled here; the loop awaits it again and sees its error there.
          pending.catch(() => undefined);
        }
        const n = array.length >> 1;
        if (n > 0) {
          const keys = new Array<Buffer>(n);
          const values = new Array<Buffer>(n);
          for (let i = 0, j = array.length - 1; i < n; i++, j -= 2) {
            keys[i] = array[j]!;
            values[i] = array[j - 1]!;
          }
          yield { keys, values };
        }
        if (finished) break;
        this.checkOpen();
        pending ??= next();
      }
    } finally {
      // A read still in flight finishes before the iterator ends (one next() at a time).
      if (pending !== undefined) await pending.catch(() => undefined);
      await end();
    }
  }

  /** scan iterates a range entry by entry; see scanChunks for the snapshot and chunking. */
  async *scan(opts: ScanOptions = {}): AsyncGenerator<[Buffer, Buffer], void, undefined> {
    for await (const chunk of this.scanChunks(opts)) {
      for (let i = 0; i < chunk.keys.length; i++) yield [chunk.keys[i]!, chunk.values[i]!];
    }
  }

  /** sizeBytes returns the total size in bytes of the files in the database directory. */
  async sizeBytes(): Promise<number> {
    this.checkOpen();
    let total = 0;
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      try {
        total += (await stat(join(this.dir, entry.name))).size;
      } catch (err) {
        // RocksDB deletes obsolete files concurrently; a vanished file holds no bytes.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return total;
  }

  /**
   * sizeInUseBytes estimates the bytes the stored data needs (RocksDB's estimate of the live
   * data in its sorted files plus its memtables), at most sizeBytes(): the rest of the
   * files' size is space that compaction or defragmentation can give back (etcd reports
   * bbolt's size minus its free pages).
   */
  async sizeInUseBytes(): Promise<number> {
    this.checkOpen();
    const live = Number(this.db.getProperty("rocksdb.estimate-live-data-size"));
    const mem = Number(this.db.getProperty("rocksdb.cur-size-all-mem-tables"));
    return Math.min(live + mem, await this.sizeBytes());
  }

  /**
   * compactRange asks RocksDB to compact the keys in [start, end] (inclusive), reclaiming the
   * space of deleted entries. start defaults to the first key, end to the last stored key.
   */
  async compactRange(start?: Buffer, end?: Buffer): Promise<void> {
    this.checkOpen();
    let last = end;
    if (last === undefined) {
      for await (const chunk of this.scanChunks({ reverse: true, limit: 1 })) last = chunk.keys[0];
      if (last === undefined) return;
    }
    const from = start ?? Buffer.alloc(0);
    const to = last;
    await new Promise<void>((resolve, reject) => {
      this.db.compactRange(from, to, (err) => (err ? reject(wrap("compact range", err)) : resolve()));
    });
  }

  /** close closes the database after its queued writes finish; open scans are ended. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    this.closing = new Promise<void>((resolve, reject) => {
      this.db.close((err) => (err ? reject(wrap("close", err)) : resolve()));
    });
    return this.closing;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error("backend: database is closed");
  }
}

function wrap(op: string, err: Error): Error {
  return new Error(`backend: ${op}: ${err.message}`, { cause: err });
}
