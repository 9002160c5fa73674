import { raftpb, walpb } from "@etcd-ts/proto";
import { entryCodec } from "./entry_codec.js";
import { WalCorruptError } from "./errors.js";
import { RecordType } from "./record.js";

/**
 * IndexTracker follows the raft index the log ends at, under the WAL's rules: an entry at
 * index i discards every earlier entry at i or above; a snapshot marker at index s discards
 * entries at or below s. Both the reader (Replay) and the writer (WAL.save, to refuse an
 * append that would leave a gap) use it, so what is written can always be read back.
 */
export class IndexTracker {
  /** last is the index the log ends at (the snapshot index if no entry follows it); undefined for an empty log with no snapshot. */
  last: bigint | undefined = undefined;
  /** base is the index of the latest snapshot marker, undefined if none. */
  base: bigint | undefined = undefined;

  /** leavesGap reports whether an entry at index would leave a hole after the current log. */
  leavesGap(index: bigint): boolean {
    return this.last !== undefined && index > this.last + 1n;
  }

  /** entry records that an entry at index was appended. */
  entry(index: bigint): void {
    this.last = this.base !== undefined && index <= this.base ? this.base : index;
  }

  /** snapshot records a snapshot marker at index. */
  snapshot(index: bigint): void {
    this.base = index;
    if (this.last === undefined || this.last < index) {
      this.last = index;
    }
  }
}

/** ReplayResult is the state rebuilt from the records of all segments. */
export interface ReplayResult {
  metadata: Buffer;
  hardState: raftpb.HardState | undefined;
  snapshot: walpb.SnapshotMarker | undefined;
  /** entries is the log after the snapshot marker, contiguous by index. */
  entries: raftpb.Entry[];
}

/**
 * Replay rebuilds the log from records in file order. Call beginSegment before the records
 * of each segment; apply throws WalCorruptError on records that
 * contradict the format (missing or differing metadata, undecodable bodies, index gaps).
 */
export class Replay {
  readonly tracker = new IndexTracker();
  private metadata: Buffer | undefined = undefined;
  private hardState: raftpb.HardState | undefined = undefined;
  private snapshot: walpb.SnapshotMarker | undefined = undefined;
  /** hardStateBody and snapshotBody are the encoded latest records, re-written at the head of new segments. */
  hardStateBody: Buffer | undefined = undefined;
  snapshotBody: Buffer | undefined = undefined;
  private readonly entries: raftpb.Entry[] = [];
  private file = "";
  private firstFile: string | undefined = undefined;
  private records = 0;
  private sawEntry = false;

  beginSegment(file: string): void {
    this.file = file;
    this.firstFile ??= file;
    this.records = 0;
  }

  apply(type: RecordType, body: Buffer, offset: number): void {
    if (this.records++ === 0 && type !== RecordType.Metadata) {
      throw new WalCorruptError(this.file, offset, `segment starts with record type ${type}, not metadata`);
    }
    switch (type) {
      case RecordType.Metadata:
        if (this.metadata === undefined) {
          this.metadata = Buffer.from(body);
        } else if (!this.metadata.equals(body)) {
          throw new WalCorruptError(this.file, offset, "metadata differs from the first segment's");
        }
        return;
      case RecordType.Entry:
        this.applyEntry(this.decode(entryCodec, body, offset, "entry"), offset);
        return;
      case RecordType.HardState:
        this.hardState = this.decode(raftpb.HardState, body, offset, "hard state");
        this.hardStateBody = Buffer.from(body);
        return;
      case RecordType.Snapshot: {
        const marker = this.decode(walpb.SnapshotMarker, body, offset, "snapshot marker");
        this.applySnapshot(marker);
        this.snapshotBody = Buffer.from(body);
        return;
      }
    }
  }

  private decode<T>(codec: { decode(b: Uint8Array): T }, body: Buffer, offset: number, what: string): T {
    try {
      return codec.decode(body);
    } catch (err) {
      throw new WalCorruptError(this.file, offset, `cannot decode ${what}: ${(err as Error).message}`);
    }
  }

  private applyEntry(e: raftpb.Entry, offset: number): void {
    const t = this.tracker;
    // The first entry read may lie above the marker in its segment's head: releaseTo
    // deleted the segments between them. result() checks the final log against the
    // latest marker instead.
    if (this.sawEntry && t.leavesGap(e.index)) {
      throw new WalCorruptError(this.file, offset, `entry index ${e.index} leaves a gap after index ${t.last}`);
    }
    const log = this.entries;
    const first = log[0];
    if (first !== undefined) {
      if (e.index <= first.index) {
        log.length = 0;
      } else if (e.index - first.index < BigInt(log.length)) {
        log.length = Number(e.index - first.index);
      }
    }
    if (t.base === undefined || e.index > t.base) {
      log.push(e);
    }
    t.entry(e.index);
    this.sawEntry = true;
  }

  private applySnapshot(m: walpb.SnapshotMarker): void {
    this.snapshot = m;
    const first = this.entries[0];
    if (first !== undefined && first.index <= m.index) {
      const drop = m.index - first.index + 1n;
      this.entries.splice(0, drop >= BigInt(this.entries.length) ? this.entries.length : Number(drop));
    }
    this.tracker.snapshot(m.index);
  }

  /**
   * result returns the rebuilt state; call it after the last segment. It throws
   * WalCorruptError if the log does not start right after the latest snapshot marker.
   */
  result(): ReplayResult {
    const first = this.entries[0];
    if (first !== undefined && this.snapshot !== undefined && first.index !== this.snapshot.index + 1n) {
      throw new WalCorruptError(
        this.firstFile ?? this.file,
        0,
        `log starts at index ${first.index} but the latest snapshot marker is at index ${this.snapshot.index}`,
      );
    }
    return {
      metadata: this.metadata ?? Buffer.alloc(0),
      hardState: this.hardState,
      snapshot: this.snapshot,
      entries: this.entries,
    };
  }
}
