import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { bufferLineReader, ExitError, type Io } from "../ctl/io.js";
import { newAuthPrinter } from "./auth.js";

/**
 * A role whose permissions hold bytes that are not UTF-8, a newline and a quote; the expected
 * outputs are what etcdctl 3.4.23 printed for the same role.
 */
const ROLE = etcdserverpb.AuthRoleGetResponse.fromPartial({
  header: { clusterId: 15118495548433857066n, memberId: 13668033151171901709n, revision: 7n, raftTerm: 2n },
  perm: [
    { permType: 2, key: Buffer.from([0x61, 0xff]), rangeEnd: Buffer.from([0x61, 0xff, 0x00]) },
    { permType: 0, key: Buffer.from('é\n"') },
    { permType: 1, key: Buffer.from([0xfe, 0xff]), rangeEnd: Buffer.from([0xff]) },
  ],
});

function capture(format: string, f: (p: NonNullable<ReturnType<typeof newAuthPrinter>>) => void): Buffer | [number, string | null] {
  const out: Buffer[] = [];
  const io: Io = {
    out: (d) => void out.push(Buffer.from(d)),
    err: () => {},
    stdin: bufferLineReader(""),
    env: [],
    now: () => new Date(0),
  };
  const p = newAuthPrinter(format, io);
  if (p === undefined) throw new Error(`no printer for ${format}`);
  try {
    f(p);
  } catch (e) {
    if (e instanceof ExitError) return [e.code, e.exitMessage];
    throw e;
  }
  return Buffer.concat(out);
}

describe("auth printers", () => {
  it("print a role's permissions byte for byte as etcdctl", () => {
    const simple = Buffer.concat([
      Buffer.from("Role bytes\nKV Read:\n\t[a"),
      Buffer.from([0xff]),
      Buffer.from(", a"),
      Buffer.from([0xff, 0x00]),
      Buffer.from(")\n\t\u00e9\n\"\nKV Write:\n\t[a"),
      Buffer.from([0xff]),
      Buffer.from(", a"),
      Buffer.from([0xff, 0x00]),
      Buffer.from(")\n\t["),
      Buffer.from([0xfe, 0xff]),
      Buffer.from(", "),
      Buffer.from([0xff]),
      Buffer.from(") (prefix "),
      Buffer.from([0xfe, 0xff]),
      Buffer.from(")\n"),
    ]);
    expect(capture("simple", (p) => p.roleGet("bytes", ROLE))).toEqual(simple);
    expect(capture("fields", (p) => p.roleGet("bytes", ROLE)).toString()).toBe(
      '"ClusterID" : 15118495548433857066\n"MemberID" : 13668033151171901709\n"Revision" : 7\n"RaftTerm" : 2\n' +
        '"PermType" :  READWRITE\n"Key" : "a\\xff"\n"RangeEnd" : "a\\xff\\x00"\n' +
        '"PermType" :  READ\n"Key" : "\u00e9\\n\\""\n"RangeEnd" : ""\n' +
        '"PermType" :  WRITE\n"Key" : "\\xfe\\xff"\n"RangeEnd" : "\\xff"\n',
    );
    expect(capture("json", (p) => p.roleGet("bytes", ROLE)).toString()).toBe(
      '{"header":{"cluster_id":15118495548433857066,"member_id":13668033151171901709,"revision":7,"raft_term":2},' +
        '"perm":[{"permType":2,"key":"Yf8=","range_end":"Yf8A"},{"key":"w6kKIg=="},{"permType":1,"key":"/v8=","range_end":"/w=="}]}\n',
    );
    expect((capture("protobuf", (p) => p.roleGet("bytes", ROLE)) as Buffer).toString("hex")).toBe(
      "0a1a08aaf4e5f599f3ebe7d101108df2f48ec1f7a6d7bd0118072002120b0802" +
        "120261ff1a0361ff0012061204c3a90a22120908011202feff1a01ff",
    );
    expect(capture("table", (p) => p.roleGet("bytes", ROLE))).toEqual([4, "table not supported as output format"]);
  });

  it("have no fields output for user get and user list", () => {
    const r = etcdserverpb.AuthUserListResponse.fromPartial({ users: ["a"] });
    expect(capture("fields", (p) => p.userList(r))).toEqual([4, "fields not supported as output format"]);
    expect(capture("simple", (p) => p.userList(r)).toString()).toBe("a\n");
    expect(capture("json", (p) => p.userList(r)).toString()).toBe('{"users":["a"]}\n');
  });

  it("print a revoked range with its end, open-ended or not", () => {
    const r = etcdserverpb.AuthRoleRevokePermissionResponse.create();
    const revoke = (end: Buffer): string =>
      (capture("simple", (p) => p.roleRevokePermission("r", "k", end, r)) as Buffer).toString();
    expect(revoke(Buffer.alloc(0))).toBe("Permission of key k is revoked from role r\n");
    expect(revoke(Buffer.from("l"))).toBe("Permission of range [k, l) is revoked from role r\n");
    expect(revoke(Buffer.from([0]))).toBe("Permission of range [k, <open ended> is revoked from role r\n");
  });
});
