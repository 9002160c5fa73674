import { prefixEnd } from "@etcd-ts/client";
import { authpb, type etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import type { AuthPrinter } from "./auth.js";

const NUL = Buffer.from([0]);

/** SimpleAuthPrinter is etcdctl's default output for the user and role commands; keys are printed raw. */
export class SimpleAuthPrinter implements AuthPrinter {
  private readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  private bytes(...parts: Array<string | Uint8Array>): void {
    this.io.out(Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p)))));
  }

  roleAdd(role: string): void {
    this.io.out(`Role ${role} created\n`);
  }

  /** roleGet lists the read, then the write permissions: a key, or a range with its prefix when it is one. */
  roleGet(role: string, r: etcdserverpb.AuthRoleGetResponse): void {
    this.io.out(`Role ${role}\nKV Read:\n`);
    const one = (p: authpb.Permission): void => {
      if (p.rangeEnd.length === 0) {
        this.bytes("\t", p.key, "\n");
        return;
      }
      if (!Buffer.from(p.rangeEnd).equals(NUL)) this.bytes("\t[", p.key, ", ", p.rangeEnd, ")");
      else this.bytes("\t[", p.key, ", <open ended>");
      if (prefixEnd(p.key).equals(p.rangeEnd)) this.bytes(" (prefix ", p.key, ")");
      this.io.out("\n");
    };
    const { READ, WRITE, READWRITE } = authpb.Permission_Type;
    for (const p of r.perm) if (p.permType === READ || p.permType === READWRITE) one(p);
    this.io.out("KV Write:\n");
    for (const p of r.perm) if (p.permType === WRITE || p.permType === READWRITE) one(p);
  }

  roleDelete(role: string): void {
    this.io.out(`Role ${role} deleted\n`);
  }

  roleList(r: etcdserverpb.AuthRoleListResponse): void {
    for (const role of r.roles) this.io.out(`${role}\n`);
  }

  roleGrantPermission(role: string): void {
    this.io.out(`Role ${role} updated\n`);
  }

  roleRevokePermission(role: string, key: string, end: Buffer): void {
    if (end.length === 0) this.io.out(`Permission of key ${key} is revoked from role ${role}\n`);
    else if (!end.equals(NUL)) this.bytes(`Permission of range [${key}, `, end, `) is revoked from role ${role}\n`);
    else this.io.out(`Permission of range [${key}, <open ended> is revoked from role ${role}\n`);
  }

  userAdd(user: string): void {
    this.io.out(`User ${user} created\n`);
  }

  userGet(user: string, r: etcdserverpb.AuthUserGetResponse): void {
    this.io.out(`User: ${user}\nRoles:${r.roles.map((x) => ` ${x}`).join("")}\n`);
  }

  userList(r: etcdserverpb.AuthUserListResponse): void {
    for (const u of r.users) this.io.out(`${u}\n`);
  }

  userChangePassword(): void {
    this.io.out("Password updated\n");
  }

  userGrantRole(user: string, role: string): void {
    this.io.out(`Role ${role} is granted to user ${user}\n`);
  }

  userRevokeRole(user: string, role: string): void {
    this.io.out(`Role ${role} is revoked from user ${user}\n`);
  }

  userDelete(user: string): void {
    this.io.out(`User ${user} deleted\n`);
  }
}
