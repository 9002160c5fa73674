import { AuthError, checkPassword, hashPassword, type AuthInfo } from "@etcd-ts/auth";
import type { etcdserverpb } from "@etcd-ts/proto";
import type { CallContext, Interceptor, ServiceImplementation } from "@etcd-ts/grpc-server";
import { authInfoFromToken } from "../auth/credentials.js";
import type { EtcdServer } from "../etcd_server.js";
import { NO_AUTH } from "../etcd_server.js";

const AUTH_INFO = Symbol("etcd-ts.authInfo");

/**
 * authInterceptor resolves, once per call, who the call runs as (see authInfoFromToken) from
 * its "token" metadata (or "authorization", which the JSON gateway sends), and keeps it for
 * the handlers (authOf). A bad token fails the call with "etcdserver: invalid auth token".
 * Without a token, and with --client-cert-auth (`clientCertAuth`), the common name of the
 * client's verified certificate is the user, as etcd's AuthInfoFromTLS makes it (not for
 * calls the JSON gateway relays, which carry no client certificate).
 */
export function authInterceptor(s: EtcdServer, clientCertAuth: boolean): Interceptor {
  return async (ctx, next) => {
    const token = ctx.metadata.get("token") ?? ctx.metadata.get("authorization");
    if (token !== undefined) {
      ctx.values.set(AUTH_INFO, await authInfoFromToken(s, token));
    } else if (clientCertAuth) {
      const cn = ctx.peerCertificate?.subject?.CN;
      const user = Array.isArray(cn) ? cn[0] : cn;
      if (typeof user === "string" && user !== "" && ctx.metadata.get("grpcgateway-accept") === undefined) {
        ctx.values.set(AUTH_INFO, { user, revision: s.auth.revision });
      }
    }
    await next();
  };
}

/** authOf is who a call runs as (no user when it carried no credentials). */
export function authOf(ctx: CallContext): AuthInfo {
  return (ctx.values.get(AUTH_INFO) as AuthInfo | undefined) ?? NO_AUTH;
}

/** AUTHENTICATE_ATTEMPTS bounds Authenticate's retries while the auth store keeps changing under it. */
const AUTHENTICATE_ATTEMPTS = 5;

/**
 * authService implements etcdserverpb.Auth on an EtcdServer. Every call goes through raft,
 * reads included, as in etcd. Passwords are hashed and checked here, on the thread pool,
 * not at apply: UserAdd and UserChangePassword propose the hash (so every member stores the
 * same one); Authenticate checks the password, then proposes the token's random part.
 * Admin-only calls are refused before a password is hashed.
 */
export function authService(s: EtcdServer): ServiceImplementation<typeof etcdserverpb.AuthService> {
  return {
    authEnable: (_r, call) => s.proposeAuth("authEnable", {}, authOf(call)),
    authDisable: (_r, call) => s.proposeAuth("authDisable", {}, authOf(call)),
    authStatus: async () => ({ header: s.header(s.kv.currentRevision), enabled: s.auth.enabled, authRevision: s.auth.revision }),
    authenticate: (r) => authenticate(s, r),
    userAdd: async (r, call) => {
      const ai = authOf(call);
      s.auth.isAdminPermitted(ai);
      const noPassword = r.options?.noPassword ?? false;
      const hashedPassword = noPassword ? Buffer.alloc(0) : await hashPassword(r.password, s.bcryptCost);
      return s.proposeAuth("authUserAdd", { name: r.name, hashedPassword, noPassword }, ai);
    },
    userGet: (r, call) => s.proposeAuth("authUserGet", r, authOf(call)),
    userList: (r, call) => s.proposeAuth("authUserList", r, authOf(call)),
    userDelete: (r, call) => s.proposeAuth("authUserDelete", r, authOf(call)),
    userChangePassword: async (r, call) => {
      const ai = authOf(call);
      s.auth.isAdminPermitted(ai);
      const hashedPassword = await hashPassword(r.password, s.bcryptCost);
      return s.proposeAuth("authUserChangePassword", { name: r.name, hashedPassword }, ai);
    },
    userGrantRole: (r, call) => s.proposeAuth("authUserGrantRole", r, authOf(call)),
    userRevokeRole: (r, call) => s.proposeAuth("authUserRevokeRole", r, authOf(call)),
    roleAdd: (r, call) => s.proposeAuth("authRoleAdd", r, authOf(call)),
    roleGet: (r, call) => s.proposeAuth("authRoleGet", r, authOf(call)),
    roleList: (r, call) => s.proposeAuth("authRoleList", r, authOf(call)),
    roleDelete: (r, call) => s.proposeAuth("authRoleDelete", r, authOf(call)),
    roleGrantPermission: (r, call) => s.proposeAuth("authRoleGrantPermission", r, authOf(call)),
    roleRevokePermission: (r, call) => s.proposeAuth("authRoleRevokePermission", r, authOf(call)),
  };
}

/**
 * authenticate checks the password against the user's hash (etcd's CheckPassword), then
 * proposes the token; if the auth store changed while the password was checked (the
 * password may have changed), it checks again, as etcd does.
 */
async function authenticate(s: EtcdServer, r: etcdserverpb.AuthenticateRequest): Promise<etcdserverpb.AuthenticateResponse> {
  let resp: etcdserverpb.AuthenticateResponse | undefined;
  for (let i = 0; i < AUTHENTICATE_ATTEMPTS; i++) {
    if (!s.auth.enabled) throw new AuthError("auth_not_enabled");
    const u = s.auth.user(r.name);
    if (u === undefined) throw new AuthError("auth_failed");
    if (u.noPassword) throw new AuthError("no_password_user");
    const checked = s.auth.revision;
    if (!(await checkPassword(r.password, u.passwordHash))) throw new AuthError("auth_failed");
    resp = await s.proposeAuth("authenticate", { name: r.name, simpleToken: s.tokens.prefix() }, NO_AUTH);
    if (checked === s.auth.revision) return resp;
  }
  return resp as etcdserverpb.AuthenticateResponse;
}
