import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as tlsConnect } from "node:tls";

/** V2Node is a node of a v2 keys answer. */
export interface V2ClientNode {
  key: string;
  value?: string;
  dir?: boolean;
  nodes?: V2ClientNode[];
  createdIndex: number;
  modifiedIndex: number;
}

/** V2ClientResponse is a v2 keys answer: its action and node, and the X-Etcd-Index header. */
export interface V2ClientResponse {
  action: string;
  node: V2ClientNode;
  index: number;
}

/** V2ClientError is a v2 error answered by the server (etcd's client.Error). */
export class V2ClientError extends Error {
  constructor(
    readonly code: number,
    override readonly cause: string,
    readonly index: number,
    message: string,
  ) {
    super(`${code}: ${message} (${cause}) [${index}]`);
    this.name = "V2ClientError";
  }
}

/** V2ClusterError is a request that reached no server (etcd's client.ClusterError): retried by discovery. */
export class V2ClusterError extends Error {
  constructor(cause: string) {
    super(`client: etcd cluster is unavailable or misconfigured; error #0: ${cause}`);
    this.name = "V2ClusterError";
  }
}

/** V2InvalidJsonError is an answer that is no v2 JSON (etcd's client.ErrInvalidJSON). */
export class V2InvalidJsonError extends Error {
  constructor() {
    super("client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint");
    this.name = "V2InvalidJsonError";
  }
}

/** EmptyAnswer is a 2xx answer without a body (etcd's ErrEmptyBody). */
class EmptyAnswer extends Error {
  constructor() {
    super("client: response body is empty");
  }
}

/** MAX_ANSWER_BYTES bounds an answer's body (a discovery token's listing is small). */
const MAX_ANSWER_BYTES = 16 << 20;

/** DEFAULT_REQUEST_TIMEOUT_MS is etcd's client.DefaultRequestTimeout for gets and creates. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/**
 * V2KeysClient is the part of etcd's v2 client (client.KeysAPI with an empty prefix) the
 * discovery protocol uses, over one endpoint: keys are URL paths on it
 * (`/v2/keys/discovery/<token>/...`). With `proxy` (an http:// URL), requests go through that
 * HTTP proxy: absolute URIs for http endpoints, a CONNECT tunnel for https ones.
 */
export class V2KeysClient {
  private readonly endpoint: URL;
  private readonly proxy: URL | undefined;

  constructor(endpoint: string, proxy?: string) {
    this.endpoint = new URL(endpoint);
    this.proxy = proxy === undefined || proxy === "" ? undefined : parseProxy(proxy);
  }

  /** get reads a key (recursive: with its whole subtree, sorted). */
  get(key: string, opts: { recursive?: boolean; sorted?: boolean } = {}): Promise<V2ClientResponse> {
    const q = `?quorum=false&recursive=${String(opts.recursive === true)}&sorted=${String(opts.sorted === true)}`;
    return this.send("GET", key, q, undefined, DEFAULT_REQUEST_TIMEOUT_MS);
  }

  /** create writes a key that must not exist (prevExist=false). */
  create(key: string, value: string): Promise<V2ClientResponse> {
    return this.send("PUT", key, "?prevExist=false", `value=${encodeURIComponent(value)}`, DEFAULT_REQUEST_TIMEOUT_MS);
  }

  /**
   * watch waits for the next event on key (recursive: below it) after index `afterIndex`,
   * with no timeout; an answer with an empty body (the server ended the wait) is asked again,
   * as etcd's watcher does.
   */
  async watch(key: string, afterIndex: number, recursive: boolean, signal?: AbortSignal): Promise<V2ClientResponse> {
    for (;;) {
      try {
        return await this.send("GET", key, `?wait=true&waitIndex=${afterIndex + 1}&recursive=${String(recursive)}`, undefined, 0, signal);
      } catch (err) {
        if (!(err instanceof EmptyAnswer) || signal?.aborted === true) throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private send(method: string, key: string, query: string, form: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<V2ClientResponse> {
    const path = `${this.endpoint.pathname.replace(/\/$/, "")}${escapePath(key)}${query}`;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (form !== undefined) headers["Content-Type"] = "application/x-www-form-urlencoded";
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) res.destroy(new Error("discovery: answer too large"));
          else chunks.push(c);
        });
        res.on("error", (err) => reject(new V2ClusterError(err.message)));
        res.on("end", () => {
          try {
            resolve(decode(res, Buffer.concat(chunks).toString()));
          } catch (err) {
            reject(err);
          }
        });
      };
      const req = this.open(method, path, headers, onResponse);
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new Error("context deadline exceeded")));
      const abort = (): void => void req.destroy(new Error("context canceled"));
      signal?.addEventListener("abort", abort, { once: true });
      req.on("close", () => signal?.removeEventListener("abort", abort));
      req.on("error", (err) => reject(new V2ClusterError(`${this.endpoint.origin}: ${err.message}`)));
      req.end(form);
    });
  }

  /** open sends one request to the endpoint, directly or through the proxy. */
  private open(method: string, path: string, headers: Record<string, string>, onResponse: (res: IncomingMessage) => void): ReturnType<typeof httpRequest> {
    const e = this.endpoint;
    const https = e.protocol === "https:";
    const port = Number(e.port || (https ? 443 : 80));
    const host = e.hostname.replace(/^\[|\]$/g, "");
    const base: RequestOptions = { method, headers: { ...headers, Host: e.host }, agent: false };
    if (this.proxy === undefined) {
      return (https ? httpsRequest : httpRequest)({ ...base, host, port, path }, onResponse);
    }
    const proxy = this.proxy;
    const proxyPort = Number(proxy.port || 80);
    if (!https) {
      return httpRequest({ ...base, host: proxy.hostname, port: proxyPort, path: `${e.origin}${path}` }, onResponse);
    }
    return httpsRequest(
      {
        ...base,
        host,
        port,
        path,
        // The TLS connection runs inside a CONNECT tunnel through the proxy.
        createConnection: (_opts: unknown, cb: (err: Error | null, s?: import("node:net").Socket) => void) => {
          const c = httpRequest({ method: "CONNECT", host: proxy.hostname, port: proxyPort, path: `${host}:${port}`, agent: false });
          c.on("connect", (res, socket) => {
            if (res.statusCode !== 200) {
              socket.destroy();
              cb(new Error(`proxy refused CONNECT: ${res.statusCode ?? 0}`));
              return;
            }
            cb(null, tlsConnect({ socket, servername: host }));
          });
          c.on("error", (err) => cb(err));
          c.end();
          return undefined;
        },
      } as RequestOptions,
      onResponse,
    );
  }
}

/** parseProxy is etcd's newProxyFunc: a URL, with http:// assumed when it has no http(s) scheme. */
export function parseProxy(proxy: string): URL {
  try {
    const u = new URL(proxy);
    if (u.protocol.startsWith("http")) return u;
  } catch {
    // tried again with http:// below
  }
  try {
    return new URL(`http://${proxy}`);
  } catch {
    throw new Error(`invalid proxy address ${JSON.stringify(proxy)}`);
  }
}

/** escapePath escapes a key's path segments as Go's url.URL does for a path. */
function escapePath(key: string): string {
  return key
    .split("/")
    .map((seg) => encodeURIComponent(seg).replace(/%3A/gi, ":").replace(/%40/g, "@"))
    .join("/");
}

/** decode reads a v2 answer: an event (2xx) or a v2 error; anything else is invalid JSON. */
function decode(res: IncomingMessage, text: string): V2ClientResponse {
  const status = res.statusCode ?? 0;
  // As etcd's client: a 5xx answer is the member failing (retried), not an answer.
  if (status >= 500) throw new V2ClusterError(`server answered ${status}`);
  if (status >= 200 && status < 300 && text === "") throw new EmptyAnswer();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new V2InvalidJsonError();
  }
  const index = Number(res.headers["x-etcd-index"] ?? 0);
  if (status >= 200 && status < 300 && typeof body["action"] === "string" && typeof body["node"] === "object") {
    return { action: body["action"], node: body["node"] as V2ClientNode, index };
  }
  if (typeof body["errorCode"] === "number") {
    throw new V2ClientError(body["errorCode"], String(body["cause"] ?? ""), Number(body["index"] ?? 0), String(body["message"] ?? ""));
  }
  throw new V2InvalidJsonError();
}
