/**
 * @etcd-ts/auth is etcd's auth store: users (bcrypt password hashes, or none for certificate
 * login) and roles, key permissions merged per user, the root user and role, whether auth is
 * on, and the auth revision that makes stale checks fail; plus the token providers: simple
 * tokens, etcd's JWTs (on node:crypto) and the --auth-token parser. It owns no timers and no
 * sockets: the server applies its changes through raft and wires the tokens.
 */
export { AuthStore, ROOT, AUTH_PREFIX, AUTH_USERS_PREFIX, AUTH_ROLES_PREFIX, type AuthBackend, type AuthInfo, type AuthListener, type UserRecord } from "./store.js";
export { AuthError, type AuthErrorCode } from "./errors.js";
export { RangeSet } from "./range_set.js";
export { hashPassword, checkPassword, BCRYPT_MIN_COST, BCRYPT_MAX_COST, BCRYPT_DEFAULT_COST, MAX_CONCURRENT_BCRYPT, MAX_QUEUED_BCRYPT, PasswordBusy } from "./password.js";
export { SimpleTokens, DEFAULT_TOKEN_TTL_MS, SIMPLE_TOKEN_PREFIX_LENGTH } from "./simple_token.js";
export { JwtTokens, DEFAULT_JWT_CACHE_SIZE } from "./jwt_token.js";
export {
  parseTokenOptions,
  decomposeTokenOptions,
  parseJwtOptions,
  DEFAULT_JWT_TTL_NS,
  JWT_SIGN_METHODS,
  type JwtFamily,
  type JwtMethodSpec,
  type JwtOptions,
  type JwtSignMethod,
  type TokenOptions,
} from "./token_options.js";
export { parseGoDuration } from "./go_duration.js";
