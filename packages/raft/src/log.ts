import type { raftpb } from "@etcd-ts/proto";
import { ErrCompacted, ErrUnavailable, RaftInvariantError } from "./errors.js";
import { Unstable } from "./log_unstable.js";
import type { Storage } from "./storage.js";
import { bigMax, bigMin, limitSize, noLimit, snapIndex } from "./util.js";

/**
 * RaftLog is the log as raft sees it: the persisted part (Storage) followed by the unstable
 * part (accepted, not yet persisted). Invariant: applied <= committed <= lastIndex().
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** committed is the highest index known to be stored on a quorum. */
  committed: bigint;
  /** applied is the highest index handed to the application for applying. */
  applied: bigint;
  /** maxNextEntsSize caps the bytes of committed entries handed out per Ready. */
  readonly maxNextEntsSize: number;

  constructor(storage: Storage, maxNextEntsSize: number = noLimit) {
    this.storage = storage;
    this.maxNextEntsSize = maxNextEntsSize;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new Unstable(lastIndex + 1n);
    // Start committed and applied at the last compaction point.
    this.committed = firstIndex - 1n;
    this.applied = firstIndex - 1n;
  }

  /**
   * maybeAppend appends ents after (index, logTerm) if the log matches there, skipping
   * entries already present and truncating at the first conflict, then commits up to
   * min(committed, last new index). Returns the last new index, or undefined on mismatch.
   */
  maybeAppend(index: bigint, logTerm: bigint, committed: bigint, ents: raftpb.Entry[]): bigint | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + BigInt(ents.length);
    const ci = this.findConflict(ents);
    if (ci !== 0n) {
      if (ci <= this.committed) {
        throw new RaftInvariantError(`entry ${ci} conflicts with committed entry [committed(${this.committed})]`);
      }
      this.append(ents.slice(Number(ci - (index + 1n))));
    }
    this.commitTo(bigMin(committed, lastNew));
    return lastNew;
  }

  /** append adds ents (contiguous) to the unstable part; returns the new last index. */
  append(ents: raftpb.Entry[]): bigint {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1n;
    if (after < this.committed) {
      throw new RaftInvariantError(`after(${after}) is out of range [committed(${this.committed})]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * findConflict returns the index of the first entry of ents whose term differs from the
   * log's entry at that index, or the first index beyond the log; 0 if the log already
   * holds all of ents.
   */
  findConflict(ents: raftpb.Entry[]): bigint {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0n;
  }

  /**
   * findConflictByTerm returns the largest index <= index whose term is <= term (used for
   * fast backtracking after a rejected append), with that entry's term (0 if unknown).
   */
  findConflictByTerm(index: bigint, term: bigint): { index: bigint; term: bigint } {
    const li = this.lastIndex();
    if (index > li) return { index, term: 0n };
    for (;;) {
      let t: bigint;
      try {
        t = this.term(index);
      } catch (err) {
        if (err instanceof ErrCompacted || err instanceof ErrUnavailable) return { index, term: 0n };
        throw err;
      }
      if (t <= term) return { index, term: t };
      if (index === 0n) return { index, term: t };
      index--;
    }
  }

  /** unstableEntries are the entries not yet persisted. */
  unstableEntries(): raftpb.Entry[] {
    return this.unstable.entries;
  }

  /** nextEnts returns the committed entries not yet applied (size-limited). */
  nextEnts(): raftpb.Entry[] {
    const off = bigMax(this.applied + 1n, this.firstIndex());
    if (this.committed + 1n > off) return this.slice(off, this.committed + 1n, this.maxNextEntsSize);
    return [];
  }

  /** hasNextEnts reports whether nextEnts() would return anything. */
  hasNextEnts(): boolean {
    return this.committed + 1n > bigMax(this.applied + 1n, this.firstIndex());
  }

  /** snapshot returns the unstable snapshot if any, else the storage's. */
  snapshot(): raftpb.Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  firstIndex(): bigint {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): bigint {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** commitTo raises committed to tocommit (never lowers it). */
  commitTo(tocommit: bigint): void {
    if (this.committed < tocommit) {
      if (this.lastIndex() < tocommit) {
        throw new RaftInvariantError(
          `tocommit(${tocommit}) is out of range [lastIndex(${this.lastIndex()})]; was the log corrupted, truncated, or lost?`,
        );
      }
      this.committed = tocommit;
    }
  }

  /** appliedTo records that the application has applied up to i. */
  appliedTo(i: bigint): void {
    if (i === 0n) return;
    if (this.committed < i || i < this.applied) {
      throw new RaftInvariantError(`applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`);
    }
    this.applied = i;
  }

  stableTo(i: bigint, t: bigint): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: bigint): void {
    this.unstable.stableSnapTo(i);
  }

  lastTerm(): bigint {
    return this.termOrZero(this.lastIndex());
  }

  /**
   * term returns the term of entry i; 0 for indices outside [firstIndex-1, lastIndex].
   * Throws ErrCompacted / ErrUnavailable from the storage.
   */
  term(i: bigint): bigint {
    const dummyIndex = this.firstIndex() - 1n;
    if (i < dummyIndex || i > this.lastIndex()) return 0n;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    return this.storage.term(i);
  }

  /** termOrZero is term(i), with 0 when the entry was compacted or is unavailable. */
  termOrZero(i: bigint): bigint {
    try {
      return this.term(i);
    } catch (err) {
      if (err instanceof ErrCompacted || err instanceof ErrUnavailable) return 0n;
      throw err;
    }
  }

  /** entries returns the entries from i to the end, cut to maxSize bytes. */
  entries(i: bigint, maxSize: number): raftpb.Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1n, maxSize);
  }

  /** allEntries returns the whole log (retrying if a compaction races the read). */
  allEntries(): raftpb.Entry[] {
    for (;;) {
      try {
        return this.entries(this.firstIndex(), noLimit);
      } catch (err) {
        if (!(err instanceof ErrCompacted)) throw err;
      }
    }
  }

  /**
   * isUpToDate reports whether a log ending at (lasti, term) is at least as up to date as
   * this one: a later last term, or the same last term and at least as long.
   */
  isUpToDate(lasti: bigint, term: bigint): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lasti >= this.lastIndex());
  }

  matchTerm(i: bigint, term: bigint): boolean {
    try {
      return this.term(i) === term;
    } catch (err) {
      if (err instanceof ErrCompacted || err instanceof ErrUnavailable) return false;
      throw err;
    }
  }

  /** maybeCommit commits up to maxIndex if that entry is of the given (current) term. */
  maybeCommit(maxIndex: bigint, term: bigint): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** restore resets the log to the snapshot s (entries after it are discarded). */
  restore(s: raftpb.Snapshot): void {
    this.committed = snapIndex(s);
    this.unstable.restore(s);
  }

  /**
   * slice returns the entries in [lo, hi), cut to maxSize bytes (at least one). Throws
   * ErrCompacted if lo was compacted.
   */
  slice(lo: bigint, hi: bigint, maxSize: number): raftpb.Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    if (lo === hi) return [];
    let ents: raftpb.Entry[] = [];
    const uOff = this.unstable.offset;
    if (lo < uOff) {
      const storedHi = bigMin(hi, uOff);
      let stored: raftpb.Entry[];
      try {
        stored = this.storage.entries(lo, storedHi, maxSize);
      } catch (err) {
        if (err instanceof ErrUnavailable) {
          throw new RaftInvariantError(`entries[${lo}:${storedHi}) is unavailable from storage`);
        }
        throw err;
      }
      // The storage cut the batch by size: return what it gave.
      if (BigInt(stored.length) < storedHi - lo) return stored;
      ents = stored;
    }
    if (hi > uOff) {
      const unstable = this.unstable.slice(bigMax(lo, uOff), hi);
      ents = ents.length > 0 ? ents.concat(unstable) : unstable;
    }
    return limitSize(ents, maxSize);
  }

  private mustCheckOutOfBounds(lo: bigint, hi: bigint): void {
    if (lo > hi) throw new RaftInvariantError(`invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new ErrCompacted();
    const length = this.lastIndex() + 1n - fi;
    if (hi > fi + length) {
      throw new RaftInvariantError(`slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`);
    }
  }
}

