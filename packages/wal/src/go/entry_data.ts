import { etcdserverpb } from "@etcd-ts/proto";

/** GoNormalEntryData is what the data of a Go etcd 3.4 normal (EntryNormal) entry holds. */
export type GoNormalEntryData =
  /** empty: no data; raft's entry at the start of a leader's term (Go etcd applies nothing). */
  | { kind: "empty" }
  /** internal: an etcdserverpb.InternalRaftRequest, every v3 request. */
  | { kind: "internal"; request: etcdserverpb.InternalRaftRequest }
  /** v2: a bare etcdserverpb.Request; etcd 3.4 proposes its member attributes, cluster version and v2 API requests this way. */
  | { kind: "v2"; request: etcdserverpb.Request };

/** INTERNAL_VARINT_FIELDS are InternalRaftRequest's varint fields (ID); all its other known fields are messages. */
const INTERNAL_VARINT_FIELDS = new Set([1]);
/** INTERNAL_MESSAGE_FIELDS are InternalRaftRequest's message fields, by number. */
const INTERNAL_MESSAGE_FIELDS = new Set([
  2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 100, 1000, 1011, 1012, 1100, 1101, 1102, 1103, 1104, 1105, 1106, 1107, 1200, 1201, 1202, 1203, 1204,
]);

/** readVarint reads a varint at buf[at..] and returns its value (exact below 2^53) and the offset after it, or undefined when cut short. */
function readVarint(buf: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let mul = 1;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
    mul *= 128;
  }
  return undefined;
}

/**
 * isInternalRaftRequestShaped reports whether data's top-level fields have the wire types
 * InternalRaftRequest declares for them (unknown fields may have any). Go's gogoproto
 * Unmarshal fails on a known field with another wire type, which is how etcd tells a bare
 * v2 Request from an InternalRaftRequest: a Request always carries its field 5 (Dir, a
 * varint), InternalRaftRequest's field 5 is a message. ts-proto's decoders skip such fields
 * instead, so the check is made here.
 */
function isInternalRaftRequestShaped(data: Uint8Array): boolean {
  let at = 0;
  while (at < data.length) {
    const tag = readVarint(data, at);
    if (tag === undefined) return false;
    const field = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    at = tag.next;
    if (field === 0) return false;
    if (INTERNAL_VARINT_FIELDS.has(field) && wireType !== 0) return false;
    if (INTERNAL_MESSAGE_FIELDS.has(field) && wireType !== 2) return false;
    switch (wireType) {
      case 0: {
        const v = readVarint(data, at);
        if (v === undefined) return false;
        at = v.next;
        break;
      }
      case 1:
        at += 8;
        break;
      case 2: {
        const len = readVarint(data, at);
        if (len === undefined) return false;
        at = len.next + len.value;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        return false;
    }
    if (at > data.length) return false;
  }
  return true;
}

/**
 * decodeGoNormalEntryData decodes the data of a Go etcd 3.4 normal entry the way its
 * applyEntryNormal does: empty data is nothing to apply; data that unmarshals as an
 * InternalRaftRequest is one; anything else must be a bare v2 Request. It throws when data
 * is neither (Go etcd panics).
 */
export function decodeGoNormalEntryData(data: Uint8Array): GoNormalEntryData {
  if (data.length === 0) return { kind: "empty" };
  if (isInternalRaftRequestShaped(data)) {
    try {
      return { kind: "internal", request: etcdserverpb.InternalRaftRequest.decode(data) };
    } catch {
      // Not an InternalRaftRequest after all: try a v2 Request, as Go does.
    }
  }
  return { kind: "v2", request: etcdserverpb.Request.decode(data) };
}
