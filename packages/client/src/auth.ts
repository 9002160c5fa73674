import { authpb, etcdserverpb } from "@etcd-ts/proto";
import type { Balancer, RetryPolicy, UnaryMethod } from "./balancer.js";
import { toBuffer, type Bytes } from "./bytes.js";
import type { EndpointConnection } from "./connection.js";
import type { CallOptions } from "./options.js";

/** PermissionType names authpb.Permission_Type: "read", "write" or "readwrite". */
export type PermissionType = "read" | "write" | "readwrite";

/** Permission is a key permission to grant: a single key, or [key, rangeEnd) ("\0": every key >= key). */
export interface Permission {
  permType: PermissionType | authpb.Permission_Type;
  key: Bytes;
  rangeEnd?: Bytes;
}

/** permissionType parses "read", "write" or "readwrite" in any case, as etcd's Go client; undefined otherwise. */
export function permissionType(s: string): authpb.Permission_Type | undefined {
  switch (s.toUpperCase()) {
    case "READ":
      return authpb.Permission_Type.READ;
    case "WRITE":
      return authpb.Permission_Type.WRITE;
    case "READWRITE":
      return authpb.Permission_Type.READWRITE;
    default:
      return undefined;
  }
}

function toPermType(t: PermissionType | authpb.Permission_Type): authpb.Permission_Type {
  if (typeof t === "number") return t;
  const v = permissionType(t);
  if (v === undefined) throw new Error(`client: invalid permission type: ${String(t)}`);
  return v;
}

/**
 * Auth wraps etcdserverpb.Auth: enabling authentication, users, roles and their key
 * permissions. UserGet, UserList, RoleGet and RoleList fail over like reads; the others only
 * while no server has received them, as in etcd's Go client. Calls carry the client's auth
 * token when it has credentials (see ClientOptions).
 */
export class Auth {
  private readonly balancer: Balancer;

  constructor(balancer: Balancer) {
    this.balancer = balancer;
  }

  private call<Req, Res>(
    pick: (a: etcdserverpb.AuthClient) => UnaryMethod<Req, Res>,
    req: Req,
    policy: RetryPolicy,
    opts: CallOptions | undefined,
  ): Promise<Res> {
    return this.balancer.unary((c: EndpointConnection) => pick(c.auth), req, policy, opts);
  }

  /** authEnable turns authentication on (the root user must exist and have the root role). */
  authEnable(opts?: CallOptions): Promise<etcdserverpb.AuthEnableResponse> {
    return this.call((a) => a.authEnable.bind(a), etcdserverpb.AuthEnableRequest.create(), "nonRepeatable", opts);
  }

  authDisable(opts?: CallOptions): Promise<etcdserverpb.AuthDisableResponse> {
    return this.call((a) => a.authDisable.bind(a), etcdserverpb.AuthDisableRequest.create(), "nonRepeatable", opts);
  }

  /**
   * authenticate asks for a token for name and password and returns it; it does not change
   * the token the client's own calls carry.
   */
  authenticate(name: string, password: string, opts?: CallOptions): Promise<etcdserverpb.AuthenticateResponse> {
    return this.call(
      (a) => a.authenticate.bind(a),
      etcdserverpb.AuthenticateRequest.fromPartial({ name, password }),
      "nonRepeatable",
      opts,
    );
  }

  /** userAdd adds user name; with noPassword the user can only authenticate by TLS common name. */
  userAdd(
    name: string,
    password: string,
    options: { noPassword?: boolean } = {},
    opts?: CallOptions,
  ): Promise<etcdserverpb.AuthUserAddResponse> {
    const req = etcdserverpb.AuthUserAddRequest.fromPartial({
      name,
      password,
      options: { noPassword: options.noPassword === true },
    });
    return this.call((a) => a.userAdd.bind(a), req, "nonRepeatable", opts);
  }

  userGet(name: string, opts?: CallOptions): Promise<etcdserverpb.AuthUserGetResponse> {
    return this.call((a) => a.userGet.bind(a), etcdserverpb.AuthUserGetRequest.fromPartial({ name }), "repeatable", opts);
  }

  userList(opts?: CallOptions): Promise<etcdserverpb.AuthUserListResponse> {
    return this.call((a) => a.userList.bind(a), etcdserverpb.AuthUserListRequest.create(), "repeatable", opts);
  }

  userDelete(name: string, opts?: CallOptions): Promise<etcdserverpb.AuthUserDeleteResponse> {
    return this.call(
      (a) => a.userDelete.bind(a),
      etcdserverpb.AuthUserDeleteRequest.fromPartial({ name }),
      "nonRepeatable",
      opts,
    );
  }

  userChangePassword(name: string, password: string, opts?: CallOptions): Promise<etcdserverpb.AuthUserChangePasswordResponse> {
    return this.call(
      (a) => a.userChangePassword.bind(a),
      etcdserverpb.AuthUserChangePasswordRequest.fromPartial({ name, password }),
      "nonRepeatable",
      opts,
    );
  }

  userGrantRole(user: string, role: string, opts?: CallOptions): Promise<etcdserverpb.AuthUserGrantRoleResponse> {
    return this.call(
      (a) => a.userGrantRole.bind(a),
      etcdserverpb.AuthUserGrantRoleRequest.fromPartial({ user, role }),
      "nonRepeatable",
      opts,
    );
  }

  userRevokeRole(name: string, role: string, opts?: CallOptions): Promise<etcdserverpb.AuthUserRevokeRoleResponse> {
    return this.call(
      (a) => a.userRevokeRole.bind(a),
      etcdserverpb.AuthUserRevokeRoleRequest.fromPartial({ name, role }),
      "nonRepeatable",
      opts,
    );
  }

  roleAdd(name: string, opts?: CallOptions): Promise<etcdserverpb.AuthRoleAddResponse> {
    return this.call((a) => a.roleAdd.bind(a), etcdserverpb.AuthRoleAddRequest.fromPartial({ name }), "nonRepeatable", opts);
  }

  roleGet(role: string, opts?: CallOptions): Promise<etcdserverpb.AuthRoleGetResponse> {
    return this.call((a) => a.roleGet.bind(a), etcdserverpb.AuthRoleGetRequest.fromPartial({ role }), "repeatable", opts);
  }

  roleList(opts?: CallOptions): Promise<etcdserverpb.AuthRoleListResponse> {
    return this.call((a) => a.roleList.bind(a), etcdserverpb.AuthRoleListRequest.create(), "repeatable", opts);
  }

  roleDelete(role: string, opts?: CallOptions): Promise<etcdserverpb.AuthRoleDeleteResponse> {
    return this.call(
      (a) => a.roleDelete.bind(a),
      etcdserverpb.AuthRoleDeleteRequest.fromPartial({ role }),
      "nonRepeatable",
      opts,
    );
  }

  /** roleGrantPermission grants perm to role name (replacing a permission of the same range). */
  roleGrantPermission(name: string, perm: Permission, opts?: CallOptions): Promise<etcdserverpb.AuthRoleGrantPermissionResponse> {
    const req = etcdserverpb.AuthRoleGrantPermissionRequest.fromPartial({
      name,
      perm: {
        permType: toPermType(perm.permType),
        key: toBuffer(perm.key),
        rangeEnd: perm.rangeEnd === undefined ? Buffer.alloc(0) : toBuffer(perm.rangeEnd),
      },
    });
    return this.call((a) => a.roleGrantPermission.bind(a), req, "nonRepeatable", opts);
  }

  /** roleRevokePermission revokes role's permission of exactly [key, rangeEnd) (or the single key). */
  roleRevokePermission(
    role: string,
    key: Bytes,
    rangeEnd: Bytes = Buffer.alloc(0),
    opts?: CallOptions,
  ): Promise<etcdserverpb.AuthRoleRevokePermissionResponse> {
    const req = etcdserverpb.AuthRoleRevokePermissionRequest.fromPartial({
      role,
      key: toBuffer(key),
      rangeEnd: toBuffer(rangeEnd),
    });
    return this.call((a) => a.roleRevokePermission.bind(a), req, "nonRepeatable", opts);
  }
}
