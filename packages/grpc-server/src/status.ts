/**
 * Status holds the gRPC status codes (the numbers every gRPC implementation sends in
 * grpc-status), so this package needs no gRPC library of its own.
 */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** StatusCode is one of the values of Status. */
export type StatusCode = (typeof Status)[keyof typeof Status];

/**
 * GrpcError is a failed call's status: a code and its message, sent as grpc-status and
 * grpc-message. Handlers throw it (or an error the server's errorToStatus maps) to fail a call.
 */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "GrpcError";
  }
}

/** CANCELLED_ERROR is what pending sends and reads of a call the client cancelled reject with. */
export const cancelledError = (): GrpcError => new GrpcError(Status.CANCELLED, "context canceled");

/** deadlineError is the status of a call whose grpc-timeout passed (grpc-go's text). */
export const deadlineError = (): GrpcError => new GrpcError(Status.DEADLINE_EXCEEDED, "context deadline exceeded");

/** percentEncode encodes a grpc-message as the gRPC spec asks (bytes outside 0x20-0x7e, and '%'). */
export function percentEncode(s: string): string {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
