import { authpb, type etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import type { AuthPrinter } from "./auth.js";
import { goQuote } from "./goformat.js";
import { unsupported } from "./printer.js";

type Header = etcdserverpb.ResponseHeader | undefined;

/**
 * FieldsAuthPrinter is `-w fields` for the user and role commands: the header's fields, and
 * the permissions or role names. etcdctl has no fields output for `user get` and `user list`
 * (exit 4 after the call).
 */
export class FieldsAuthPrinter implements AuthPrinter {
  private readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  private hdr(h: Header): void {
    this.io.out(
      `"ClusterID" : ${h?.clusterId ?? 0n}\n"MemberID" : ${h?.memberId ?? 0n}\n` +
        `"Revision" : ${h?.revision ?? 0n}\n"RaftTerm" : ${h?.raftTerm ?? 0n}\n`,
    );
  }

  roleAdd(_role: string, r: { header: Header }): void {
    this.hdr(r.header);
  }

  roleGet(_role: string, r: etcdserverpb.AuthRoleGetResponse): void {
    this.hdr(r.header);
    for (const p of r.perm) {
      const t = authpb.Permission_Type[p.permType] ?? String(p.permType);
      this.io.out(`"PermType" :  ${t}\n"Key" : ${goQuote(p.key)}\n"RangeEnd" : ${goQuote(p.rangeEnd)}\n`);
    }
  }

  roleDelete(_role: string, r: { header: Header }): void {
    this.hdr(r.header);
  }

  roleList(r: etcdserverpb.AuthRoleListResponse): void {
    this.hdr(r.header);
    this.io.out(`"Roles" :${r.roles.map((x) => ` ${goQuote(x)}`).join("")}\n`);
  }

  roleGrantPermission(_role: string, r: { header: Header }): void {
    this.hdr(r.header);
  }

  roleRevokePermission(_role: string, _key: string, _end: Buffer, r: { header: Header }): void {
    this.hdr(r.header);
  }

  userAdd(_user: string, r: { header: Header }): void {
    this.hdr(r.header);
  }

  userGet(): void {
    unsupported("fields");
  }

  userList(): void {
    unsupported("fields");
  }

  userChangePassword(r: { header: Header }): void {
    this.hdr(r.header);
  }

  userGrantRole(_user: string, _role: string, r: { header: Header }): void {
    this.hdr(r.header);
  }

  userRevokeRole(_user: string, _role: string, r: { header: Header }): void {
    this.hdr(r.header);
  }

  userDelete(_user: string, r: { header: Header }): void {
    this.hdr(r.header);
  }
}
