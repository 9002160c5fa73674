import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { bufferLineReader, ExitError, type Io } from "../ctl/io.js";
import { goHex016 } from "./goformat.js";
import { newPrinter } from "./printer.js";
import { headerText } from "./protobuf.js";

function capture(): { io: Io; out: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    io: {
      out: (d) => void chunks.push(Buffer.from(d)),
      err: () => {},
      stdin: bufferLineReader(""),
      env: [],
      now: () => new Date(0),
    },
    out: () => Buffer.concat(chunks),
  };
}

const header = etcdserverpb.ResponseHeader.fromPartial({ clusterId: 7n, memberId: 8n, revision: 9n, raftTerm: 2n });

describe("lease and watch printers", () => {
  it("formats IDs as Go's %016x, negative ones included", () => {
    expect(goHex016(0x1234n)).toBe("0000000000001234");
    expect(goHex016(-1n)).toBe("-000000000000001");
    expect(goHex016(0x7fffffffffffffffn)).toBe("7fffffffffffffff");
  });

  it("prints timetolive keys raw in simple output and quoted in fields", () => {
    const r = etcdserverpb.LeaseTimeToLiveResponse.fromPartial({
      header, ID: 0x10n, TTL: 5n, grantedTTL: 10n, keys: [Buffer.from("a b"), Buffer.from([0xff])],
    });
    const s = capture();
    newPrinter("simple", false, s.io)!.timeToLive(r, true);
    expect(s.out()).toEqual(
      Buffer.concat([Buffer.from("lease 0000000000000010 granted with TTL(10s), remaining(5s), attached keys([a b "), Buffer.from([0xff]), Buffer.from("])\n")]),
    );
    const f = capture();
    newPrinter("fields", false, f.io)!.timeToLive(r, true);
    expect(f.out().toString()).toContain('"Key" : "a b"\n"Key" : "\\xff"\n');
    const j = capture();
    newPrinter("json", false, j.io)!.timeToLive(etcdserverpb.LeaseTimeToLiveResponse.fromPartial({ header, ID: 1n, TTL: -1n }), false);
    expect(j.out().toString()).toBe(
      '{"cluster_id":7,"member_id":8,"revision":9,"raft_term":2,"id":1,"ttl":-1,"granted-ttl":0,"keys":null}\n',
    );
  });

  it("prints an expired lease and an empty lease list as etcdctl does", () => {
    const s = capture();
    const p = newPrinter("simple", false, s.io)!;
    p.timeToLive(etcdserverpb.LeaseTimeToLiveResponse.fromPartial({ ID: 0x99n, TTL: -1n, grantedTTL: 0n }), true);
    p.leases(etcdserverpb.LeaseLeasesResponse.fromPartial({ header }));
    expect(s.out().toString()).toBe("lease 0000000000000099 already expired\nfound 0 leases\n");
    const j = capture();
    newPrinter("json", false, j.io)!.leases(etcdserverpb.LeaseLeasesResponse.fromPartial({ header }));
    expect(j.out().toString()).toBe('{"cluster_id":7,"member_id":8,"revision":9,"raft_term":2,"leases":[]}\n');
  });

  it("prints only the header for lease responses in protobuf, and refuses revoke", () => {
    const p = capture();
    newPrinter("protobuf", false, p.io)!.grant(etcdserverpb.LeaseGrantResponse.fromPartial({ header, ID: 5n, TTL: 10n }));
    expect(p.out()).toEqual(Buffer.from(etcdserverpb.ResponseHeader.encode(header).finish()));
    expect(() => newPrinter("protobuf", false, capture().io)!.revoke(5n, { header })).toThrow(ExitError);
    expect(headerText(header)).toBe("cluster_id:7 member_id:8 revision:9 raft_term:2 ");
    expect(headerText(etcdserverpb.ResponseHeader.fromPartial({ revision: 3n }))).toBe("revision:3 ");
  });

  it("prints watch responses with an empty event list and the Go field names in JSON", () => {
    const j = capture();
    newPrinter("json", false, j.io)!.watch(etcdserverpb.WatchResponse.fromPartial({ header: {}, canceled: true, compactRevision: 4n }));
    expect(j.out().toString()).toBe('{"Header":{},"Events":[],"CompactRevision":4,"Canceled":true,"Created":false}\n');
    const s = capture();
    newPrinter("simple", true, s.io)!.watch(
      etcdserverpb.WatchResponse.fromPartial({
        events: [{ type: 1, kv: { key: Buffer.from("k") }, prevKv: { key: Buffer.from("k"), value: Buffer.from("v") } }],
      }),
    );
    expect(s.out().toString()).toBe("DELETE\n\\x6b\n\\x76\n\\x6b\n\n");
  });
});
