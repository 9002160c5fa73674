import { AuthError, type AuthStore } from "@etcd-ts/auth";
import type { etcdserverpb } from "@etcd-ts/proto";
import type { AuthRequest, RequestContext } from "./applier.js";

/**
 * TokenAssigner gives out the token of an applied Authenticate: a simple token from the
 * proposer's random part and the entry's index (every member records it), or a JWT for the
 * user at the auth revision.
 */
export interface TokenAssigner {
  assign(user: string, prefix: string, index: bigint, revision: bigint): string;
}

/**
 * applyAuthRequest applies one auth request of the log to the auth store (etcd's
 * applierV3backend auth methods) and returns the RPC's response without its header. Every
 * change advances the auth revision; refusals throw AuthError.
 */
export function applyAuthRequest(store: AuthStore, tokens: TokenAssigner, ctx: RequestContext, r: AuthRequest): unknown {
  const header = undefined;
  switch (r.kind) {
    case "authEnable":
      store.authEnable();
      return { header } satisfies etcdserverpb.AuthEnableResponse;
    case "authDisable":
      store.authDisable();
      return { header } satisfies etcdserverpb.AuthDisableResponse;
    case "authenticate": {
      // The password was checked by the proposer; here the user must still exist and have one.
      if (!store.enabled) throw new AuthError("auth_not_enabled");
      const u = store.user(r.req.name);
      if (u === undefined || u.noPassword) throw new AuthError("auth_failed");
      return { header, token: tokens.assign(r.req.name, r.req.simpleToken, ctx.index, store.revision) } satisfies etcdserverpb.AuthenticateResponse;
    }
    case "authUserAdd":
      store.userAdd(r.req.name, Buffer.from(r.req.hashedPassword), r.req.noPassword);
      return { header } satisfies etcdserverpb.AuthUserAddResponse;
    case "authUserDelete":
      store.userDelete(r.req.name);
      return { header } satisfies etcdserverpb.AuthUserDeleteResponse;
    case "authUserChangePassword":
      store.userChangePassword(r.req.name, Buffer.from(r.req.hashedPassword));
      return { header } satisfies etcdserverpb.AuthUserChangePasswordResponse;
    case "authUserGrantRole":
      store.userGrantRole(r.req.user, r.req.role);
      return { header } satisfies etcdserverpb.AuthUserGrantRoleResponse;
    case "authUserGet":
      return { header, roles: store.userGet(r.req.name) } satisfies etcdserverpb.AuthUserGetResponse;
    case "authUserRevokeRole":
      store.userRevokeRole(r.req.name, r.req.role);
      return { header } satisfies etcdserverpb.AuthUserRevokeRoleResponse;
    case "authRoleAdd":
      store.roleAdd(r.req.name);
      return { header } satisfies etcdserverpb.AuthRoleAddResponse;
    case "authRoleGrantPermission":
      store.roleGrantPermission(r.req.name, r.req.perm ?? { permType: 0, key: Buffer.alloc(0), rangeEnd: Buffer.alloc(0) });
      return { header } satisfies etcdserverpb.AuthRoleGrantPermissionResponse;
    case "authRoleGet":
      return { header, perm: store.roleGet(r.req.role) } satisfies etcdserverpb.AuthRoleGetResponse;
    case "authRoleRevokePermission":
      store.roleRevokePermission(r.req.role, Buffer.from(r.req.key), Buffer.from(r.req.rangeEnd));
      return { header } satisfies etcdserverpb.AuthRoleRevokePermissionResponse;
    case "authRoleDelete":
      store.roleDelete(r.req.role);
      return { header } satisfies etcdserverpb.AuthRoleDeleteResponse;
    case "authUserList":
      return { header, users: store.userList() } satisfies etcdserverpb.AuthUserListResponse;
    case "authRoleList":
      return { header, roles: store.roleList() } satisfies etcdserverpb.AuthRoleListResponse;
  }
}
