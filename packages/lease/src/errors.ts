/** LeaseErrorCode names the failures the lessor reports to its callers. */
export type LeaseErrorCode = "not_found" | "exists" | "ttl_too_large" | "not_primary";

/** The messages of etcd's lease package (the server maps codes to etcdserver's gRPC errors). */
const messages: Record<LeaseErrorCode, string> = {
  not_found: "lease not found",
  exists: "lease already exists",
  ttl_too_large: "too large lease TTL",
  not_primary: "not a primary lessor",
};

/**
 * LeaseError is a request error of the lessor: unknown (or expired, for renew) lease, a grant
 * of an ID in use or of a TTL above MAX_LEASE_TTL, a renew on a member that is not the primary.
 */
export class LeaseError extends Error {
  readonly code: LeaseErrorCode;

  constructor(code: LeaseErrorCode) {
    super(messages[code]);
    this.name = "LeaseError";
    this.code = code;
  }
}
