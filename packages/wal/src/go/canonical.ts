import { etcdraftpb } from "@etcd-ts/proto";

/**
 * Go's gogoproto marshals every raftpb field marked non-nullable even when it is zero, and
 * a bytes field exactly when it is non-nil. The etcdraftpb messages have proto2 presence (a
 * field is encoded when set), so these functions set every field Go always writes; encoding
 * their result gives Go's bytes. Data stays absent when absent (Go: nil).
 */

/** goEntry is e with Type, Term and Index set (0 when absent). */
export function goEntry(e: etcdraftpb.Entry): etcdraftpb.Entry {
  const out: etcdraftpb.Entry = { Type: e.Type ?? etcdraftpb.EntryType.EntryNormal, Term: e.Term ?? 0n, Index: e.Index ?? 0n };
  if (e.Data !== undefined) out.Data = e.Data;
  return out;
}

/** goHardState is s with term, vote and commit set (0 when absent). */
export function goHardState(s: etcdraftpb.HardState): etcdraftpb.HardState {
  return { term: s.term ?? 0n, vote: s.vote ?? 0n, commit: s.commit ?? 0n };
}

/** isEmptyGoHardState is raft.IsEmptyHardState: term, vote and commit all 0. */
export function isEmptyGoHardState(s: etcdraftpb.HardState): boolean {
  return (s.term ?? 0n) === 0n && (s.vote ?? 0n) === 0n && (s.commit ?? 0n) === 0n;
}

/** goConfState is c with auto_leave set (false when absent); repeated fields are copied as given. */
export function goConfState(c: etcdraftpb.ConfState | undefined): etcdraftpb.ConfState {
  return {
    voters: [...(c?.voters ?? [])],
    learners: [...(c?.learners ?? [])],
    votersOutgoing: [...(c?.votersOutgoing ?? [])],
    learnersNext: [...(c?.learnersNext ?? [])],
    autoLeave: c?.autoLeave ?? false,
  };
}

/** goSnapshot is s with metadata, its conf_state, index and term set; data stays absent when absent. */
export function goSnapshot(s: etcdraftpb.Snapshot): etcdraftpb.Snapshot {
  const out: etcdraftpb.Snapshot = {
    metadata: {
      confState: goConfState(s.metadata?.confState),
      index: s.metadata?.index ?? 0n,
      term: s.metadata?.term ?? 0n,
    },
  };
  if (s.data !== undefined) out.data = s.data;
  return out;
}
