import { raftpb } from "@etcd-ts/proto";

/**
 * entry_codec.ts is the WAL's own layout of a raft entry record body, cheaper than protobuf
 * on the write path: [term u64 BE][index u64 BE][type u8][data...]. The record framing
 * (length, CRCs) around it is record.ts's.
 */
export const ENTRY_HEADER_SIZE = 17;

/** entryCodec encodes and decodes entry bodies; decode throws on a body too short to hold the header. */
export const entryCodec = {
  encode(e: raftpb.Entry): Buffer {
    const out = Buffer.allocUnsafe(ENTRY_HEADER_SIZE + e.data.length);
    out.writeBigUInt64BE(e.term, 0);
    out.writeBigUInt64BE(e.index, 8);
    out[16] = e.type;
    out.set(e.data, ENTRY_HEADER_SIZE);
    return out;
  },
  decode(body: Uint8Array): raftpb.Entry {
    if (body.length < ENTRY_HEADER_SIZE) throw new Error(`entry body of ${body.length} bytes is shorter than its header`);
    const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const type = b[16] as number;
    if (type > raftpb.EntryType.ENTRY_CONF_CHANGE_V2) throw new Error(`unknown entry type ${type}`);
    return {
      term: b.readBigUInt64BE(0),
      index: b.readBigUInt64BE(8),
      type,
      data: Buffer.from(b.subarray(ENTRY_HEADER_SIZE)),
    };
  },
};
