import type { raftpb } from "@etcd-ts/proto";
import { RaftInvariantError } from "./errors.js";
import { snapIndex, snapTerm } from "./util.js";

/**
 * Unstable holds the entries (and possibly a snapshot) that raft has accepted but the
 * application has not yet persisted to Storage. entries[i] has index offset + i. If a
 * snapshot is present it precedes the entries (offset = snapshot index + 1).
 */
export class Unstable {
  snapshot: raftpb.Snapshot | undefined = undefined;
  entries: raftpb.Entry[] = [];
  offset: bigint;

  constructor(offset: bigint) {
    this.offset = offset;
  }

  /** maybeFirstIndex is the first index known only through the unstable snapshot, if any. */
  maybeFirstIndex(): bigint | undefined {
    return this.snapshot !== undefined ? snapIndex(this.snapshot) + 1n : undefined;
  }

  /** maybeLastIndex is the last index of the unstable entries or snapshot, if any. */
  maybeLastIndex(): bigint | undefined {
    if (this.entries.length > 0) return this.offset + BigInt(this.entries.length) - 1n;
    if (this.snapshot !== undefined) return snapIndex(this.snapshot);
    return undefined;
  }

  /** maybeTerm is the term of index i if the unstable part knows it. */
  maybeTerm(i: bigint): bigint | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && snapIndex(this.snapshot) === i) return snapTerm(this.snapshot);
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[Number(i - this.offset)]!.term;
  }

  /** stableTo drops the entries up to i once they are persisted (if i still has term t). */
  stableTo(i: bigint, t: bigint): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined) return;
    // Only drop entries that are still the ones that were persisted: a later append may
    // have replaced them with entries of another term.
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(Number(i + 1n - this.offset));
      this.offset = i + 1n;
    }
  }

  /** stableSnapTo drops the snapshot once the snapshot at index i is persisted. */
  stableSnapTo(i: bigint): void {
    if (this.snapshot !== undefined && snapIndex(this.snapshot) === i) this.snapshot = undefined;
  }

  /** restore replaces everything with the snapshot s. */
  restore(s: raftpb.Snapshot): void {
    this.offset = snapIndex(s) + 1n;
    this.entries = [];
    this.snapshot = s;
  }

  /** truncateAndAppend appends ents, first discarding any unstable entries at or after ents[0]. */
  truncateAndAppend(ents: raftpb.Entry[]): void {
    if (ents.length === 0) return;
    const after = ents[0]!.index;
    const end = this.offset + BigInt(this.entries.length);
    if (after === end) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replace the whole unstable tail; the stored part is overwritten when persisted.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      const kept = this.slice(this.offset, after);
      this.entries = kept.concat(ents);
    }
  }

  /** slice returns the unstable entries in [lo, hi). */
  slice(lo: bigint, hi: bigint): raftpb.Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    return this.entries.slice(Number(lo - this.offset), Number(hi - this.offset));
  }

  private mustCheckOutOfBounds(lo: bigint, hi: bigint): void {
    if (lo > hi) throw new RaftInvariantError(`unstable: invalid slice ${lo} > ${hi}`);
    const upper = this.offset + BigInt(this.entries.length);
    if (lo < this.offset || hi > upper) {
      throw new RaftInvariantError(`unstable: slice[${lo},${hi}) out of bound [${this.offset},${upper}]`);
    }
  }
}
