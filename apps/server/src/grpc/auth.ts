import { AuthError, checkPassword, hashPassword, type AuthInfo } from "@etcd-ts/auth";
import type { etcdserverpb } from "@etcd-ts/proto";
import type { CallContext, Interceptor, ServiceImplementation } from "@etcd-ts/grpc-server";
import { authInfoFromToken } from "../auth/credentials.js";
import type { EtcdServer } from "../etcd_server.js";
import { NO_AUTH } from "../etcd_server.js";
import { Errors } from "../errors.js";

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
    if (UNCHECKED.has(ctx.method)) {
      await next();
      return;
    }
    const token = tokenOf(ctx);
    if (token !== undefined) {
      ctx.values.set(AUTH_INFO, await authInfoFromToken(s, token));
    } else {
      const user = certUser(ctx, clientCertAuth);
      if (user !== undefined) ctx.values.set(AUTH_INFO, { user, revision: s.auth.revision });
    }
    await next();
  };
}

/**
 * UNCHECKED are the calls etcd 3.4 serves without looking at their credentials: a stale
 * token must not stop a client from logging in again, reading the status or keeping its
 * leases alive. Watch resolves its credentials at each create (see the watch service), and
 * LeaseTimeToLive only when it answers keys (see credentialsOf). Lock and Election resolve
 * them at each of their operations, as etcd's in-process client does (so a bad token is
 * reported as those services report every error; see grpc/recipe.ts).
 */
const UNCHECKED = new Set([
  "/etcdserverpb.Auth/Authenticate",
  "/etcdserverpb.Auth/AuthStatus",
  "/etcdserverpb.Maintenance/Status",
  "/etcdserverpb.Maintenance/MoveLeader",
  "/etcdserverpb.Cluster/MemberList",
  "/etcdserverpb.Lease/LeaseKeepAlive",
  "/etcdserverpb.Lease/LeaseLeases",
  "/etcdserverpb.Lease/LeaseTimeToLive",
  "/etcdserverpb.Watch/Watch",
  "/v3lockpb.Lock/Lock",
  "/v3lockpb.Lock/Unlock",
  "/v3electionpb.Election/Campaign",
  "/v3electionpb.Election/Proclaim",
  "/v3electionpb.Election/Leader",
  "/v3electionpb.Election/Observe",
  "/v3electionpb.Election/Resign",
]);

/** tokenOf is the token a call carries: gRPC metadata "token", or "authorization" (the JSON gateway's). */
export function tokenOf(ctx: CallContext): string | undefined {
  return ctx.metadata.get("token") ?? ctx.metadata.get("authorization");
}

/**
 * certUser is the user a call's verified client certificate names with --client-cert-auth
 * (its common name), or undefined.
 */
function certUser(ctx: CallContext, clientCertAuth: boolean): string | undefined {
  if (!clientCertAuth || ctx.metadata.get("grpcgateway-accept") !== undefined) return undefined;
  const cn = ctx.peerCertificate?.subject?.CN;
  const user = Array.isArray(cn) ? cn[cn.length - 1] : cn;
  return typeof user === "string" && user !== "" ? user : undefined;
}

/**
 * credentialsOf resolves, now, who a call runs as (for the calls UNCHECKED leaves alone):
 * its token, else its certificate's user, else no user. A bad token throws.
 */
export async function credentialsOf(s: EtcdServer, ctx: CallContext, clientCertAuth: boolean): Promise<AuthInfo> {
  const token = tokenOf(ctx);
  if (token !== undefined) return authInfoFromToken(s, token);
  const user = certUser(ctx, clientCertAuth);
  return user === undefined ? NO_AUTH : { user, revision: s.auth.revision };
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
  // As etcd: the user, its hash and whether auth is on are read after a linearizable barrier.
  await s.readBarrier();
  for (let i = 0; i < AUTHENTICATE_ATTEMPTS; i++) {
    if (!s.auth.enabled) throw new AuthError("auth_not_enabled");
    const u = s.auth.user(r.name);
    if (u === undefined) throw new AuthError("auth_failed");
    if (u.noPassword) throw new AuthError("no_password_user");
    const checked = s.auth.revision;
    if (!(await checkPassword(r.password, u.passwordHash))) throw new AuthError("auth_failed");
    const resp = await s.proposeAuth("authenticate", { name: r.name, simpleToken: s.tokens.prefix() }, NO_AUTH);
    if (checked === s.auth.revision) return resp;
  }
  // The auth store kept changing while the password was checked: no token checked against a
  // past state is handed out.
  throw Errors.timeout;
}
