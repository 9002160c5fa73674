import type { authpb, etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import type { AuthPrinter } from "./auth.js";
import { goJSONString } from "./goformat.js";
import { headerJSON } from "./json.js";

type Header = etcdserverpb.ResponseHeader | undefined;

/**
 * permissionJSON is encoding/json of an authpb.Permission: permType, key and range_end, each
 * left out when zero; bytes in base64.
 */
export function permissionJSON(p: authpb.Permission): string {
  const parts: string[] = [];
  if (p.permType !== 0) parts.push(`"permType":${p.permType}`);
  if (p.key.length > 0) parts.push(`"key":"${Buffer.from(p.key).toString("base64")}"`);
  if (p.rangeEnd.length > 0) parts.push(`"range_end":"${Buffer.from(p.rangeEnd).toString("base64")}"`);
  return `{${parts.join(",")}}`;
}

/**
 * authJSON is encoding/json of an auth response: its header, then the one list it may carry
 * (under its tag: roles, users or perm), left out when empty.
 */
export function authJSON(header: Header, list?: { tag: string; items: string[] }): string {
  const parts: string[] = [];
  const h = headerJSON(header);
  if (h !== undefined) parts.push(`"header":${h}`);
  if (list !== undefined && list.items.length > 0) parts.push(`"${list.tag}":[${list.items.join(",")}]`);
  return `{${parts.join(",")}}`;
}

const strings = (tag: string, xs: string[]): { tag: string; items: string[] } => ({ tag, items: xs.map((x) => goJSONString(x)) });

/** JSONAuthPrinter is `-w json` for the user and role commands: the whole response, one line. */
export class JSONAuthPrinter implements AuthPrinter {
  private readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  private print(s: string): void {
    this.io.out(s + "\n");
  }

  roleAdd(_role: string, r: { header: Header }): void {
    this.print(authJSON(r.header));
  }

  roleGet(_role: string, r: etcdserverpb.AuthRoleGetResponse): void {
    this.print(authJSON(r.header, { tag: "perm", items: r.perm.map(permissionJSON) }));
  }

  roleDelete(_role: string, r: { header: Header }): void {
    this.print(authJSON(r.header));
  }

  roleList(r: etcdserverpb.AuthRoleListResponse): void {
    this.print(authJSON(r.header, strings("roles", r.roles)));
  }

  roleGrantPermission(_role: string, r: { header: Header }): void {
    this.print(authJSON(r.header));
  }

  roleRevokePermission(_role: string, _key: string, _end: Buffer, r: { header: Header }): void {
    this.print(authJSON(r.header));
  }

  userAdd(_user: string, r: { header: Header }): void {
    this.print(authJSON(r.header));
  }

  userGet(_user: string, r: etcdserverpb.AuthUserGetResponse): void {
    this.print(authJSON(r.header, strings("roles", r.roles)));
  }

  userList(r: etcdserverpb.AuthUserListResponse): void {
    this.print(authJSON(r.header, strings("users", r.users)));
  }

  userChangePassword(r: { header: Header }): void {
    this.print(authJSON(r.header));
  }

  userGrantRole(_user: string, _role: string, r: { header: Header }): void {
    this.print(authJSON(r.header));
  }

  userRevokeRole(_user: string, _role: string, r: { header: Header }): void {
    this.print(authJSON(r.header));
  }

  userDelete(_user: string, r: { header: Header }): void {
    this.print(authJSON(r.header));
  }
}
