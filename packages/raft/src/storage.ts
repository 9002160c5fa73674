import { raftpb } from "@etcd-ts/proto";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, RaftInvariantError } from "./errors.js";
import { emptyConfState, emptyHardState, EMPTY_BUFFER, limitSize, newEntry } from "./util.js";

/**
 * Storage is the read-only view of the persisted log that raft needs. The application
 * persists what Ready hands out (entries, hard state, snapshot) and raft reads it back
 * through this interface. Implemented by MemoryStorage and by the server's WAL-backed store.
 *
 * Indices are 1-based. The storage holds a snapshot (possibly empty, index 0) and the
 * contiguous entries after it; firstIndex() is the snapshot index + 1.
 */
export interface Storage {
  /** initialState returns the persisted HardState and the membership of the last snapshot/conf. */
  initialState(): { hardState: raftpb.HardState; confState: raftpb.ConfState };
  /**
   * entries returns the entries in [lo, hi), cut to about maxSizeBytes (at least one entry
   * when any are available). Throws ErrCompacted if lo <= the snapshot index and
   * ErrUnavailable if the range is not stored.
   */
  entries(lo: bigint, hi: bigint, maxSizeBytes: number): raftpb.Entry[];
  /**
   * term returns the term of the entry at index, for index in [firstIndex()-1, lastIndex()]
   * (firstIndex()-1 answers with the snapshot term). Throws ErrCompacted below that range
   * and ErrUnavailable above it.
   */
  term(index: bigint): bigint;
  /** lastIndex is the index of the last stored entry (the snapshot index if there is none). */
  lastIndex(): bigint;
  /** firstIndex is the index of the first entry that may be read with entries(). */
  firstIndex(): bigint;
  /** snapshot returns the most recent snapshot; may throw ErrSnapshotTemporarilyUnavailable. */
  snapshot(): raftpb.Snapshot;
}

/**
 * MemoryStorage is a Storage kept in memory: used by tests and as the in-memory cache of a
 * WAL-backed server. ents[0] is a dummy entry holding the snapshot's index and term, so
 * ents[i] has index ents[0].index + i.
 */
export class MemoryStorage implements Storage {
  private hardState: raftpb.HardState = emptyHardState();
  private snap: raftpb.Snapshot = {
    data: EMPTY_BUFFER,
    metadata: { confState: emptyConfState(), index: 0n, term: 0n },
  };
  private ents: raftpb.Entry[] = [newEntry({})];

  initialState(): { hardState: raftpb.HardState; confState: raftpb.ConfState } {
    return {
      hardState: { ...this.hardState },
      confState: this.snap.metadata?.confState ?? emptyConfState(),
    };
  }

  /** setHardState saves the current HardState. */
  setHardState(hs: raftpb.HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  entries(lo: bigint, hi: bigint, maxSizeBytes: number): raftpb.Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new ErrCompacted();
    if (hi > this.lastIndex() + 1n) {
      throw new RaftInvariantError(
        `memory storage: entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`,
      );
    }
    if (this.ents.length === 1) throw new ErrUnavailable();
    return limitSize(this.ents.slice(Number(lo - offset), Number(hi - offset)), maxSizeBytes);
  }

  term(index: bigint): bigint {
    const offset = this.offset();
    if (index < offset) throw new ErrCompacted();
    const i = Number(index - offset);
    const e = this.ents[i];
    if (e === undefined) throw new ErrUnavailable();
    return e.term;
  }

  lastIndex(): bigint {
    return this.offset() + BigInt(this.ents.length - 1);
  }

  firstIndex(): bigint {
    return this.offset() + 1n;
  }

  snapshot(): raftpb.Snapshot {
    return this.snap;
  }

  /**
   * applySnapshot replaces the storage's contents with the snapshot (the log restarts after
   * the snapshot index). Throws ErrSnapOutOfDate if snap is not newer than the current one.
   */
  applySnapshot(snap: raftpb.Snapshot): void {
    const idx = snap.metadata?.index ?? 0n;
    if ((this.snap.metadata?.index ?? 0n) >= idx) throw new ErrSnapOutOfDate();
    this.snap = snap;
    this.ents = [newEntry({ term: snap.metadata?.term ?? 0n, index: idx })];
  }

  /**
   * createSnapshot records a snapshot of the state at index (which must be <= lastIndex and
   * already applied by the caller), with the membership cs (if given) and the application
   * state data. The log is not compacted; call compact() for that.
   */
  createSnapshot(index: bigint, cs: raftpb.ConfState | undefined, data: Buffer): raftpb.Snapshot {
    const current = this.snap.metadata?.index ?? 0n;
    if (index <= current) throw new ErrSnapOutOfDate();
    const offset = this.offset();
    if (index > this.lastIndex()) {
      throw new RaftInvariantError(
        `memory storage: snapshot ${index} is out of bound lastindex(${this.lastIndex()})`,
      );
    }
    const e = this.ents[Number(index - offset)]!;
    this.snap = {
      data,
      metadata: {
        index,
        term: e.term,
        confState: cs ?? this.snap.metadata?.confState ?? emptyConfState(),
      },
    };
    return this.snap;
  }

  /**
   * compact discards the entries up to and including compactIndex (the application must have
   * snapshotted them first). Throws ErrCompacted if already compacted that far.
   */
  compact(compactIndex: bigint): void {
    const offset = this.offset();
    if (compactIndex <= offset) throw new ErrCompacted();
    if (compactIndex > this.lastIndex()) {
      throw new RaftInvariantError(
        `memory storage: compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`,
      );
    }
    const i = Number(compactIndex - offset);
    const at = this.ents[i]!;
    this.ents = [newEntry({ index: at.index, term: at.term }), ...this.ents.slice(i + 1)];
  }

  /**
   * append adds entries (contiguous, ascending) to the log. Entries overlapping the stored
   * log replace the stored tail from the first overlapping index on; entries at or below the
   * snapshot index are ignored.
   */
  append(entries: raftpb.Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const e0 = entries[0]!;
    const last = e0.index + BigInt(entries.length) - 1n;
    if (last < first) return;
    if (first > e0.index) entries = entries.slice(Number(first - e0.index));
    const start = entries[0]!.index;
    const offset = Number(start - this.offset());
    if (this.ents.length > offset) {
      this.ents = this.ents.slice(0, offset).concat(entries);
    } else if (this.ents.length === offset) {
      for (const e of entries) this.ents.push(e);
    } else {
      throw new RaftInvariantError(
        `memory storage: missing log entry [last: ${this.lastIndex()}, append at: ${start}]`,
      );
    }
  }

  private offset(): bigint {
    return this.ents[0]!.index;
  }
}
