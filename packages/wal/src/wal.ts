import { raftpb, walpb } from "@etcd-ts/proto";
import { entryCodec } from "./entry_codec.js";
import { mkdir, open, readFile, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { DirLock } from "./lock.js";
import { isZero, RecordBatch, RecordFlag, RecordType } from "./record.js";
import { IndexTracker, Replay } from "./replay.js";
import {
  createSegment,
  listSegments,
  listSegmentsSync,
  scanSegment,
  segmentFileName,
  SYNC_WRITE_FLAGS,
  syncDir,
  writeAll,
  writeAllSync,
  type SegmentName,
} from "./segment.js";

/** DEFAULT_SEGMENT_SIZE_BYTES is the size after which a new segment file is started (64 MiB). */
export const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;

/** DEFAULT_INLINE_WRITE_MAX_MS is WalOptions.inlineWriteMaxMs's default (milliseconds). */
export const DEFAULT_INLINE_WRITE_MAX_MS = 2;

/**
 * INLINE_WRITE_MAX_ENTRIES: a save of more entries than this always goes through the thread
 * pool. Many entries in one Ready mean many clients are waiting: the thread must stay free to
 * read and propose their next requests while the disk syncs this batch (measured: put with
 * 100 clients went from ~11k/s to ~17k/s on this change), where a lone entry is one client's
 * latency, which the inline write shortens.
 */
const INLINE_WRITE_MAX_ENTRIES = 2;

/** INLINE_WRITE_MAX_BYTES: a save larger than this always goes through the thread pool. */
const INLINE_WRITE_MAX_BYTES = 1024 * 1024;

/** DEFAULT_PREALLOCATE_BYTES is WalOptions.preallocateBytes's default (4 MiB). */
export const DEFAULT_PREALLOCATE_BYTES = 4 * 1024 * 1024;

/** FILL_GAP_BYTES: a zero-fill starts at most this far past the end of the log (see extend). */
const FILL_GAP_BYTES = 256 * 1024;

/** WRITE_MS_WEIGHT is the weight of the newest write in the moving average of write durations. */
const WRITE_MS_WEIGHT = 0.2;

/**
 * PROBE_EVERY: while saves go through the pool, every PROBE_EVERY-th one is written inline
 * again to measure the disk alone (a pooled write's duration also counts its wait for a pool
 * thread and for the event loop, so the average would otherwise stay high on a fast disk
 * under load).
 */
const PROBE_EVERY = 64;

/** WalOptions tunes a WAL. */
export interface WalOptions {
  /**
   * segmentSizeBytes: once the current segment holds at least this many bytes, the next write
   * goes to a new segment. A single save larger than this still lands in one segment.
   */
  segmentSizeBytes?: number;
  /**
   * maxSegments is how many segment files the WAL keeps once segments have been released
   * (etcd's --max-wals): released segments are deleted oldest first only while more than
   * this many segment files exist; 0 keeps every segment. Undefined deletes every released
   * segment at once. A segment the log still needs (the one holding the latest snapshot
   * marker's index and every later one) is never deleted, whatever the limit.
   */
  maxSegments?: number;
  /**
   * inlineWriteMaxMs: a save is written on the calling thread, which it blocks until the
   * write is durable, instead of in Node's thread pool, while the moving average of recent
   * durable writes is at most this many milliseconds (and the save is at most 1 MiB). On a
   * fast disk the pooled write's two thread hops (the request to a pool thread, the completion
   * back through the event loop) cost more than the write itself, and on this path they are
   * most of a single put's latency beyond the flush; on a slow disk the thread goes on serving
   * while the pool writes. A save of more than INLINE_WRITE_MAX_ENTRIES entries is never
   * written inline. 0 always uses the thread pool. Default DEFAULT_INLINE_WRITE_MAX_MS.
   */
  inlineWriteMaxMs?: number;
  /**
   * preallocateBytes: the tail segment is kept extended with zeros (durably) this many bytes
   * at a time ahead of the appends, in the thread pool, up to segmentSizeBytes. A durable
   * write that stays inside the file's size only flushes its data; one that grows the file
   * also commits the size to the file system's journal, which on ext4 made a 15 KB O_DSYNC
   * write take about 0.65 ms instead of 0.25 ms (measured on the bench machine). etcd
   * preallocates its segments for the same reason. An all-zero region never parses as a
   * record, so reading the log ends where the zeros start. 0 never preallocates. Default
   * DEFAULT_PREALLOCATE_BYTES.
   */
  preallocateBytes?: number;
}

/** WalContents is what WAL.open read back. */
export interface WalContents {
  /** metadata is the bytes given to WAL.create. */
  metadata: Buffer;
  /** hardState is the last hard state saved, undefined if none was. */
  hardState: raftpb.HardState | undefined;
  /** snapshot is the last snapshot marker saved, undefined if none was. */
  snapshot: walpb.SnapshotMarker | undefined;
  /**
   * entries is the log: later entries replace earlier ones at the same or higher index,
   * entries at or below snapshot.index are dropped; contiguous by index.
   */
  entries: raftpb.Entry[];
}

function segmentSize(opts: WalOptions): number {
  const size = opts.segmentSizeBytes ?? DEFAULT_SEGMENT_SIZE_BYTES;
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new Error(`wal: segmentSizeBytes must be a positive integer, got ${size}`);
  }
  return size;
}

function maxSegments(opts: WalOptions): number | undefined {
  const max = opts.maxSegments;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 0)) {
    throw new Error(`wal: maxSegments must be a non-negative integer, got ${max}`);
  }
  return max;
}

function inlineWriteMaxMs(opts: WalOptions): number {
  const ms = opts.inlineWriteMaxMs ?? DEFAULT_INLINE_WRITE_MAX_MS;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new Error(`wal: inlineWriteMaxMs must be a non-negative number, got ${ms}`);
  }
  return ms;
}

function preallocateBytes(opts: WalOptions): number {
  const n = opts.preallocateBytes ?? DEFAULT_PREALLOCATE_BYTES;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`wal: preallocateBytes must be a non-negative integer, got ${n}`);
  }
  return n;
}

function view(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * WAL is a write-ahead log of raft entries, hard states and snapshot markers in a directory
 * of segment files. Every segment starts with the metadata record, then the latest snapshot
 * marker and hard state at the time it was started, so deleting older segments (releaseTo)
 * never loses them, and open reads no segment that only holds what the latest snapshot
 * marker already covers. Each save is one synchronous (O_DSYNC) write; it resolves once durable.
 * On a fast disk that write is made on the calling thread (WalOptions.inlineWriteMaxMs).
 * Operations run one at a time in call order. After a failed write or sync the WAL refuses
 * further writes (what reached the disk is unknown); reopen it to recover.
 */
export class WAL {
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined = undefined;
  private failure: Error | undefined = undefined;
  /**
   * released is how many of the oldest segments (a prefix of `segments`) hold nothing the
   * log needs: releaseTo, or open, found a later segment started at or below the latest
   * snapshot marker's index. Only these may be deleted (see purge).
   */
  private released = 0;
  /**
   * onSync, when set, gets the duration in seconds of each durable (O_DSYNC) write: the
   * WAL's fsync latency (etcd's wal_fsync_duration_seconds), not counting the wait before it.
   */
  onSync: ((seconds: number) => void) | undefined;
  /** inlineWriteMaxMs is WalOptions.inlineWriteMaxMs. */
  private inlineWriteMaxMs = DEFAULT_INLINE_WRITE_MAX_MS;
  /** writeMs is the moving average of the durable writes' durations, in milliseconds. */
  private writeMs = 0;
  /** inlineWrites counts the saves written on the calling thread. */
  inlineWrites = 0;
  /** pooledWrites counts the saves written in Node's thread pool. */
  pooledWrites = 0;
  /** pooledRun counts the pooled saves since the last inline one. */
  private pooledRun = 0;
  /** preallocateBytes is WalOptions.preallocateBytes. */
  private preallocateBytes = DEFAULT_PREALLOCATE_BYTES;
  /**
   * allocEnd is the durable size in bytes of the tail segment file: the bytes between offset
   * and allocEnd are zeros (written by extend). Invariant: allocEnd <= offset or the file
   * past offset is all zeros up to allocEnd.
   */
  private allocEnd = 0;
  /**
   * extending is the zero-fill in flight from fillFrom, if any. No append may write past
   * fillFrom while it runs: the zeros would land on the record. Between allocEnd and fillFrom
   * appends grow the file as without preallocation (or fill a hole the fill left).
   */
  private extending: Promise<void> | undefined = undefined;
  /** fillFrom is where the zero-fill in flight starts (>= allocEnd and >= the offset it began at). */
  private fillFrom = 0;

  private constructor(
    private readonly dir: string,
    private readonly segmentSizeBytes: number,
    private readonly maxSegments: number | undefined,
    private readonly lock: DirLock,
    private readonly metadata: Buffer,
    private readonly tracker: IndexTracker,
    private hardStateBody: Buffer | undefined,
    private snapshotBody: Buffer | undefined,
    /** segments are the live segment files by sequence; the last one is being appended to. */
    private readonly segments: SegmentName[],
    private tail: FileHandle,
    /** offset is the size in bytes of the tail segment, where the next record goes. */
    private offset: number,
  ) {}

  /** exists reports whether dir holds at least one WAL segment file. */
  static exists(dir: string): boolean {
    return listSegmentsSync(dir).length > 0;
  }

  /**
   * create makes dir (and parents) if needed and starts a new WAL in it whose segments all
   * begin with metadata. It fails if dir already holds a WAL.
   */
  static async create(dir: string, metadata: Buffer, opts: WalOptions = {}): Promise<WAL> {
    const size = segmentSize(opts);
    const max = maxSegments(opts);
    const inlineMs = inlineWriteMaxMs(opts);
    if (WAL.exists(dir)) {
      throw new Error(`wal: ${dir} already holds a write-ahead log`);
    }
    await mkdir(dir, { recursive: true });
    await syncDir(dirname(resolve(dir)));
    const lock = await DirLock.acquire(dir);
    try {
      if ((await listSegments(dir)).length > 0) {
        throw new Error(`wal: ${dir} already holds a write-ahead log`);
      }
      const meta = Buffer.from(metadata);
      const seg: SegmentName = { seq: 0, firstIndex: 0n, file: segmentFileName(0, 0n) };
      const head = WAL.head(meta, undefined, undefined).encode(0);
      const tail = await createSegment(dir, seg.file, head);
      const wal = new WAL(dir, size, max, lock, meta, new IndexTracker(), undefined, undefined, [seg], tail, head.length);
      wal.inlineWriteMaxMs = inlineMs;
      wal.preallocateBytes = preallocateBytes(opts);
      wal.allocEnd = head.length;
      wal.extend();
      return wal;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /**
   * open reads the WAL in dir, cuts a torn tail off the last segment (truncating the file),
   * and returns the log read together with a WAL ready to append after it. It reads the
   * segments from the one holding the latest snapshot marker's index on (the last segment
   * carries that marker, in its head or after it); older segments, kept by maxSegments, are
   * released ones and are not read. Released segments beyond maxSegments are deleted. It
   * throws WalCorruptError if anything read before the tail is damaged.
   */
  static async open(dir: string, opts: WalOptions = {}): Promise<{ wal: WAL; contents: WalContents }> {
    const size = segmentSize(opts);
    const max = maxSegments(opts);
    const inlineMs = inlineWriteMaxMs(opts);
    const prealloc = preallocateBytes(opts);
    const lock = await DirLock.acquire(dir);
    try {
      const segs = await listSegments(dir);
      if (segs.length === 0) {
        throw new Error(`wal: no segment files in ${dir}`);
      }
      const lastPath = join(dir, segs[segs.length - 1]!.file);
      const lastBuf = await readFile(lastPath);
      const lastRecords: Array<[RecordType, Buffer, number]> = [];
      const validEnd = scanSegment(lastBuf, lastPath, true, (type, body, offset) => {
        lastRecords.push([type, body, offset]);
      });
      const start = firstNeededSegment(segs, latestMarkerIndex(lastRecords));
      const replay = new Replay();
      const visit = replay.apply.bind(replay);
      for (let i = start; i < segs.length - 1; i++) {
        const path = join(dir, segs[i]!.file);
        replay.beginSegment(path);
        scanSegment(await readFile(path), path, false, visit);
      }
      replay.beginSegment(lastPath);
      for (const [type, body, offset] of lastRecords) {
        visit(type, body, offset);
      }
      const tail = await open(lastPath, SYNC_WRITE_FLAGS);
      // Zeros past the last record are preallocated space (or a write that never started):
      // they are kept, and the next append goes where they start.
      const zeroTail = validEnd < lastBuf.length && isZero(lastBuf, validEnd);
      try {
        if (validEnd < lastBuf.length && !zeroTail) {
          await tail.truncate(validEnd);
          await tail.sync();
        }
      } catch (err) {
        await tail.close();
        throw err;
      }
      const contents = replay.result();
      const wal = new WAL(
        dir,
        size,
        max,
        lock,
        contents.metadata,
        replay.tracker,
        replay.hardStateBody,
        replay.snapshotBody,
        segs,
        tail,
        validEnd,
      );
      wal.released = start;
      wal.inlineWriteMaxMs = inlineMs;
      wal.preallocateBytes = prealloc;
      wal.allocEnd = zeroTail ? lastBuf.length : validEnd;
      try {
        await wal.purge();
      } catch (err) {
        await tail.close();
        throw err;
      }
      wal.extend();
      return { wal, contents };
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /**
   * save appends entries and then hardState (either may be empty/undefined) with one
   * synchronous write, and resolves once they are durable. entries must be contiguous and
   * must not leave a gap after the log; an entry at or below the last index replaces the
   * log from its index on. mayInline false sends the write to the thread pool whatever
   * WalOptions.inlineWriteMaxMs says (the caller has other work waiting on this thread).
   */
  save(hardState: raftpb.HardState | undefined, entries: raftpb.Entry[], mayInline = true): Promise<void> {
    return this.enqueue(async () => {
      if (hardState === undefined && entries.length === 0) {
        return;
      }
      this.checkAppend(entries);
      await this.maybeCut();
      const batch = new RecordBatch();
      for (const e of entries) {
        batch.add(RecordType.Entry, entryCodec.encode(e));
      }
      let hardStateBody: Buffer | undefined;
      if (hardState !== undefined) {
        hardStateBody = view(raftpb.HardState.encode(hardState).finish());
        batch.add(RecordType.HardState, hardStateBody);
      }
      await this.append(batch, mayInline && entries.length <= INLINE_WRITE_MAX_ENTRIES);
      const last = entries[entries.length - 1];
      if (last !== undefined) {
        this.tracker.entry(last.index);
      }
      if (hardStateBody !== undefined) {
        this.hardStateBody = hardStateBody;
      }
    });
  }

  /** saveSnapshot durably records that a snapshot at marker.index exists. */
  saveSnapshot(marker: walpb.SnapshotMarker): Promise<void> {
    return this.enqueue(async () => {
      await this.maybeCut();
      const body = view(walpb.SnapshotMarker.encode(marker).finish());
      const batch = new RecordBatch();
      batch.add(RecordType.Snapshot, body);
      await this.append(batch);
      this.tracker.snapshot(marker.index);
      this.snapshotBody = body;
    });
  }

  /**
   * releaseTo releases the oldest segments whose live entries all lie below index: segment k
   * is released when a later segment was started at a first index <= index. The segment
   * holding index, every later one and the segment being appended to are kept. index is
   * capped at the latest snapshot marker's index (nothing is released before a marker is
   * saved), so entries above the snapshot are never lost and the log read back stays
   * contiguous. Released segments are then deleted as maxSegments allows (see purge).
   */
  releaseTo(index: bigint): Promise<void> {
    return this.enqueue(async () => {
      const base = this.tracker.base;
      if (base === undefined) {
        return;
      }
      const limit = index < base ? index : base;
      this.released = Math.max(this.released, firstNeededSegment(this.segments, limit));
      await this.purge();
    });
  }

  /**
   * purge deletes released segments, oldest first, while more segment files than
   * maxSegments exist (all released ones when maxSegments is undefined, none when it is 0).
   * Run it inside an enqueued operation.
   */
  private async purge(): Promise<void> {
    let drop = this.released;
    if (this.maxSegments === 0) {
      drop = 0;
    } else if (this.maxSegments !== undefined) {
      drop = Math.min(drop, Math.max(0, this.segments.length - this.maxSegments));
    }
    if (drop === 0) {
      return;
    }
    // Oldest first: a crash part way leaves a contiguous run of segments.
    for (let i = 0; i < drop; i++) {
      await unlink(join(this.dir, this.segments[0]!.file));
      this.segments.shift();
      this.released--;
    }
    await syncDir(this.dir);
  }

  /** close waits for queued operations, closes the tail segment and releases the lock. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = this.queue.then(async () => {
        try {
          await this.extending;
          await this.tail.close();
        } finally {
          await this.lock.release();
        }
      });
    }
    return this.closing;
  }

  /** checkUsable throws once a write (or a zero-fill) has failed: what reached the disk is unknown. */
  private checkUsable(): void {
    if (this.failure !== undefined) {
      throw new Error(`wal: unusable after an earlier write failure: ${this.failure.message}`);
    }
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    if (this.closing !== undefined) {
      return Promise.reject(new Error("wal: closed"));
    }
    const run = this.queue.then(() => {
      this.checkUsable();
      return op();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private checkAppend(entries: raftpb.Entry[]): void {
    for (let i = 1; i < entries.length; i++) {
      const prev = entries[i - 1]!.index;
      const cur = entries[i]!.index;
      if (cur !== prev + 1n) {
        throw new Error(`wal: save: entry index ${cur} does not follow ${prev}`);
      }
    }
    const first = entries[0];
    if (first !== undefined && this.tracker.leavesGap(first.index)) {
      throw new Error(`wal: save: entry index ${first.index} leaves a gap after index ${this.tracker.last}`);
    }
  }

  /**
   * append writes batch at the end of the tail segment; the tail is open with O_DSYNC
   * (SYNC_WRITE_FLAGS), so the write is durable when it returns. The write blocks the calling
   * thread while recent writes were fast (see WalOptions.inlineWriteMaxMs) and `mayInline`.
   */
  private async append(batch: RecordBatch, mayInline = true): Promise<void> {
    const buf = batch.encode(this.offset);
    if (this.extending !== undefined && this.offset + buf.length > this.fillFrom) {
      await this.extending;
    }
    this.checkUsable(); // the fill awaited may have failed
    const start = performance.now();
    try {
      const small = mayInline && buf.length <= INLINE_WRITE_MAX_BYTES;
      const probe = this.writeMs > this.inlineWriteMaxMs && this.pooledRun + 1 >= PROBE_EVERY;
      const inline = small && this.inlineWriteMaxMs > 0 && (this.writeMs <= this.inlineWriteMaxMs || probe);
      if (inline) {
        this.inlineWrites++;
        this.pooledRun = 0;
        writeAllSync(this.tail.fd, buf, this.offset);
      } else {
        this.pooledWrites++;
        this.pooledRun++;
        await writeAll(this.tail, buf, this.offset);
      }
      const ms = performance.now() - start;
      // Large writes are slow for their size, not for the disk: they do not move the average.
      // A probe measures the disk alone, so it replaces what the pooled writes averaged.
      if (inline && probe) this.writeMs = ms;
      else if (small) this.writeMs += (ms - this.writeMs) * WRITE_MS_WEIGHT;
      if (this.onSync !== undefined) this.onSync(ms / 1000);
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
    this.offset += buf.length;
    this.extend();
  }

  /**
   * extend starts zero-filling the next preallocateBytes of the tail segment (capped at
   * segmentSizeBytes) in the thread pool when fewer than half of them remain ahead of offset
   * and no fill runs. The tail is open with O_DSYNC, so allocEnd moves only once the zeros
   * and the new size are durable. A failed fill makes the WAL unusable, as a failed write
   * does (the error may belong to an append's pages).
   */
  private extend(): void {
    const chunk = this.preallocateBytes;
    if (this.extending !== undefined || chunk === 0 || this.allocEnd - this.offset >= chunk / 2) {
      return;
    }
    // The fill starts FILL_GAP_BYTES past offset, so the appends right after it (the first
    // ones after a create, open or cut, when nothing is preallocated yet) need not wait for it.
    const from = Math.max(this.allocEnd, this.offset + Math.min(FILL_GAP_BYTES, chunk / 4));
    const to = Math.min(this.segmentSizeBytes, from + chunk);
    if (to <= from) {
      return;
    }
    const tail = this.tail;
    this.fillFrom = from;
    this.extending = writeAll(tail, Buffer.alloc(to - from), from).then(
      () => {
        if (this.tail === tail) {
          this.allocEnd = to;
        }
      },
      (err: unknown) => {
        // The fill shares the file with the appends: an error it took (Linux reports a
        // write-back error once per open file) may be an append's, which then looks durable.
        this.failure ??= new Error(`wal: preallocating ${to - from} bytes of the tail segment failed: ${(err as Error).message}`, { cause: err });
      },
    ).finally(() => {
      this.extending = undefined;
    });
  }

  /** maybeCut starts a new segment if the tail segment has reached the size limit. */
  private async maybeCut(): Promise<void> {
    if (this.offset < this.segmentSizeBytes) {
      return;
    }
    const prev = this.segments[this.segments.length - 1]!;
    const last = this.tracker.last;
    const firstIndex = last === undefined ? 0n : last + 1n;
    const seg: SegmentName = { seq: prev.seq + 1, firstIndex, file: segmentFileName(prev.seq + 1, firstIndex) };
    const head = WAL.head(this.metadata, this.snapshotBody, this.hardStateBody).encode(0);
    try {
      await this.extending;
      // Only the last segment may end in zeros (a smaller segmentSizeBytes than the one the
      // tail was preallocated under can leave some past offset).
      if (this.allocEnd > this.offset) {
        await this.tail.truncate(this.offset);
        await this.tail.sync();
      }
      const fh = await createSegment(this.dir, seg.file, head);
      const old = this.tail;
      this.tail = fh;
      this.offset = head.length;
      this.allocEnd = head.length;
      this.segments.push(seg);
      await old.close();
      this.extend();
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
    if (this.released > 0 && this.maxSegments !== undefined && this.segments.length > this.maxSegments) {
      // A new segment may push the count past maxSegments: delete released ones after this
      // save (not inside it); a failure here is retried by the next release or cut.
      void this.enqueue(() => this.purge()).catch(() => undefined);
    }
  }

  /**
   * head is the records that open every segment: metadata, then the latest snapshot marker
   * and hard state if any; the last one is flagged HeadEnd.
   */
  private static head(metadata: Buffer, snapshotBody: Buffer | undefined, hardStateBody: Buffer | undefined): RecordBatch {
    const records: Array<[RecordType, Buffer]> = [[RecordType.Metadata, metadata]];
    if (snapshotBody !== undefined) {
      records.push([RecordType.Snapshot, snapshotBody]);
    }
    if (hardStateBody !== undefined) {
      records.push([RecordType.HardState, hardStateBody]);
    }
    const batch = new RecordBatch();
    records.forEach(([type, body], i) => batch.add(type, body, i === records.length - 1 ? RecordFlag.HeadEnd : 0));
    return batch;
  }
}

/**
 * firstNeededSegment is the position in segs of the first segment the log needs when
 * everything at or below index is covered by a snapshot: the last segment after the first
 * that was started at a first index <= index (every entry live in the segments before it
 * lies below that first index), or 0 when there is none.
 */
function firstNeededSegment(segs: readonly SegmentName[], index: bigint | undefined): number {
  let first = 0;
  if (index === undefined) {
    return first;
  }
  for (let i = 1; i < segs.length; i++) {
    if (segs[i]!.firstIndex <= index) {
      first = i;
    }
  }
  return first;
}

/**
 * latestMarkerIndex is the index of the last snapshot marker among the records of the last
 * segment (its head repeats the latest marker when it was started), undefined if there is
 * none or it does not decode (the replay then reports it).
 */
function latestMarkerIndex(records: ReadonlyArray<[RecordType, Buffer, number]>): bigint | undefined {
  for (let i = records.length - 1; i >= 0; i--) {
    const [type, body] = records[i]!;
    if (type === RecordType.Snapshot) {
      try {
        return walpb.SnapshotMarker.decode(body).index;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
