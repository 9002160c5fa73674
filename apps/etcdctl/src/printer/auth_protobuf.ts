import { etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import type { AuthPrinter } from "./auth.js";

/** Encoder is the encode function of a ts-proto message type. */
interface Encoder<T> {
  encode(m: T): { finish(): Uint8Array };
}

/** ProtobufAuthPrinter is `-w protobuf` for the user and role commands: the response's wire encoding, raw. */
export class ProtobufAuthPrinter implements AuthPrinter {
  private readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  private print<T>(type: Encoder<T>, r: T): void {
    this.io.out(Buffer.from(type.encode(r).finish()));
  }

  roleAdd(_role: string, r: etcdserverpb.AuthRoleAddResponse): void {
    this.print(etcdserverpb.AuthRoleAddResponse, r);
  }

  roleGet(_role: string, r: etcdserverpb.AuthRoleGetResponse): void {
    this.print(etcdserverpb.AuthRoleGetResponse, r);
  }

  roleDelete(_role: string, r: etcdserverpb.AuthRoleDeleteResponse): void {
    this.print(etcdserverpb.AuthRoleDeleteResponse, r);
  }

  roleList(r: etcdserverpb.AuthRoleListResponse): void {
    this.print(etcdserverpb.AuthRoleListResponse, r);
  }

  roleGrantPermission(_role: string, r: etcdserverpb.AuthRoleGrantPermissionResponse): void {
    this.print(etcdserverpb.AuthRoleGrantPermissionResponse, r);
  }

  roleRevokePermission(_role: string, _key: string, _end: Buffer, r: etcdserverpb.AuthRoleRevokePermissionResponse): void {
    this.print(etcdserverpb.AuthRoleRevokePermissionResponse, r);
  }

  userAdd(_user: string, r: etcdserverpb.AuthUserAddResponse): void {
    this.print(etcdserverpb.AuthUserAddResponse, r);
  }

  userGet(_user: string, r: etcdserverpb.AuthUserGetResponse): void {
    this.print(etcdserverpb.AuthUserGetResponse, r);
  }

  userList(r: etcdserverpb.AuthUserListResponse): void {
    this.print(etcdserverpb.AuthUserListResponse, r);
  }

  userChangePassword(r: etcdserverpb.AuthUserChangePasswordResponse): void {
    this.print(etcdserverpb.AuthUserChangePasswordResponse, r);
  }

  userGrantRole(_user: string, _role: string, r: etcdserverpb.AuthUserGrantRoleResponse): void {
    this.print(etcdserverpb.AuthUserGrantRoleResponse, r);
  }

  userRevokeRole(_user: string, _role: string, r: etcdserverpb.AuthUserRevokeRoleResponse): void {
    this.print(etcdserverpb.AuthUserRevokeRoleResponse, r);
  }

  userDelete(_user: string, r: etcdserverpb.AuthUserDeleteResponse): void {
    this.print(etcdserverpb.AuthUserDeleteResponse, r);
  }
}
