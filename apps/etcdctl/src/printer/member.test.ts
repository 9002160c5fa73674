import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { bufferLineReader, type Io } from "../ctl/io.js";
import { GoPanic } from "../ctl/txnparse.js";
import { newPrinter } from "./printer.js";

function capture(): { io: Io; out: () => string } {
  let out = "";
  return {
    io: { out: (d) => void (out += d.toString()), err: () => {}, stdin: bufferLineReader(""), env: [], now: () => new Date(0) },
    out: () => out,
  };
}

const header = etcdserverpb.ResponseHeader.fromPartial({ clusterId: 0xabcn, memberId: 1n, raftTerm: 2n });
const members = [
  etcdserverpb.Member.fromPartial({ ID: 0x1fn, name: "", peerURLs: ["http://a:1", "http://b:2"], isLearner: true }),
];

describe("member printers", () => {
  it("pads IDs to 16 columns in simple output, as Go's %16x", () => {
    const c = capture();
    newPrinter("simple", false, c.io)!.memberRemove(0x1fn, etcdserverpb.MemberRemoveResponse.fromPartial({ header, members }));
    expect(c.out()).toBe("Member               1f removed from cluster              abc\n");
  });

  it("lists an unstarted learner with joined peer URLs", () => {
    const c = capture();
    newPrinter("simple", false, c.io)!.memberList(etcdserverpb.MemberListResponse.fromPartial({ header, members }));
    expect(c.out()).toBe("1f, unstarted, , http://a:1,http://b:2, , true\n");
  });

  it("panics for member promote in every format but simple, as etcdctl 3.4 does", () => {
    const r = etcdserverpb.MemberPromoteResponse.fromPartial({ header, members });
    for (const w of ["json", "fields", "table", "protobuf"]) {
      expect(() => newPrinter(w, false, capture().io)!.memberPromote(1n, r)).toThrow(GoPanic);
    }
    const c = capture();
    newPrinter("simple", false, c.io)!.memberPromote(0x1fn, r);
    expect(c.out()).toBe("Member               1f promoted in cluster              abc\n");
  });
});
