import { raftpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { entryCodec } from "./entry_codec.js";

describe("entryCodec", () => {
  it("round-trips entries, including empty data and 64-bit terms and indexes", () => {
    const cases: raftpb.Entry[] = [
      { term: 1n, index: 1n, type: raftpb.EntryType.ENTRY_NORMAL, data: Buffer.alloc(0) },
      { term: 7n, index: 123456789n, type: raftpb.EntryType.ENTRY_CONF_CHANGE, data: Buffer.from("cc") },
      { term: 2n ** 64n - 1n, index: 2n ** 63n + 5n, type: raftpb.EntryType.ENTRY_NORMAL, data: Buffer.alloc(70_000, 9) },
    ];
    for (const e of cases) expect(entryCodec.decode(entryCodec.encode(e))).toEqual(e);
  });

  it("refuses short bodies and unknown entry types", () => {
    expect(() => entryCodec.decode(Buffer.alloc(16))).toThrow(/shorter than its header/);
    const bad = entryCodec.encode({ term: 1n, index: 1n, type: raftpb.EntryType.ENTRY_NORMAL, data: Buffer.alloc(0) });
    bad[16] = 9;
    expect(() => entryCodec.decode(bad)).toThrow(/unknown entry type/);
  });
});
