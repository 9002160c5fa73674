import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";

/** V2Node is a node as etcd's v2 client (go.etcd.io/etcd/client) decodes it. */
export interface V2Node {
  key: string;
  dir?: boolean;
  value?: string;
  nodes?: V2Node[];
  createdIndex?: number;
  modifiedIndex?: number;
  expiration?: string;
  ttl?: number;
}

/** V2Response is a keys answer with the X-Etcd-Index header as `index`. */
export interface V2Response {
  action: string;
  node: V2Node;
  prevNode?: V2Node | undefined;
  index: number;
}

/** V2Error is an error the server answered (client.Error): "code: message (cause) [index]". */
export class V2Error extends Error {
  constructor(
    readonly errorCode: number,
    readonly errMessage: string,
    readonly errCause: string,
    readonly index: number,
  ) {
    super(`${errorCode}: ${errMessage} (${errCause}) [${index}]`);
  }

  /** json is client.Error marshalled (`-o json` errors). */
  json(): string {
    return JSON.stringify({ errorCode: this.errorCode, message: this.errMessage, cause: this.errCause, index: this.index });
  }
}

/** ClusterError is a request no endpoint answered (client.ClusterError): one error per endpoint tried. */
export class ClusterError extends Error {
  constructor(readonly errors: string[]) {
    super(`client: etcd cluster is unavailable or misconfigured${errors.map((e, i) => `; error #${i}: ${e}\n`).join("")}`);
  }

  /** detail is ClusterError.Detail: each error on a line. */
  detail(): string {
    return this.errors.map((e, i) => `error #${i}: ${e}\n`).join("");
  }

  /** connection: every error is a failure to connect (etcdctl's isConnectionError). */
  get connection(): boolean {
    return this.errors.every((e) => /^dial tcp |connection refused|i\/o timeout|exceeded header timeout|connection reset/.test(e));
  }
}

export const ERR_INVALID_JSON = "client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint";
export const ERR_NO_ENDPOINTS = "client: no endpoints available";

/** V2Member is a member as /v2/members lists it. */
export interface V2Member {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

/** ClientOptions configure a V2Client (etcdctl's global flags). */
export interface ClientOptions {
  endpoints: string[];
  /** headerTimeoutMs is --timeout: how long a request (but a watch) may wait for the answer's headers. */
  headerTimeoutMs: number;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** serverName is the TLS name to verify (the discovery domain with --discovery-srv). */
  serverName?: string;
  username?: string;
  password?: string;
}

/** Request is one HTTP request of the v2 API: path (with query) on an endpoint, and a form body. */
export interface Request {
  method: string;
  path: string;
  form?: string;
  json?: string;
  /** wait: a long poll (no header timeout). */
  wait?: boolean;
}

/** Answer is an HTTP answer's status, headers and body. */
export interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: string;
}

/**
 * V2Client is etcd's v2 client (httpClusterClient) as etcdctl uses it: requests go to the
 * pinned endpoint and, on a connection error or a 5xx answer, to the next one; when every
 * endpoint failed the error is a ClusterError listing why each did. sync replaces the
 * endpoints with the members' client URLs (GET /v2/members).
 */
export class V2Client {
  endpoints: URL[];
  private pinned = 0;
  private readonly o: ClientOptions;
  private readonly tls: Pick<RequestOptions, "ca" | "cert" | "key" | "servername">;

  constructor(o: ClientOptions) {
    this.o = o;
    this.endpoints = o.endpoints.map((e) => new URL(e));
    this.tls = {
      ...(o.caFile ? { ca: readFileSync(o.caFile) } : {}),
      ...(o.certFile ? { cert: readFileSync(o.certFile) } : {}),
      ...(o.keyFile ? { key: readFileSync(o.keyFile) } : {}),
      ...(o.serverName ? { servername: o.serverName } : {}),
    };
  }

  /** endpointList is the endpoints as etcdctl prints them. */
  get endpointList(): string[] {
    return this.endpoints.map((u) => u.href.replace(/\/$/, ""));
  }

  async sync(signal?: AbortSignal): Promise<void> {
    const members = await this.members(signal);
    const urls = members.flatMap((m) => m.clientURLs);
    if (urls.length === 0) throw new Error(ERR_NO_ENDPOINTS);
    this.endpoints = shuffle(urls.map((u) => new URL(u)));
    this.pinned = 0;
  }

  /** do sends a request with etcd's failover and answers the first endpoint's answer that is not 5xx. */
  async do(req: Request, signal?: AbortSignal): Promise<Answer> {
    const errors: string[] = [];
    const n = this.endpoints.length;
    for (let i = this.pinned; i < this.pinned + n; i++) {
      const k = i % n;
      const ep = this.endpoints[k] as URL;
      let a: Answer;
      try {
        a = await this.send(ep, req, signal);
      } catch (err) {
        if (signal?.aborted === true) throw new Error("context deadline exceeded");
        errors.push((err as Error).message);
        continue;
      }
      if (Math.floor(a.status / 100) === 5) {
        const name = ep.href.replace(/\/$/, "");
        errors.push(a.status === 500 || a.status === 503 ? `client: etcd member ${name} has no leader` : `client: etcd member ${name} returns server error [${statusText(a.status)}]`);
        continue;
      }
      this.pinned = k;
      return a;
    }
    throw new ClusterError(errors);
  }

  /** send sends one request to one endpoint (no failover); it rejects with Go's net error text. */
  send(ep: URL, req: Request, signal?: AbortSignal): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const https = ep.protocol === "https:";
      const headers: Record<string, string> = {};
      let body: string | undefined;
      if (req.form !== undefined) {
        headers["Content-Type"] = "application/x-www-form-urlencoded";
        body = req.form;
      } else if (req.json !== undefined) {
        headers["Content-Type"] = "application/json";
        body = req.json;
      }
      if (this.o.username !== undefined) {
        headers["Authorization"] = `Basic ${Buffer.from(`${this.o.username}:${this.o.password ?? ""}`).toString("base64")}`;
      }
      const host = ep.hostname.replace(/^\[|\]$/g, "");
      const port = Number(ep.port || (https ? 443 : 80));
      const path = `${ep.pathname.replace(/\/$/, "")}${req.path}`;
      const opts: RequestOptions = { method: req.method, host, port, path, headers, agent: false, ...(https ? this.tls : {}) };
      const r = (https ? httpsRequest : httpRequest)(opts, (res) => {
        clearTimeout(timer);
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(new Error(goNetError(err, host, port))));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
      const timer =
        req.wait !== true && this.o.headerTimeoutMs > 0
          ? setTimeout(() => r.destroy(Object.assign(new Error("header timeout"), { code: "HEADER_TIMEOUT" })), this.o.headerTimeoutMs)
          : undefined;
      const abort = (): void => void r.destroy(new Error("context deadline exceeded"));
      signal?.addEventListener("abort", abort, { once: true });
      r.on("close", () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
      });
      r.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "HEADER_TIMEOUT") reject(new Error(`client: endpoint ${ep.href.replace(/\/$/, "")} exceeded header timeout`));
        else reject(new Error(goNetError(err, host, port)));
      });
      r.end(body);
    });
  }

  // ---- the keys API ----

  async keys(req: Request, signal?: AbortSignal): Promise<V2Response> {
    for (;;) {
      const a = await this.do(req, signal);
      if ((a.status === 200 || a.status === 201) && a.body === "" && req.wait === true) continue; // etcd's watcher retries an empty answer
      return decodeKeys(a);
    }
  }

  async members(signal?: AbortSignal): Promise<V2Member[]> {
    const a = await this.do({ method: "GET", path: "/v2/members" }, signal);
    if (a.status !== 200) throw new Error(`unexpected status code ${a.status}`);
    return (JSON.parse(a.body) as { members: V2Member[] }).members;
  }
}

/** keysPath is v2KeysURL's path: /v2/keys + key, cleaned as Go's CanonicalURLPath (a trailing slash kept), escaped. */
export function keysPath(key: string): string {
  let p = `/v2/keys${key.startsWith("/") || key === "" ? key : `/${key}`}`;
  const trailing = p.endsWith("/");
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  p = `/${parts.join("/")}${trailing && parts.length > 0 ? "/" : ""}`;
  return p
    .split("/")
    .map((s) => encodeURIComponent(s).replace(/%3A/gi, ":").replace(/%40/g, "@").replace(/%2C/gi, ",").replace(/%3D/gi, "=").replace(/%2B/gi, "+").replace(/%24/g, "$").replace(/%26/g, "&"))
    .join("/");
}

/** query encodes params as Go's url.Values.Encode (keys sorted). */
export function query(params: Record<string, string>): string {
  const keys = Object.keys(params).sort();
  if (keys.length === 0) return "";
  return `?${keys.map((k) => `${goEscape(k)}=${goEscape(params[k] as string)}`).join("&")}`;
}

/** form encodes form values as Go's url.Values.Encode. */
export function form(values: Record<string, string>): string {
  return query(values).slice(1);
}

/** goEscape is Go's url.QueryEscape. */
function goEscape(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** decodeKeys is unmarshalHTTPResponse: 200/201 an event (X-Etcd-Index as its index), otherwise a v2 error. */
function decodeKeys(a: Answer): V2Response {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(a.body) as Record<string, unknown>;
  } catch {
    throw new Error(ERR_INVALID_JSON);
  }
  if (a.status === 200 || a.status === 201) {
    return {
      action: String(body["action"] ?? ""),
      node: (body["node"] ?? { key: "" }) as V2Node,
      prevNode: body["prevNode"] as V2Node | undefined,
      index: Number(a.headers["x-etcd-index"] ?? 0),
    };
  }
  throw new V2Error(Number(body["errorCode"] ?? 0), String(body["message"] ?? ""), String(body["cause"] ?? ""), Number(body["index"] ?? 0));
}

/** httpError is the members API's error for an unexpected answer (its {"message"} or the status). */
export function httpError(a: Answer): Error {
  try {
    const m = (JSON.parse(a.body) as { message?: string }).message;
    if (m !== undefined) return new Error(m);
  } catch {
    // not JSON
  }
  return new Error(`unexpected status code ${a.status}`);
}

/** goNetError renders a socket error as Go's net package does ("dial tcp 127.0.0.1:1: connect: connection refused"). */
export function goNetError(err: NodeJS.ErrnoException, host: string, port: number): string {
  const addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  switch (err.code) {
    case "ECONNREFUSED":
      return `dial tcp ${addr}: connect: connection refused`;
    case "ETIMEDOUT":
      return `dial tcp ${addr}: i/o timeout`;
    case "ENOTFOUND":
      return `dial tcp: lookup ${host}: no such host`;
    case "ECONNRESET":
      return `read tcp ${addr}: read: connection reset by peer`;
    default:
      return err.message;
  }
}

function statusText(status: number): string {
  const t: Record<number, string> = { 501: "Not Implemented", 502: "Bad Gateway", 504: "Gateway Timeout", 505: "HTTP Version Not Supported" };
  return t[status] ?? `status ${status}`;
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}
