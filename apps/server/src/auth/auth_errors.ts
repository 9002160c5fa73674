import { status as Status } from "@grpc/grpc-js";
import type { AuthError, AuthErrorCode } from "@etcd-ts/auth";
import { RpcError } from "../errors.js";

const e = (code: Status, msg: string): RpcError => new RpcError(code, msg);

/** AUTH_ERRORS are etcd's gRPC errors for the auth store's refusals (rpctypes, v3rpc's toGRPCError). */
export const AUTH_ERRORS: Partial<Record<AuthErrorCode, RpcError>> = {
  root_user_not_exist: e(Status.FAILED_PRECONDITION, "etcdserver: root user does not exist"),
  root_role_not_exist: e(Status.FAILED_PRECONDITION, "etcdserver: root user does not have root role"),
  user_already_exist: e(Status.FAILED_PRECONDITION, "etcdserver: user name already exists"),
  user_empty: e(Status.INVALID_ARGUMENT, "etcdserver: user name is empty"),
  user_not_found: e(Status.FAILED_PRECONDITION, "etcdserver: user name not found"),
  role_already_exist: e(Status.FAILED_PRECONDITION, "etcdserver: role name already exists"),
  role_not_found: e(Status.FAILED_PRECONDITION, "etcdserver: role name not found"),
  role_empty: e(Status.INVALID_ARGUMENT, "etcdserver: role name is empty"),
  auth_failed: e(Status.INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password"),
  permission_denied: e(Status.PERMISSION_DENIED, "etcdserver: permission denied"),
  role_not_granted: e(Status.FAILED_PRECONDITION, "etcdserver: role is not granted to the user"),
  permission_not_granted: e(Status.FAILED_PRECONDITION, "etcdserver: permission is not granted to the role"),
  auth_not_enabled: e(Status.FAILED_PRECONDITION, "etcdserver: authentication is not enabled"),
  invalid_auth_token: e(Status.UNAUTHENTICATED, "etcdserver: invalid auth token"),
  invalid_auth_mgmt: e(Status.INVALID_ARGUMENT, "etcdserver: invalid auth management"),
  auth_old_revision: e(Status.INVALID_ARGUMENT, "etcdserver: revision of auth store is old"),
};

/**
 * authError is the gRPC error etcd answers for an auth store refusal. Refusals etcd has no
 * gRPC error for (a password given for a no-password user) go out as Unknown with the auth
 * package's text, as grpc-go sends an unmapped error.
 */
export function authError(err: AuthError): RpcError {
  return AUTH_ERRORS[err.code] ?? new RpcError(Status.UNKNOWN, err.message);
}
