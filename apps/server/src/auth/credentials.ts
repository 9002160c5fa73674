import { AuthError, type AuthInfo } from "@etcd-ts/auth";
import type { EtcdServer } from "../etcd_server.js";
import { NO_AUTH } from "../etcd_server.js";

/**
 * authInfoFromToken resolves the token a call carries (gRPC metadata "token", or the
 * gateway's "authorization") to who it runs as (see ServerTokens.lookup). A simple token
 * is "<letters>.<raft index>": one whose index this member has not applied yet is looked up
 * after a read barrier (the client may have authenticated through another member). An
 * unknown, expired or forged token fails with "etcdserver: invalid auth token". No token:
 * no user (auth revision 0).
 */
export async function authInfoFromToken(s: EtcdServer, token: string | undefined): Promise<AuthInfo> {
  if (token === undefined) return NO_AUTH;
  // A known token needs no wait (the common case: no parsing on the request path).
  let info = s.tokens.lookup(token, s.auth.revision);
  if (info === undefined) {
    const index = s.tokens.waitIndex(token);
    if (index !== undefined && index > s.appliedIndex) {
      await s.readBarrier();
      info = s.tokens.lookup(token, s.auth.revision);
    }
  }
  if (info === undefined) throw new AuthError("invalid_auth_token");
  return info;
}
