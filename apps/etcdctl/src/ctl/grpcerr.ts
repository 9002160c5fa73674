import { randomUUID } from "node:crypto";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { ERR_DEADLINE_UNREACHABLE, EtcdError } from "@etcd-ts/client";
import type { Io } from "./io.js";

/**
 * ETCD_ERROR_MESSAGES are the server messages etcd's Go client turns into plain errors
 * (rpctypes): etcdctl prints them bare, any other status as "rpc error: code = .. desc = ..".
 */
const ETCD_ERROR_MESSAGES = new Set([
  "etcdserver: key is not provided",
  "etcdserver: key not found",
  "etcdserver: value is provided",
  "etcdserver: lease is provided",
  "etcdserver: too many operations in txn request",
  "etcdserver: duplicate key given in txn request",
  "etcdserver: mvcc: required revision has been compacted",
  "etcdserver: mvcc: required revision is a future revision",
  "etcdserver: mvcc: database space exceeded",
  "etcdserver: requested lease not found",
  "etcdserver: lease already exists",
  "etcdserver: too large lease TTL",
  "etcdserver: member ID already exist",
  "etcdserver: Peer URLs already exists",
  "etcdserver: re-configuration failed due to not enough started members",
  "etcdserver: given member URLs are invalid",
  "etcdserver: member not found",
  "etcdserver: can only promote a learner member",
  "etcdserver: can only promote a learner member which is in sync with leader",
  "etcdserver: too many learner members in cluster",
  "etcdserver: request is too large",
  "etcdserver: too many requests",
  "etcdserver: root user does not exist",
  "etcdserver: root user does not have root role",
  "etcdserver: user name already exists",
  "etcdserver: user name is empty",
  "etcdserver: user name not found",
  "etcdserver: role name already exists",
  "etcdserver: role name not found",
  "etcdserver: role name is empty",
  "etcdserver: authentication failed, invalid user ID or password",
  "etcdserver: permission denied",
  "etcdserver: role is not granted to the user",
  "etcdserver: permission is not granted to the role",
  "etcdserver: authentication is not enabled",
  "etcdserver: invalid auth token",
  "etcdserver: invalid auth management",
  "etcdserver: revision of auth store is old",
  "etcdserver: no leader",
  "etcdserver: not leader",
  "etcdserver: leader changed",
  "etcdserver: not capable",
  "etcdserver: server stopped",
  "etcdserver: request timed out",
  "etcdserver: request timed out, possibly due to previous leader failure",
  "etcdserver: request timed out, possibly due to connection lost",
  "etcdserver: request timed out, waiting for the applied index took too long",
  "etcdserver: unhealthy cluster",
  "etcdserver: corrupt cluster",
  "etcdserver: rpc not supported for learner",
  "etcdserver: bad leader transferee",
]);

/** GO_CODE_NAMES are grpc-go's names of the status codes, by number. */
const GO_CODE_NAMES = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
  "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
  "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
];

function goStatusString(code: number, desc: string): string {
  return `rpc error: code = ${GO_CODE_NAMES[code] ?? `Code(${code})`} desc = ${desc}`;
}

/** errorText is the text Go's etcdctl prints after "Error: " for a failed call. */
export function errorText(e: unknown): string {
  if (!(e instanceof EtcdError)) return e instanceof Error ? e.message : String(e);
  if (e.local) {
    if (e.code === GrpcStatus.DEADLINE_EXCEEDED) return "context deadline exceeded";
    if (e.code === GrpcStatus.CANCELLED) return "context canceled";
    return e.details;
  }
  if (ETCD_ERROR_MESSAGES.has(e.details)) return e.details;
  return goStatusString(e.code, e.details);
}

/** attemptErrorText is the error as the Go client's retry interceptor logs it (a status string). */
function attemptErrorText(e: unknown): string {
  if (!(e instanceof EtcdError)) return e instanceof Error ? e.message : String(e);
  if (e.local && e.code === GrpcStatus.DEADLINE_EXCEEDED) {
    // grpc-go names the balancer's last error when no connection could be made.
    const desc = e.details === ERR_DEADLINE_UNREACHABLE ? "latest balancer error: all SubConns are in TransientFailure" : "context deadline exceeded";
    return goStatusString(e.code, desc);
  }
  return goStatusString(e.code, e.details);
}

/** zapTime formats t like zap's ISO8601 encoder in local time ("2006-01-02T15:04:05.000Z0700"). */
export function zapTime(t: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  const off = -t.getTimezoneOffset();
  const zone = off === 0 ? "Z" : `${off > 0 ? "+" : "-"}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  return (
    `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}T${p(t.getHours())}:${p(t.getMinutes())}:` +
    `${p(t.getSeconds())}.${p(t.getMilliseconds(), 3)}${zone}`
  );
}

/** ClientTarget names the connection in the retry warning, as grpc-go's target string. */
export type ClientTarget = { kind: "balanced"; firstEndpoint: string } | { kind: "direct"; endpoint: string };

/**
 * logAttemptFailure writes the warning etcd's Go client logs to stderr for every failed
 * unary attempt ("retrying of unary invoker failed"), so stderr matches etcdctl's.
 */
export function logAttemptFailure(io: Io, target: ClientTarget, e: unknown): void {
  const t =
    target.kind === "balanced"
      ? `endpoint://client-${randomUUID()}/${stripScheme(target.firstEndpoint)}`
      : `passthrough:///${target.endpoint}`;
  const line =
    `{"level":"warn","ts":"${zapTime(io.now())}","caller":"clientv3/retry_interceptor.go:62",` +
    `"msg":"retrying of unary invoker failed","target":${zapString(t)},"attempt":0,` +
    `"error":${zapString(attemptErrorText(e))}}\n`;
  io.err(line);
}

function stripScheme(ep: string): string {
  const i = ep.indexOf("://");
  return i < 0 ? ep : ep.slice(i + 3);
}

/** zapString is zap's JSON string encoding (no HTML escaping). */
export function zapString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += ch;
  }
  return out + '"';
}
