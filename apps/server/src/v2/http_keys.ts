import type { IncomingMessage, ServerResponse } from "node:http";
import { posix } from "node:path";
import { drained } from "../http/gateway.js";
import { V2Error, V2ErrorCode as C } from "./errors.js";
import { eventJson, type V2Event } from "./node.js";
import type { V2Access } from "./http_auth.js";
import type { StoreOp, StoreStats } from "./stats.js";
import type { TtlOption, V2Answer, V2Store } from "./store.js";

/** KEYS_PREFIX is the URL path of the v2 keys API. */
export const KEYS_PREFIX = "/v2/keys";

/** MAX_FORM_BYTES is the largest form body read (Go's net/http ParseForm limit, 10 MB). */
export const MAX_FORM_BYTES = 10 << 20;

const KEYS_METHODS = ["HEAD", "GET", "PUT", "POST", "DELETE"];

/** Form is a request's parsed form: the body's values first, then the query's (Go's Request.Form). */
export type Form = Map<string, string[]>;

/** KeyRequest is a /v2/keys request as etcd's parseKeyRequest makes it. */
export interface KeyRequest {
  method: string;
  path: string;
  value: string;
  dir: boolean;
  prevValue: string;
  prevIndex: bigint;
  prevExist: boolean | undefined;
  wait: boolean;
  waitIndex: bigint;
  recursive: boolean;
  sorted: boolean;
  quorum: boolean;
  stream: boolean;
  noValueOnSuccess: boolean;
  ttl: bigint | undefined;
  refresh: boolean | undefined;
}

/** goParseBool is Go's strconv.ParseBool. */
function goParseBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

/** goParseUint64 is Go's strconv.ParseUint(s, 10, 64). */
function goParseUint64(s: string): bigint | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v > 0xffff_ffff_ffff_ffffn ? undefined : v;
}

/**
 * parseKeyRequest is etcd's parseKeyRequest: the form's fields checked one by one, each bad
 * one refused with its v2 error (index 0). `keyPath` is the URL path after /v2/keys.
 */
export function parseKeyRequest(method: string, keyPath: string, form: Form): KeyRequest {
  const first = (k: string): string | undefined => form.get(k)?.[0];
  const bool = (k: string, code: number, cause = `invalid value for "${k}"`): boolean => {
    const v = first(k);
    if (v === undefined) return false;
    const b = goParseBool(v);
    if (b === undefined) throw new V2Error(code, cause);
    return b;
  };
  const uint = (k: string): bigint => {
    const v = first(k);
    if (v === undefined) return 0n;
    const n = goParseUint64(v);
    if (n === undefined) throw new V2Error(C.IndexNaN, `invalid value for "${k}"`);
    return n;
  };
  const prevIndex = uint("prevIndex");
  const waitIndex = uint("waitIndex");
  const recursive = bool("recursive", C.InvalidField);
  const sorted = bool("sorted", C.InvalidField);
  const wait = bool("wait", C.InvalidField);
  const dir = bool("dir", C.InvalidField);
  const quorum = bool("quorum", C.InvalidField);
  const stream = bool("stream", C.InvalidField);
  if (wait && method !== "GET") throw new V2Error(C.InvalidField, '"wait" can only be used with GET requests');
  const prevValue = first("prevValue") ?? "";
  if (form.has("prevValue") && prevValue === "") throw new V2Error(C.PrevValueRequired, '"prevValue" cannot be empty');
  const noValueOnSuccess = bool("noValueOnSuccess", C.InvalidField);
  let ttl: bigint | undefined;
  const ttlText = first("ttl") ?? "";
  if (ttlText.length > 0) {
    ttl = goParseUint64(ttlText);
    if (ttl === undefined) throw new V2Error(C.TTLNaN, 'invalid value for "ttl"');
  }
  const prevExist = form.has("prevExist") ? bool("prevExist", C.InvalidField, "invalid value for prevExist") : undefined;
  let refresh: boolean | undefined;
  if (form.has("refresh")) {
    refresh = bool("refresh", C.InvalidField, "invalid value for refresh");
    if (refresh) {
      if (form.has("value") && (first("value") ?? "") !== "") throw new V2Error(C.RefreshValue, "A value was provided on a refresh");
      if (ttl === undefined) throw new V2Error(C.RefreshTTLRequired, "No TTL value set");
    }
  }
  return {
    method,
    path: keyPath,
    value: first("value") ?? "",
    dir,
    prevValue,
    prevIndex,
    prevExist,
    wait,
    waitIndex,
    recursive,
    sorted,
    quorum,
    stream,
    noValueOnSuccess,
    ttl,
    refresh,
  };
}

/** GoPathError is a request path Go's URL parser refuses (a bad % escape). */
class GoPathError extends Error {}

/** decodePath decodes a URL path's % escapes as Go's url.PathUnescape does ("+" stays "+"). */
function decodePath(raw: string): string {
  if (/%(?![0-9a-fA-F]{2})/.test(raw)) throw new GoPathError(raw);
  // Bytes, then UTF-8: an escape of bytes that are no UTF-8 (%FF) becomes U+FFFD, as Go's
  // JSON shows such a key, instead of failing the request.
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === "%") {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(raw[i] as string)) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** accessPath is a key path as access is decided on: cleaned as Go's path.Clean, a trailing slash kept. */
function accessPath(keyPath: string): string {
  return posix.normalize(`/${keyPath}`);
}

/** parseQuery is Go's url.ParseQuery into a Form (lenient: a bad escape keeps the text). */
function addQuery(form: Form, query: string): void {
  for (const [k, v] of new URLSearchParams(query)) {
    const list = form.get(k);
    if (list === undefined) form.set(k, [v]);
    else list.push(v);
  }
}

/** readForm reads the form of a request: an urlencoded body (POST, PUT, PATCH) then the query. */
async function readForm(req: IncomingMessage, query: string): Promise<Form> {
  const form: Form = new Map();
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if ((req.method === "POST" || req.method === "PUT" || req.method === "PATCH") && type === "application/x-www-form-urlencoded") {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_FORM_BYTES) throw new V2Error(C.InvalidForm, "http: POST too large");
      chunks.push(c);
    }
    addQuery(form, Buffer.concat(chunks).toString());
  } else {
    req.resume();
  }
  addQuery(form, query);
  return form;
}

/** V2KeysContext is what the keys handler needs besides the store. */
export interface V2KeysContext {
  store: V2Store;
  /** access decides v2 auth (absent: every request is allowed). */
  access?: V2Access;
  /** stats count the gets, the failed writes and the open watches (applied writes are counted elsewhere). */
  stats?: StoreStats;
  /** clusterId is the X-Etcd-Cluster-ID header's value (hex). */
  clusterId(): string;
}

/**
 * serveKeys answers /v2/keys[/path] as etcd 3.4's keysHandler does: method check, cluster ID
 * header, the request parsed (v2 errors for bad fields), the operation on the store, and the
 * event (with X-Etcd-Index, X-Raft-Index and X-Raft-Term; 201 for a created node) or the
 * error. A wait=true GET is a long poll: headers at once, then one event (every event with
 * stream=true) until the client goes away.
 */
export function serveKeys(ctx: V2KeysContext, req: IncomingMessage, res: ServerResponse, rawPath: string, query: string): void {
  const method = req.method ?? "GET";
  if (!KEYS_METHODS.includes(method)) {
    methodNotAllowed(res, KEYS_METHODS);
    return;
  }
  res.setHeader("X-Etcd-Cluster-Id", ctx.clusterId());
  void handle(ctx, req, res, method, rawPath, query).catch((err: unknown) => writeKeyError(res, err));
}

async function handle(ctx: V2KeysContext, req: IncomingMessage, res: ServerResponse, method: string, rawPath: string, query: string): Promise<void> {
  let keyPath: string;
  try {
    keyPath = decodePath(rawPath.slice(KEYS_PREFIX.length));
  } catch (err) {
    if (err instanceof GoPathError) throw new V2Error(C.InvalidForm, `invalid URL escape`);
    throw err;
  }
  const form = await readForm(req, query);
  const r = parseKeyRequest(method, keyPath, form);
  // The path is checked as it will be used: cleaned ("/a/../b" is "/b"; Go's mux redirects an
  // unclean path before etcd checks it), a trailing slash kept.
  if (ctx.access !== undefined && !(await ctx.access.hasKeyPrefixAccess(req, accessPath(keyPath), r.recursive))) {
    throw new V2Error(C.Unauthorized, "Insufficient credentials", 0n);
  }
  const s = ctx.store;
  if (method === "GET" && r.wait) {
    const w = await s.watch(r.path, r.recursive, r.stream, r.waitIndex);
    const stats = ctx.stats;
    if (stats !== undefined) {
      stats.watchers++;
      res.once("close", () => stats.watchers--);
    }
    const raft = s.raftStatus();
    res.writeHead(200, {
      "Content-Type": "application/json",
      "X-Etcd-Index": String(w.startIndex),
      "X-Raft-Index": String(raft.index),
      "X-Raft-Term": String(raft.term),
    });
    res.flushHeaders();
    const closed = (): void => w.close();
    res.on("close", closed);
    for (;;) {
      const ev = await w.next();
      if (ev === undefined || res.destroyed) break;
      // A client that does not read holds the watch back (its v3 watch then falls behind and
      // catches up later), instead of its events piling up in memory.
      if (!res.write(`${eventJson(ev)}\n`)) await drained(res);
      if (!r.stream) break;
    }
    w.close();
    res.end();
    return;
  }
  const t: TtlOption = { ttl: r.ttl, nowMs: Date.now(), refresh: r.refresh };
  const op = opOf(method, r);
  let answer: V2Answer;
  try {
    answer = await run(s, method, r, t);
  } catch (err) {
    if (err instanceof V2Error) ctx.stats?.count(op, false);
    throw err;
  }
  if (op === "gets") ctx.stats?.count("gets", true);
  writeKeyEvent(res, s, answer, r.noValueOnSuccess);
}

/** opOf is the store operation a request is, as etcd's store stats count it. */
function opOf(method: string, r: KeyRequest): StoreOp {
  if (method === "GET" || method === "HEAD") return "gets";
  if (method === "POST") return "create";
  if (method === "DELETE") return r.prevIndex > 0n || r.prevValue !== "" ? "compareAndDelete" : "delete";
  if (r.prevExist === false) return "create";
  if (r.prevExist === true) return r.prevIndex === 0n && r.prevValue === "" ? "update" : "compareAndSwap";
  return r.prevIndex > 0n || r.prevValue !== "" ? "compareAndSwap" : "sets";
}

/** run is etcd's RequestV2.Handle with the v2 applier's dispatch: the request as a store operation. */
async function run(s: V2Store, method: string, r: KeyRequest, t: TtlOption): Promise<V2Answer> {
  let answer: V2Answer;
  switch (method) {
    case "GET":
    case "HEAD":
      answer = { event: await s.get(r.path, r.recursive, r.sorted, r.quorum && method === "GET"), created: false };
      break;
    case "POST":
      answer = await s.create(r.path, r.dir, r.value, true, t);
      break;
    case "PUT":
      if (r.prevExist !== undefined) {
        if (!r.prevExist) answer = await s.create(r.path, r.dir, r.value, false, t);
        else if (r.prevIndex === 0n && r.prevValue === "") answer = await s.update(r.path, r.value, t);
        else answer = await s.compareAndSwap(r.path, r.prevValue, r.prevIndex, r.value, t);
      } else if (r.prevIndex > 0n || r.prevValue !== "") {
        answer = await s.compareAndSwap(r.path, r.prevValue, r.prevIndex, r.value, t);
      } else {
        answer = await s.set(r.path, r.dir, r.value, t);
      }
      break;
    default: // DELETE
      if (r.prevIndex > 0n || r.prevValue !== "") answer = await s.compareAndDelete(r.path, r.prevValue, r.prevIndex);
      else answer = await s.delete(r.path, r.dir, r.recursive);
      break;
  }
  return answer;
}

const NO_VALUE_ACTIONS = new Set(["set", "compareAndSwap", "create", "update"]);

function writeKeyEvent(res: ServerResponse, s: V2Store, a: V2Answer, noValueOnSuccess: boolean): void {
  const raft = s.raftStatus();
  let ev: V2Event = a.event;
  if (noValueOnSuccess && NO_VALUE_ACTIONS.has(ev.action)) ev = { action: ev.action, etcdIndex: ev.etcdIndex };
  const body = `${eventJson(ev)}\n`;
  res.writeHead(a.created ? 201 : 200, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    "X-Etcd-Index": String(a.event.etcdIndex),
    "X-Raft-Index": String(raft.index),
    "X-Raft-Term": String(raft.term),
  });
  res.end(body);
}

/**
 * writeKeyError answers a failed keys request: a V2Error as itself; anything else (a failed
 * proposal, a timeout, a refused v3 request) as etcd's 300 "Raft Internal Error" with the
 * error's text as the cause.
 */
export function writeKeyError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const e = err instanceof V2Error ? err : new V2Error(C.RaftInternal, err instanceof Error ? err.message : String(err), 0n);
  const body = `${e.json()}\n`;
  res.writeHead(e.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "X-Etcd-Index": String(e.index) });
  res.end(body);
}

/** methodNotAllowed is etcd's allowMethod refusal: 405 with the Allow header and Go's http.Error body. */
export function methodNotAllowed(res: ServerResponse, methods: readonly string[]): void {
  res.writeHead(405, { Allow: methods.join(","), "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" });
  res.end("Method Not Allowed\n");
}
