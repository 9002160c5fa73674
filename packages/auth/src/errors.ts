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
  | "invalid_auth_mgmt";

/** The messages of etcd's auth package (auth/store.go), for logs and for errors etcd passes through unmapped. */
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
};

/** AuthError is a refusal of the auth store: a request it cannot apply or a check that failed. */
export class AuthError extends Error {
  readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode) {
    super(messages[code]);
    this.name = "AuthError";
    this.code = code;
  }
}
