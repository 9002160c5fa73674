import { raftpb, walpb } from "@etcd-ts/proto";
import { entryCodec } from "./entry_codec.js";
import { mkdir, open, readFile, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { DirLock } from "./lock.js";
import { RecordBatch, RecordFlag, RecordType } from "./record.js";
import { IndexTracker, Replay } from "./replay.js";
import {
  createSegment,
  listSegments,
  listSegmentsSync,
  scanSegment,
  segmentFileName,
  syncDir,
  writeAll,
  type SegmentName,
} from "./segment.js";

/** DEFAULT_SEGMENT_SIZE_BYTES is the size after which a new segment file is started (64 MiB). */
export const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;

/** WalOptions tunes a WAL. */
export interface WalOptions {
  /**
   * segmentSizeBytes: once the current segment holds at least this many bytes, the next write
   * goes to a new segment. A single save larger than this still lands in one segment.
   */
  segmentSizeBytes?: number;
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

function view(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * WAL is a write-ahead log of raft entries, hard states and snapshot markers in a directory
 * of segment files. Every segment starts with the metadata record, then the latest snapshot
 * marker and hard state at the time it was started, so deleting older segments (releaseTo)
 * never loses them. Each save is one write and one fdatasync; it resolves once durable.
 * Operations run one at a time in call order. After a failed write or sync the WAL refuses
 * further writes (what reached the disk is unknown); reopen it to recover.
 */
export class WAL {
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined = undefined;
  private failure: Error | undefined = undefined;

  private constructor(
    private readonly dir: string,
    private readonly segmentSizeBytes: number,
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
      return new WAL(dir, size, lock, meta, new IndexTracker(), undefined, undefined, [seg], tail, head.length);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /**
   * open reads every segment of the WAL in dir, cuts a torn tail off the last segment
   * (truncating the file), and returns the log read together with a WAL ready to append
   * after it. It throws WalCorruptError if anything before the tail is damaged.
   */
  static async open(dir: string, opts: WalOptions = {}): Promise<{ wal: WAL; contents: WalContents }> {
    const size = segmentSize(opts);
    const lock = await DirLock.acquire(dir);
    try {
      const segs = await listSegments(dir);
      if (segs.length === 0) {
        throw new Error(`wal: no segment files in ${dir}`);
      }
      const replay = new Replay();
      const visit = replay.apply.bind(replay);
      let validEnd = 0;
      let fileLength = 0;
      for (let i = 0; i < segs.length; i++) {
        const path = join(dir, segs[i]!.file);
        const buf = await readFile(path);
        replay.beginSegment(path);
        validEnd = scanSegment(buf, path, i === segs.length - 1, visit);
        fileLength = buf.length;
      }
      const tail = await open(join(dir, segs[segs.length - 1]!.file), "r+");
      try {
        if (validEnd < fileLength) {
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
        lock,
        contents.metadata,
        replay.tracker,
        replay.hardStateBody,
        replay.snapshotBody,
        segs,
        tail,
        validEnd,
      );
      return { wal, contents };
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /**
   * save appends entries and then hardState (either may be empty/undefined) with one write
   * and one fdatasync, and resolves once they are durable. entries must be contiguous and
   * must not leave a gap after the log; an entry at or below the last index replaces the
   * log from its index on.
   */
  save(hardState: raftpb.HardState | undefined, entries: raftpb.Entry[]): Promise<void> {
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
      await this.append(batch);
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
   * releaseTo deletes the oldest segments whose live entries all lie below index: segment k
   * goes when a later segment was started at a first index <= index. The segment holding
   * index, every later one and the segment being appended to are kept. index is capped at
   * the latest snapshot marker's index (nothing is released before a marker is saved), so
   * entries above the snapshot are never lost and the log read back stays contiguous.
   */
  releaseTo(index: bigint): Promise<void> {
    return this.enqueue(async () => {
      const base = this.tracker.base;
      if (base === undefined) {
        return;
      }
      const limit = index < base ? index : base;
      let drop = 0;
      for (let i = 1; i < this.segments.length; i++) {
        if (this.segments[i]!.firstIndex <= limit) {
          drop = i;
        }
      }
      if (drop === 0) {
        return;
      }
      // Oldest first: a crash part way leaves a contiguous run of segments.
      for (let i = 0; i < drop; i++) {
        await unlink(join(this.dir, this.segments[0]!.file));
        this.segments.shift();
      }
      await syncDir(this.dir);
    });
  }

  /** close waits for queued operations, closes the tail segment and releases the lock. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = this.queue.then(async () => {
        try {
          await this.tail.close();
        } finally {
          await this.lock.release();
        }
      });
    }
    return this.closing;
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    if (this.closing !== undefined) {
      return Promise.reject(new Error("wal: closed"));
    }
    const run = this.queue.then(() => {
      if (this.failure !== undefined) {
        throw new Error(`wal: unusable after an earlier write failure: ${this.failure.message}`);
      }
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

  /** append writes batch at the end of the tail segment and fdatasyncs it. */
  private async append(batch: RecordBatch): Promise<void> {
    const buf = batch.encode(this.offset);
    try {
      await writeAll(this.tail, buf, this.offset);
      await this.tail.datasync();
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
    this.offset += buf.length;
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
      const fh = await createSegment(this.dir, seg.file, head);
      const old = this.tail;
      this.tail = fh;
      this.offset = head.length;
      this.segments.push(seg);
      await old.close();
    } catch (err) {
      this.failure = err as Error;
      throw err;
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
