import type { etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import { FieldsAuthPrinter } from "./auth_fields.js";
import { JSONAuthPrinter } from "./auth_json.js";
import { ProtobufAuthPrinter } from "./auth_protobuf.js";
import { SimpleAuthPrinter } from "./auth_simple.js";
import { unsupported } from "./printer.js";

/** AuthPrinter renders the results of the user and role commands in one output format (-w). */
export interface AuthPrinter {
  roleAdd(role: string, r: etcdserverpb.AuthRoleAddResponse): void;
  roleGet(role: string, r: etcdserverpb.AuthRoleGetResponse): void;
  roleDelete(role: string, r: etcdserverpb.AuthRoleDeleteResponse): void;
  roleList(r: etcdserverpb.AuthRoleListResponse): void;
  roleGrantPermission(role: string, r: etcdserverpb.AuthRoleGrantPermissionResponse): void;
  /** roleRevokePermission: key is as given on the command line, end the range end sent ("" for one key). */
  roleRevokePermission(role: string, key: string, end: Buffer, r: etcdserverpb.AuthRoleRevokePermissionResponse): void;
  userAdd(user: string, r: etcdserverpb.AuthUserAddResponse): void;
  userGet(user: string, r: etcdserverpb.AuthUserGetResponse): void;
  userList(r: etcdserverpb.AuthUserListResponse): void;
  userChangePassword(r: etcdserverpb.AuthUserChangePasswordResponse): void;
  userGrantRole(user: string, role: string, r: etcdserverpb.AuthUserGrantRoleResponse): void;
  userRevokeRole(user: string, role: string, r: etcdserverpb.AuthUserRevokeRoleResponse): void;
  userDelete(user: string, r: etcdserverpb.AuthUserDeleteResponse): void;
}

/** TableAuthPrinter is `-w table`: etcdctl has no table for any auth result (exit 4 after the call). */
export class TableAuthPrinter implements AuthPrinter {
  roleAdd(): void {
    unsupported("table");
  }
  roleGet(): void {
    unsupported("table");
  }
  roleDelete(): void {
    unsupported("table");
  }
  roleList(): void {
    unsupported("table");
  }
  roleGrantPermission(): void {
    unsupported("table");
  }
  roleRevokePermission(): void {
    unsupported("table");
  }
  userAdd(): void {
    unsupported("table");
  }
  userGet(): void {
    unsupported("table");
  }
  userList(): void {
    unsupported("table");
  }
  userChangePassword(): void {
    unsupported("table");
  }
  userGrantRole(): void {
    unsupported("table");
  }
  userRevokeRole(): void {
    unsupported("table");
  }
  userDelete(): void {
    unsupported("table");
  }
}

/**
 * newAuthPrinter returns the auth printer for -w format (already checked by initDisplay), or
 * undefined for an unknown one.
 */
export function newAuthPrinter(format: string, io: Io): AuthPrinter | undefined {
  switch (format) {
    case "simple":
      return new SimpleAuthPrinter(io);
    case "fields":
      return new FieldsAuthPrinter(io);
    case "json":
      return new JSONAuthPrinter(io);
    case "protobuf":
      return new ProtobufAuthPrinter(io);
    case "table":
      return new TableAuthPrinter();
    default:
      return undefined;
  }
}
