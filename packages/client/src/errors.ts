import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";

/**
 * EtcdError is what every failed client call rejects with. For an answer from a server,
 * `message` and `details` are the server's message (e.g. "etcdserver: mvcc: required
 * revision has been compacted") and `code` its gRPC status. Errors the client raises itself
 * (deadline passed, no endpoint reachable) have `local` set.
 */
export class EtcdError extends Error {
  readonly code: GrpcStatus;
  readonly details: string;
  /** local is true when this client produced the error rather than a server. */
  readonly local: boolean;
  /** endpoint is the address the failing attempt went to, when there was one. */
  readonly endpoint: string | undefined;

  constructor(code: GrpcStatus, details: string, local: boolean, endpoint?: string) {
    super(details === "" ? GrpcStatus[code] ?? `code ${code}` : details);
    this.name = "EtcdError";
    this.code = code;
    this.details = details;
    this.local = local;
    this.endpoint = endpoint;
  }
}

/** fromServiceError converts a grpc-js error into an EtcdError. */
export function fromServiceError(err: ServiceError, endpoint: string): EtcdError {
  return new EtcdError(err.code, err.details ?? "", false, endpoint);
}

/** deadlineError is the error for a call whose deadline passed before any answer. */
export function deadlineError(endpoint?: string): EtcdError {
  return new EtcdError(GrpcStatus.DEADLINE_EXCEEDED, "client: deadline exceeded", true, endpoint);
}

/** closedError is the error for calls on (or interrupted by) a closed client. */
export function closedError(): EtcdError {
  return new EtcdError(GrpcStatus.CANCELLED, "client: client is closed", true);
}

/** canceledError is the error of a call or wait the caller aborted (through an AbortSignal). */
export function canceledError(): EtcdError {
  return new EtcdError(GrpcStatus.CANCELLED, "client: canceled by the caller", true);
}

/** aborted tells whether signal has been aborted (a function, so checks after an await are not narrowed away). */
export function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
