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

/**
 * RESET_BY_SERVER is how grpc-js reports a call whose stream the server reset, or whose
 * connection it closed, with HTTP/2's ENHANCE_YOUR_CALM (as RESOURCE_EXHAUSTED): a GOAWAY
 * too_many_pings, for example. The connection broke, not the call; grpc-go reports it as
 * UNAVAILABLE ("transport is closing"), and so does this client.
 */
const RESET_BY_SERVER = "Bandwidth exhausted or memory limit exceeded";

/** fromStatus converts a grpc-js call status (not OK) into an EtcdError from endpoint. */
export function fromStatus(code: GrpcStatus, details: string, endpoint: string | undefined): EtcdError {
  if (code === GrpcStatus.RESOURCE_EXHAUSTED && details === RESET_BY_SERVER) {
    return new EtcdError(GrpcStatus.UNAVAILABLE, "client: connection closed by the server (HTTP/2 ENHANCE_YOUR_CALM)", false, endpoint);
  }
  return new EtcdError(code, details, false, endpoint);
}

/** fromServiceError converts a grpc-js error into an EtcdError. */
export function fromServiceError(err: ServiceError, endpoint: string): EtcdError {
  return fromStatus(err.code, err.details ?? "", endpoint);
}

/** ERR_DEADLINE_UNREACHABLE is the details of a deadline that passed while no endpoint could be connected to. */
export const ERR_DEADLINE_UNREACHABLE = "client: deadline exceeded: no endpoint could be connected to";

/**
 * deadlineError is the error for a call whose deadline passed before any answer; with
 * unreachable, every endpoint's last connection attempt had failed meanwhile (grpc-go's
 * "all SubConns are in TransientFailure").
 */
export function deadlineError(endpoint?: string, unreachable = false): EtcdError {
  return new EtcdError(GrpcStatus.DEADLINE_EXCEEDED, unreachable ? ERR_DEADLINE_UNREACHABLE : "client: deadline exceeded", true, endpoint);
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
