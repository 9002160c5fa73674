/**
 * Quorum arithmetic over member ids: majority configurations and joint (two-majority)
 * configurations, used for commit indexes, elections and ReadIndex/check-quorum acks.
 */

/** VoteResult is the outcome of a (partial) vote count. */
export enum VoteResult {
  /** VotePending: not decided yet; some voters have not answered. */
  VotePending = 1,
  /** VoteLost: a quorum can no longer be reached. */
  VoteLost = 2,
  /** VoteWon: a quorum voted yes. */
  VoteWon = 3,
}

/** MAX_INDEX is the commit index of an empty configuration (it never limits a joint min). */
export const MAX_INDEX = (1n << 64n) - 1n;

/** majorityCommittedIndex is the highest index acked by a majority of ids (MAX_INDEX if empty). */
export function majorityCommittedIndex(ids: ReadonlySet<bigint>, acked: (id: bigint) => bigint | undefined): bigint {
  const n = ids.size;
  if (n === 0) return MAX_INDEX;
  const srt: bigint[] = [];
  for (const id of ids) srt.push(acked(id) ?? 0n);
  srt.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // The element at position n - (n/2 + 1) in ascending order is acked by a majority.
  return srt[n - (Math.floor(n / 2) + 1)]!;
}

/** majorityVoteResult tallies votes (missing ids count as pending); an empty config wins. */
export function majorityVoteResult(ids: ReadonlySet<bigint>, votes: ReadonlyMap<bigint, boolean>): VoteResult {
  if (ids.size === 0) return VoteResult.VoteWon;
  let yes = 0;
  let missing = 0;
  for (const id of ids) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(ids.size / 2) + 1;
  if (yes >= q) return VoteResult.VoteWon;
  if (yes + missing >= q) return VoteResult.VotePending;
  return VoteResult.VoteLost;
}

/**
 * JointConfig is a pair of majority configurations: incoming (the config being entered) and
 * outgoing (empty unless in joint consensus). Decisions need a majority in both.
 */
export class JointConfig {
  incoming: Set<bigint>;
  outgoing: Set<bigint>;

  constructor(incoming: Iterable<bigint> = [], outgoing: Iterable<bigint> = []) {
    this.incoming = new Set(incoming);
    this.outgoing = new Set(outgoing);
  }

  clone(): JointConfig {
    return new JointConfig(this.incoming, this.outgoing);
  }

  /** ids is the union of both halves. */
  ids(): Set<bigint> {
    const s = new Set(this.incoming);
    for (const id of this.outgoing) s.add(id);
    return s;
  }

  isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  committedIndex(acked: (id: bigint) => bigint | undefined): bigint {
    const a = majorityCommittedIndex(this.incoming, acked);
    const b = majorityCommittedIndex(this.outgoing, acked);
    return a < b ? a : b;
  }

  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    const r1 = majorityVoteResult(this.incoming, votes);
    const r2 = majorityVoteResult(this.outgoing, votes);
    if (r1 === r2) return r1;
    if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) return VoteResult.VoteLost;
    return VoteResult.VotePending;
  }

  toString(): string {
    const fmt = (s: Set<bigint>) => `(${[...s].sort((a, b) => (a < b ? -1 : 1)).join(" ")})`;
    return this.isJoint() ? `${fmt(this.incoming)}&&${fmt(this.outgoing)}` : fmt(this.incoming);
  }
}
