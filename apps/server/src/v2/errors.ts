/**
 * V2ErrorCode names etcd's v2 error codes (etcdserver/api/v2error) that etcd-ts's v2 keys
 * API answers with.
 */
export const V2ErrorCode = {
  KeyNotFound: 100,
  TestFailed: 101,
  NotFile: 102,
  NotDir: 104,
  NodeExist: 105,
  RootROnly: 107,
  DirNotEmpty: 108,
  Unauthorized: 110,
  PrevValueRequired: 201,
  TTLNaN: 202,
  IndexNaN: 203,
  InvalidField: 209,
  InvalidForm: 210,
  RefreshValue: 211,
  RefreshTTLRequired: 212,
  RaftInternal: 300,
  LeaderElect: 301,
  EventIndexCleared: 401,
} as const;

/** MESSAGES are etcd's messages for each code (v2error's errors table). */
const MESSAGES: Record<number, string> = {
  100: "Key not found",
  101: "Compare failed",
  102: "Not a file",
  103: "Reached the max number of peers in the cluster",
  104: "Not a directory",
  105: "Key already exists",
  106: "The prefix of given key is a keyword in etcd",
  107: "Root is read only",
  108: "Directory not empty",
  109: "Peer address has existed",
  110: "The request requires user authentication",
  200: "Value is Required in POST form",
  201: "PrevValue is Required in POST form",
  202: "The given TTL in POST form is not a number",
  203: "The given index in POST form is not a number",
  204: "Value or TTL is required in POST form",
  205: "The given timeout in POST form is not a number",
  206: "Name is required in POST form",
  207: "Index or value is required",
  208: "Index and value cannot both be specified",
  209: "Invalid field",
  210: "Invalid POST form",
  211: "Value provided on refresh",
  212: "A TTL must be provided on refresh",
  300: "Raft Internal Error",
  301: "During Leader Election",
  400: "watcher is cleared due to etcd recovery",
  401: "The event in requested index is outdated and cleared",
  402: "Standby Internal Error",
  403: "Invalid active size",
  404: "Standby remove delay",
  500: "Client Internal Error",
};

/** STATUS is the HTTP status of each code that is not 400 (v2error's errorStatus). */
const STATUS: Record<number, number> = { 100: 404, 102: 403, 108: 403, 110: 401, 101: 412, 105: 412, 300: 500, 301: 500 };

/**
 * V2Error is a v2 API error as etcd writes it: {"errorCode","message","cause","index"} with
 * the code's HTTP status and the X-Etcd-Index header set to `index` (the store's v2 index
 * when the error was found; 0 for a request that was refused before reaching the store).
 */
export class V2Error extends Error {
  readonly errorCode: number;
  override readonly cause: string;
  readonly index: bigint;

  constructor(errorCode: number, cause: string, index: bigint = 0n) {
    super(`${MESSAGES[errorCode] ?? ""} (${cause})`);
    this.name = "V2Error";
    this.errorCode = errorCode;
    this.cause = cause;
    this.index = index;
  }

  /** status is the HTTP status etcd answers this error with (400 unless listed). */
  get status(): number {
    return STATUS[this.errorCode] ?? 400;
  }

  /** json is the error body, key order and omitted empty cause as Go's encoding/json writes it. */
  json(): string {
    const body: Record<string, unknown> = { errorCode: this.errorCode, message: MESSAGES[this.errorCode] ?? "" };
    if (this.cause !== "") body["cause"] = this.cause;
    body["index"] = Number(this.index);
    return JSON.stringify(body);
  }
}
