/** AuthErrorCode names the failures of the auth store (the server maps each to etcd's gRPC error). */
export type AuthErrorCode =
  | "root_user_not_exist"
  | "root_role_not_exist"
  | "user_already_exist"
  | "user_empty"
  | "user_not_found"
  | "role_already_exist"
  | "role_not_found"
  | "role_empty"
  | "auth_failed"
  | "no_password_user"
  | "permission_denied"
  | "role_not_granted"
  | "permission_not_granted"
  | "auth_not_enabled"
  | "auth_old_revision"
  | "invalid_auth_token"
  | "invalid_auth_opts"
  | "invalid_auth_mgmt"
  | "invalid_auth_method"
  | "missing_key"
  | "key_mismatch"
  | "verify_only"
  | "key_must_be_pem"
  | "not_rsa_private_key"
  | "not_rsa_public_key"
  | "not_ec_private_key"
  | "not_ec_public_key"
  | "invalid_key";

/**
 * The messages of etcd's auth package (auth/store.go), for logs and for errors etcd passes
 * through unmapped; the key errors (key_must_be_pem .. invalid_key) are those of golang-jwt,
 * which etcd returns as they are when a JWT key file does not load.
 */
const messages: Record<AuthErrorCode, string> = {
  root_user_not_exist: "auth: root user does not exist",
  root_role_not_exist: "auth: root user does not have root role",
  user_already_exist: "auth: user already exists",
  user_empty: "auth: user name is empty",
  user_not_found: "auth: user not found",
  role_already_exist: "auth: role already exists",
  role_not_found: "auth: role not found",
  role_empty: "auth: role name is empty",
  auth_failed: "auth: authentication failed, invalid user ID or password",
  no_password_user: "auth: authentication failed, password was given for no password user",
  permission_denied: "auth: permission denied",
  role_not_granted: "auth: role is not granted to the user",
  permission_not_granted: "auth: permission is not granted to the role",
  auth_not_enabled: "auth: authentication is not enabled",
  auth_old_revision: "auth: revision in header is old",
  invalid_auth_token: "auth: invalid auth token",
  invalid_auth_opts: "auth: invalid auth options",
  invalid_auth_mgmt: "auth: invalid auth management",
  invalid_auth_method: "auth: invalid auth signature method",
  missing_key: "auth: missing key data",
  key_mismatch: "auth: public and private keys don't match",
  verify_only: "auth: token signing attempted with verify-only key",
  key_must_be_pem: "invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key",
  not_rsa_private_key: "key is not a valid RSA private key",
  not_rsa_public_key: "key is not a valid RSA public key",
  not_ec_private_key: "key is not a valid ECDSA private key",
  not_ec_public_key: "key is not a valid ECDSA public key",
  invalid_key: "key is invalid",
};

/**
 * AuthError is a refusal of the auth store: a request it cannot apply or a check that failed.
 * Its message is etcd's; `cause`, when set, says what underlies it (e.g. the file that could
 * not be read behind "auth: invalid auth options"), for logs.
 */
export class AuthError extends Error {
  readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, options?: { cause?: unknown }) {
    super(messages[code], options);
    this.name = "AuthError";
    this.code = code;
  }
}
