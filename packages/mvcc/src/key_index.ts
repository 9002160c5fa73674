import type { mvccpb } from "@etcd-ts/proto";
import type { Revision } from "./revision.js";

/**
 * Generation is one life of a key: the revisions from its creation up to and including the
 * tombstone that deleted it. Only the last generation of a key may be open (no tombstone);
 * an empty last generation means the key is currently deleted.
 */
export interface Generation {
  revs: Revision[];
}

/**
 * KeyIndex records every revision of one key, grouped into generations, and holds the key's
 * current KeyValue (undefined while the key is deleted), which the store maintains.
 * Invariants: revisions strictly increase across all generations; every generation but the
 * last is non-empty and ends with a tombstone; the last generation is empty exactly when
 * `live` is undefined.
 */
export class KeyIndex {
  readonly key: Buffer;
  generations: Generation[] = [{ revs: [] }];
  live: mvccpb.KeyValue | undefined;

  constructor(key: Buffer) {
    this.key = key;
  }

  /** put records a new revision of the key, opening a generation if the key was deleted. */
  put(rev: Revision): void {
    this.last().revs.push(rev);
  }

  /** tombstone records the deletion of a live key at rev and closes its generation. */
  tombstone(rev: Revision): void {
    const g = this.last();
    if (g.revs.length === 0) throw new Error("mvcc: tombstone on a deleted key");
    g.revs.push(rev);
    this.generations.push({ revs: [] });
  }

  /** isEmpty reports whether the index holds no revision at all. */
  isEmpty(): boolean {
    return this.generations.length === 1 && this.generations[0]!.revs.length === 0;
  }

  /**
   * get returns the revision holding the key's value as of main revision atRev, or undefined
   * when the key did not exist then (never created, or deleted at or before atRev).
   */
  get(atRev: bigint): Revision | undefined {
    const g = this.findGeneration(atRev);
    if (g === undefined) return undefined;
    for (let i = g.revs.length - 1; i >= 0; i--) {
      const rev = g.revs[i]!;
      if (rev.main <= atRev) return rev;
    }
    return undefined;
  }

  /**
   * compact drops the revisions that reads at atRev or later can no longer need: for the
   * generation alive at atRev it keeps the newest revision <= atRev and everything after;
   * earlier generations go. The kept revision <= atRev is added to `available` (as returned by
   * keyOf) unless the key was deleted at atRev. Afterwards isEmpty() tells whether the key can
   * be dropped from the tree.
   */
  compact(atRev: bigint, available: Set<string>, keyOf: (rev: Revision) => string): void {
    const { genIdx, revIdx } = this.findCompactPoint(atRev);
    const g = this.generations[genIdx]!;
    if (revIdx >= 0) {
      available.add(keyOf(g.revs[revIdx]!));
      g.revs = g.revs.slice(revIdx);
    }
    this.generations = this.generations.slice(genIdx);
  }

  /** keep adds to `available` the revision that compact(atRev) would keep, without changing anything. */
  keep(atRev: bigint, available: Set<string>, keyOf: (rev: Revision) => string): void {
    if (this.isEmpty()) return;
    const { genIdx, revIdx } = this.findCompactPoint(atRev);
    if (revIdx >= 0) available.add(keyOf(this.generations[genIdx]!.revs[revIdx]!));
  }

  /** revisions returns every revision of the key, oldest first (for tests and checks). */
  revisions(): Revision[] {
    return this.generations.flatMap((g) => g.revs);
  }

  private last(): Generation {
    return this.generations[this.generations.length - 1]!;
  }

  /**
   * findCompactPoint finds the first generation whose tombstone is after atRev (or the last
   * generation) and in it the index of the newest revision <= atRev (-1 when none).
   */
  private findCompactPoint(atRev: bigint): { genIdx: number; revIdx: number } {
    let genIdx = 0;
    while (genIdx < this.generations.length - 1) {
      const revs = this.generations[genIdx]!.revs;
      if (revs[revs.length - 1]!.main > atRev) break;
      genIdx++;
    }
    const revs = this.generations[genIdx]!.revs;
    let revIdx = revs.length - 1;
    while (revIdx >= 0 && revs[revIdx]!.main > atRev) revIdx--;
    return { genIdx, revIdx };
  }

  private findGeneration(atRev: bigint): Generation | undefined {
    const lastIdx = this.generations.length - 1;
    for (let i = lastIdx; i >= 0; i--) {
      const g = this.generations[i]!;
      if (g.revs.length === 0) continue;
      if (i !== lastIdx && g.revs[g.revs.length - 1]!.main <= atRev) return undefined;
      if (g.revs[0]!.main <= atRev) return g;
    }
    return undefined;
  }
}
