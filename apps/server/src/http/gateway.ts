import type { InvokedCall, InvokeOptions } from "@etcd-ts/grpc-server";
import { Metadata } from "@etcd-ts/grpc-server";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import { methodSchemas, requestFromJson, requestsFromJson, responseToJson, type MethodSchemas } from "./gateway_json.js";
import { GATEWAY_ROUTES } from "./gateway_routes.js";
import { GoJsonError } from "./go_json_scan.js";

/**
 * GatewayInvoker makes in-process gRPC calls (GrpcServer.invoke): the gateway's calls go
 * through the same interceptors, error mapping and metrics as calls over the network.
 */
export interface GatewayInvoker {
  invoke(path: string, requests: readonly Buffer[], o: InvokeOptions): InvokedCall;
}

/** GatewayRequestHandler serves one request for a /v3/ path (already rewritten from /v3beta/). */
export type GatewayRequestHandler = (req: IncomingMessage, res: ServerResponse, path: string) => void;

const JSON_TYPE = "application/json";
const PLAIN_ERROR = { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" };

/**
 * httpStatusFromCode is grpc-gateway v1's HTTPStatusFromCode: the HTTP status of a gRPC status code.
 */
export function httpStatusFromCode(code: number): number {
  const table: Record<number, number> = {
    0: 200,
    1: 408,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    16: 401,
    8: 429,
    9: 412,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
  };
  return table[code] ?? 500;
}

/** errorBody is grpc-gateway v1's error body ({"error","message","code"}) as bytes. */
export function errorBody(code: number, message: string): string {
  return JSON.stringify({ error: message, message, code });
}

/**
 * streamErrorChunk is how grpc-gateway v1 reports a server-stream's error: one chunk
 * {"error":{grpc_code, http_code, message, http_status}} (zero values left out, as jsonpb does).
 */
export function streamErrorChunk(code: number, message: string): string {
  const http = httpStatusFromCode(code);
  const e: Record<string, string | number> = {};
  if (code !== 0) e["grpc_code"] = code;
  e["http_code"] = http;
  if (message !== "") e["message"] = message;
  e["http_status"] = STATUS_CODES[http] ?? "";
  return JSON.stringify({ error: e });
}

/**
 * jsonGateway is etcd 3.4's JSON gateway (grpc-gateway v1 with the JSONPb{OrigName: true}
 * marshaler) over in-process gRPC calls:
 *  - a path outside the route table answers 404 "Not Found", a method other than POST 405;
 *  - the body's first JSON value is the request (see gateway_json.ts); a malformed one is 400
 *    with the decoder's error and gRPC code 3 (500 and code 2 on the streaming routes);
 *  - a unary answer is the response as JSON, with the Grpc-Metadata-Content-Type header the
 *    gateway copies from the gRPC response headers; a failed call is the error body with the
 *    HTTP status of its gRPC code and the Grpc-Trailer-Content-Type trailer;
 *  - a server stream (watch, lease keepalive, snapshot) is chunked: one {"result": ...} line
 *    per message until the call ends or the client disconnects (which cancels the call).
 */
export function jsonGateway(grpc: GatewayInvoker, maxBodyBytes = DEFAULT_MAX_BODY_BYTES): GatewayRequestHandler {
  const schemas = new Map<string, MethodSchemas>();
  for (const r of GATEWAY_ROUTES.values()) schemas.set(`${r.service}/${r.method}`, methodSchemas(r.service, r.method));
  return (req, res, path) => {
    const route = GATEWAY_ROUTES.get(path);
    if (route === undefined) {
      res.writeHead(404, { ...PLAIN_ERROR, "Content-Length": "10" }).end("Not Found\n");
      return;
    }
    if (req.method !== "POST") {
      res.writeHead(405, { ...PLAIN_ERROR, "Content-Length": "19" }).end("Method Not Allowed\n");
      return;
    }
    const key = `${route.service}/${route.method}`;
    const schema = schemas.get(key) as MethodSchemas;
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size <= maxBodyBytes) {
        chunks.push(c);
        return;
      }
      // Bounded memory: a body past the bound is refused as the message it holds would be.
      refused = true;
      chunks.length = 0;
      const text = errorBody(8, `grpc: received message larger than max (${size} vs. ${maxBodyBytes})`);
      res.writeHead(429, { "Content-Type": JSON_TYPE, "Content-Length": Buffer.byteLength(text), Connection: "close" }).end(text);
      req.resume();
      req.socket.destroySoon();
    });
    req.on("end", () => {
      if (refused) return;
      const body = Buffer.concat(chunks);
      let requests: Buffer[];
      try {
        requests = isClientStream(route.method) ? requestsFromJson(schema.input, body) : [requestFromJson(schema.input, body)];
      } catch (err) {
        const msg = err instanceof GoJsonError ? err.message : String(err);
        // grpc-gateway wraps a unary body's decode error as InvalidArgument; a streaming
        // route passes the raw error on, which gRPC reports as Unknown (etcd: 500, code 2).
        const [status, code] = isClientStream(route.method) ? [500, 2] : [400, 3];
        const text = errorBody(code, msg);
        res.writeHead(status, { "Content-Type": JSON_TYPE, "Content-Length": Buffer.byteLength(text) }).end(text);
        return;
      }
      const o = { metadata: callMetadata(req), peer: `${req.socket.remoteAddress ?? ""}:${req.socket.remotePort ?? 0}` };
      if (isServerStream(route.method)) streamCall(grpc, `/${key}`, requests, o, schema, res);
      else unaryCall(grpc, `/${key}`, requests, o, schema, res);
    });
  };
}

/**
 * DEFAULT_MAX_BODY_BYTES bounds a request body when the embedder gives no bound: etcd's
 * default --max-request-bytes (1.5 MiB) plus gRPC's allowance (512 KiB), as base64 in JSON
 * (4/3), plus 64 KiB for the rest of the JSON.
 */
export const DEFAULT_MAX_BODY_BYTES = maxGatewayBodyBytes(1.5 * 1024 * 1024 + 512 * 1024);

/** maxGatewayBodyBytes is the body bound for a gRPC receive limit of maxMessageBytes (see DEFAULT_MAX_BODY_BYTES). */
export function maxGatewayBodyBytes(maxMessageBytes: number): number {
  return Math.ceil((maxMessageBytes * 4) / 3) + 64 * 1024;
}

/** CLIENT_STREAMS: the gateway's methods whose request side is a stream (each JSON value one message). */
const CLIENT_STREAMS = new Set(["Watch", "LeaseKeepAlive"]);
/** SERVER_STREAMS: the gateway's methods answered as a stream of {"result": ...} lines. */
const SERVER_STREAMS = new Set(["Watch", "LeaseKeepAlive", "Snapshot", "Observe"]);

function isClientStream(method: string): boolean {
  return CLIENT_STREAMS.has(method);
}

function isServerStream(method: string): boolean {
  return SERVER_STREAMS.has(method);
}

/**
 * callMetadata is the gRPC metadata grpc-gateway v1 makes of an HTTP request: Authorization
 * as is, Grpc-Metadata-X as X, and the client's address as x-forwarded-for.
 */
function callMetadata(req: IncomingMessage): Metadata {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    const value = Array.isArray(v) ? v.join(",") : v;
    if (k === "authorization") h[k] = value;
    else if (k.startsWith("grpc-metadata-")) h[k.slice("grpc-metadata-".length)] = value;
  }
  if (req.headers.host !== undefined) h["x-forwarded-host"] = req.headers.host;
  if (req.socket.remoteAddress !== undefined) h["x-forwarded-for"] = req.socket.remoteAddress;
  return new Metadata(h);
}

type CallOptions = Omit<InvokeOptions, "onMessage">;

function unaryCall(grpc: GatewayInvoker, path: string, requests: Buffer[], o: CallOptions, schema: MethodSchemas, res: ServerResponse): void {
  let payload: Buffer | undefined;
  const call = grpc.invoke(path, requests, { ...o, onMessage: (p) => void (payload = p) });
  res.on("close", () => call.cancel());
  void call.done.then((st) => {
    if (res.destroyed) return;
    if (st.code === 0 && payload !== undefined) {
      const text = JSON.stringify(responseToJson(schema.output, payload));
      res
        .writeHead(200, { "Content-Type": JSON_TYPE, "Grpc-Metadata-Content-Type": "application/grpc", "Content-Length": Buffer.byteLength(text) })
        .end(text);
      return;
    }
    res.writeHead(httpStatusFromCode(st.code), { "Content-Type": JSON_TYPE, Trailer: "Grpc-Trailer-Content-Type" });
    res.write(errorBody(st.code, st.message));
    res.addTrailers({ "Grpc-Trailer-Content-Type": "application/grpc" });
    res.end();
  });
}

function streamCall(grpc: GatewayInvoker, path: string, requests: Buffer[], o: CallOptions, schema: MethodSchemas, res: ServerResponse): void {
  let wrote = false;
  const onMessage = (p: Buffer): Promise<void> | undefined => {
    if (res.destroyed) return undefined;
    if (!wrote) {
      wrote = true;
      res.writeHead(200, { "Content-Type": JSON_TYPE, "Grpc-Metadata-Content-Type": "application/grpc", "Transfer-Encoding": "chunked" });
    }
    const line = `${JSON.stringify({ result: responseToJson(schema.output, p) })}\n`;
    if (res.write(line)) return undefined;
    return drained(res);
  };
  const call = grpc.invoke(path, requests, { ...o, onMessage });
  res.on("close", () => call.cancel());
  void call.done.then((st) => {
    if (res.destroyed) return;
    if (st.code !== 0) {
      if (!wrote) res.writeHead(httpStatusFromCode(st.code), { "Content-Type": JSON_TYPE, "Transfer-Encoding": "chunked" });
      res.write(streamErrorChunk(st.code, st.message));
    } else if (!wrote) {
      res.writeHead(200, { "Content-Type": JSON_TYPE, "Grpc-Metadata-Content-Type": "application/grpc", "Transfer-Encoding": "chunked" });
    }
    res.end();
  });
}

/** drained resolves once a response can take more data (its "drain"), or is gone ("close"). */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
