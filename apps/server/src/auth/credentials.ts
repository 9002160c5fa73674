import { AuthError, type AuthInfo } from "@etcd-ts/auth";
import type { EtcdServer } from "../etcd_server.js";
import { NO_AUTH } from "../etcd_server.js";

/**
 * authInfoFromToken resolves the token a call carries (gRPC metadata "token", or the
 * gateway's "authorization") to who it runs as, checked at the current auth revision, as
 * etcd's simple token provider does: a token is "<letters>.<raft index>"; one whose index
 * this member has not applied yet is looked up after a read barrier (the client may have
 * authenticated through another member); an unknown or expired token fails with
 * "etcdserver: invalid auth token". No token: no user (auth revision 0).
 */
export async function authInfoFromToken(s: EtcdServer, token: string | undefined): Promise<AuthInfo> {
  if (token === undefined) return NO_AUTH;
  const parts = token.split(".");
  if (parts.length !== 2 || !/^\d+$/.test(parts[1] as string)) throw new AuthError("invalid_auth_token");
  const index = BigInt(parts[1] as string);
  if (index > s.appliedIndex) await s.readBarrier();
  const user = s.tokens.user(token);
  if (user === undefined) throw new AuthError("invalid_auth_token");
  return { user, revision: s.auth.revision };
}
