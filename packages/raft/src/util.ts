import { raftpb } from "@etcd-ts/proto";

const MT = raftpb.MessageType;

/** None is the placeholder member id: no leader, no vote. */
export const None = 0n;

/** noLimit is the size limit that never cuts a batch of entries (bytes). */
export const noLimit = Number.POSITIVE_INFINITY;

/** EMPTY_BUFFER is a shared zero-length buffer; raft never writes into buffers. */
export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

export function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function varintSize(v: bigint | number): number {
  let n = typeof v === "number" ? BigInt(v) : v;
  if (n < 0n) return 10;
  let size = 1;
  while (n >= 0x80n) {
    n >>= 7n;
    size++;
  }
  return size;
}

function smallVarintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** entrySize is the protobuf-encoded size of e in bytes (what maxSizePerMsg limits). */
export function entrySize(e: raftpb.Entry): number {
  let n = 0;
  if (e.term !== 0n) n += 1 + (e.term < 0x80n ? 1 : varintSize(e.term));
  if (e.index !== 0n) n += 1 + (e.index < 0x80n ? 1 : varintSize(e.index));
  if (e.type !== 0) n += 1 + varintSize(e.type);
  const dl = e.data.length;
  if (dl > 0) n += 1 + smallVarintSize(dl) + dl;
  return n;
}

/** payloadSize is the size of the entry's data in bytes (what maxUncommittedEntriesSize limits). */
export function payloadSize(e: raftpb.Entry): number {
  return e.data.length;
}

/**
 * limitSize returns the longest prefix of ents whose total entrySize is at most maxSize,
 * but always at least one entry (so a single oversized entry still makes progress).
 */
export function limitSize(ents: raftpb.Entry[], maxSize: number): raftpb.Entry[] {
  if (ents.length === 0 || maxSize === noLimit) return ents;
  let size = entrySize(ents[0]!);
  let limit = 1;
  for (; limit < ents.length; limit++) {
    size += entrySize(ents[limit]!);
    if (size > maxSize) break;
  }
  return limit === ents.length ? ents : ents.slice(0, limit);
}

/** isLocalMsg reports message types that only this node generates for itself. */
export function isLocalMsg(t: raftpb.MessageType): boolean {
  return (
    t === MT.MSG_HUP ||
    t === MT.MSG_BEAT ||
    t === MT.MSG_UNREACHABLE ||
    t === MT.MSG_SNAP_STATUS ||
    t === MT.MSG_CHECK_QUORUM
  );
}

/** isResponseMsg reports message types that answer an earlier request. */
export function isResponseMsg(t: raftpb.MessageType): boolean {
  return (
    t === MT.MSG_APP_RESP ||
    t === MT.MSG_VOTE_RESP ||
    t === MT.MSG_HEARTBEAT_RESP ||
    t === MT.MSG_UNREACHABLE ||
    t === MT.MSG_PRE_VOTE_RESP
  );
}

/** voteRespMsgType maps MsgVote/MsgPreVote to their response type. */
export function voteRespMsgType(t: raftpb.MessageType): raftpb.MessageType {
  switch (t) {
    case MT.MSG_VOTE:
      return MT.MSG_VOTE_RESP;
    case MT.MSG_PRE_VOTE:
      return MT.MSG_PRE_VOTE_RESP;
    default:
      throw new Error(`raft: not a vote message: ${raftpb.messageTypeToJSON(t)}`);
  }
}

/** MessageInit is the subset of Message fields a caller sets; the rest get proto defaults. */
export type MessageInit = Partial<raftpb.Message> & { type: raftpb.MessageType };

/** newMessage builds a complete raftpb.Message with default values for unset fields. */
export function newMessage(m: MessageInit): raftpb.Message {
  return {
    type: m.type,
    to: m.to ?? 0n,
    from: m.from ?? 0n,
    term: m.term ?? 0n,
    logTerm: m.logTerm ?? 0n,
    index: m.index ?? 0n,
    entries: m.entries ?? [],
    commit: m.commit ?? 0n,
    snapshot: m.snapshot,
    reject: m.reject ?? false,
    rejectHint: m.rejectHint ?? 0n,
    context: m.context ?? EMPTY_BUFFER,
  };
}

/** newEntry builds a complete raftpb.Entry. */
export function newEntry(e: Partial<raftpb.Entry>): raftpb.Entry {
  return {
    term: e.term ?? 0n,
    index: e.index ?? 0n,
    type: e.type ?? raftpb.EntryType.ENTRY_NORMAL,
    data: e.data ?? EMPTY_BUFFER,
  };
}

/** emptyConfState returns a ConfState with no members. */
export function emptyConfState(): raftpb.ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** emptySnapshot returns the zero snapshot (index 0, term 0, empty membership). */
export function emptySnapshot(): raftpb.Snapshot {
  return { data: EMPTY_BUFFER, metadata: { confState: emptyConfState(), index: 0n, term: 0n } };
}

/** snapIndex is the index a snapshot covers (0 for an empty snapshot). */
export function snapIndex(s: raftpb.Snapshot | undefined): bigint {
  return s?.metadata?.index ?? 0n;
}

/** snapTerm is the term of the last entry a snapshot covers. */
export function snapTerm(s: raftpb.Snapshot | undefined): bigint {
  return s?.metadata?.term ?? 0n;
}

/** isEmptySnap reports whether s covers no entries. */
export function isEmptySnap(s: raftpb.Snapshot | undefined): boolean {
  return snapIndex(s) === 0n;
}

/** emptyHardState is the zero HardState. */
export function emptyHardState(): raftpb.HardState {
  return { term: 0n, vote: 0n, commit: 0n };
}

/** isEmptyHardState reports whether hs is the zero HardState. */
export function isEmptyHardState(hs: raftpb.HardState): boolean {
  return hs.term === 0n && hs.vote === 0n && hs.commit === 0n;
}

export function hardStateEqual(a: raftpb.HardState, b: raftpb.HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * mustSync reports whether the Ready carrying hs (previously prev) and entsnum entries must be
 * fsynced before messages are sent: new entries, a new term or a new vote must be durable.
 * A commit-only change need not be.
 */
export function mustSync(hs: raftpb.HardState, prev: raftpb.HardState, entsnum: number): boolean {
  return entsnum !== 0 || hs.vote !== prev.vote || hs.term !== prev.term;
}

/** isConfChangeEntry reports entry types that carry a raftpb.ConfChange. */
export function isConfChangeEntry(e: raftpb.Entry): boolean {
  return (
    e.type === raftpb.EntryType.ENTRY_CONF_CHANGE || e.type === raftpb.EntryType.ENTRY_CONF_CHANGE_V2
  );
}

/** bufferKey turns a request context into a Map key (latin1 preserves every byte). */
export function bufferKey(b: Buffer): string {
  return b.toString("latin1");
}
