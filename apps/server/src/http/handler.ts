import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { requestHostname } from "../config/access.js";
import type { EtcdServer } from "../etcd_server.js";
import type { Logger } from "../log.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * HttpAccess is what the client port's HTTP side lets through: the origins --cors allows
 * and the hosts --host-whitelist allows (see config/access.ts); "*" in either allows all.
 */
export interface HttpAccess {
  cors: ReadonlySet<string>;
  hostWhitelist: ReadonlySet<string>;
  /** logger, when given, gets etcd's warning for each request the host whitelist refuses. */
  logger?: Logger;
}

/** ALLOW_ALL is etcd's default access: --cors='*' and --host-whitelist='*'. */
export const ALLOW_ALL: HttpAccess = { cors: new Set(["*"]), hostWhitelist: new Set(["*"]) };

/**
 * httpHandler serves the HTTP/1.1 side of the client port: /version and /health, with
 * etcd's bodies, behind etcd's access controller (see accessControlled). /health does a
 * linearizable read of "health" like etcd 3.4, so it fails when the member cannot reach
 * consensus.
 */
export function httpHandler(s: EtcdServer, access: HttpAccess = ALLOW_ALL): Handler {
  return accessControlled(access, routes(s));
}

/**
 * accessControlled is etcd 3.4's accessController (embed/serve.go) in front of `next`:
 *  - on a connection without TLS, a request whose Host (its host part) is not in the host
 *    whitelist is refused with 421 and etcd's DNS-rebinding explanation (CVE-2018-5702);
 *  - CORS: with --cors='*' every response carries the CORS headers with origin "*";
 *    otherwise a request whose Origin is listed gets them with that origin;
 *  - OPTIONS (a CORS preflight) is answered 200 with no body, on every path.
 */
export function accessControlled(access: HttpAccess, next: Handler): Handler {
  return (req, res) => {
    if ((req.socket as Partial<TLSSocket>).encrypted !== true) {
      const host = requestHostname(req.headers.host ?? "");
      if (!allows(access.hostWhitelist, host)) {
        access.logger?.warn("rejecting HTTP request to prevent DNS rebinding attacks", { host });
        res
          .writeHead(421, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" })
          .end(`${rebindingExplanation(host)}\n`);
        return;
      }
    }
    if (allows(access.cors, "*")) {
      addCorsHeaders(res, "*");
    } else {
      const origin = req.headers.origin;
      if (origin !== undefined && allows(access.cors, origin)) addCorsHeaders(res, origin);
    }
    if (req.method === "OPTIONS") {
      res.writeHead(200, { "Content-Length": "0" }).end();
      return;
    }
    next(req, res);
  };
}

/** allows is etcd's OriginAllowed / IsHostWhitelisted: an empty set or "*" allows everything. */
function allows(set: ReadonlySet<string>, v: string): boolean {
  return set.size === 0 || set.has("*") || set.has(v);
}

function addCorsHeaders(res: ServerResponse, origin: string): void {
  res.setHeader("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE");
  res.setHeader("Access-Control-Allow-Origin", origin);
  res.setHeader("Access-Control-Allow-Headers", "accept, content-type, authorization");
}

/** rebindingExplanation is etcd's body for a refused Host (Go's %q quoting of the host). */
function rebindingExplanation(host: string): string {
  return `
etcd received your request, but the Host header was unrecognized.

To fix this, choose one of the following options:
- Enable TLS, then any HTTPS request will be allowed.
- Add the hostname you want to use to the whitelist in settings.
  - e.g. etcd --host-whitelist ${JSON.stringify(host)}

This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).
`;
}

/** routes serves /version and /health; anything else is 404. */
function routes(s: EtcdServer): Handler {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/version") {
      send(res, 200, s.versionJson());
      return;
    }
    if (path === "/health") {
      if (req.method !== "GET") {
        res.writeHead(405, { Allow: "GET" }).end("Method Not Allowed");
        return;
      }
      health(s).then(
        (ok) => send(res, ok.ok ? 200 : 503, JSON.stringify({ health: String(ok.ok), reason: ok.reason })),
        () => send(res, 503, JSON.stringify({ health: "false", reason: "" })),
      );
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("404 page not found\n");
  };
}

async function health(s: EtcdServer): Promise<{ ok: boolean; reason: string }> {
  if (s.leader === 0n) return { ok: false, reason: "RAFT NO LEADER" };
  try {
    await s.range({
      key: Buffer.from("health"),
      rangeEnd: Buffer.alloc(0),
      limit: 0n,
      revision: 0n,
      sortOrder: 0,
      sortTarget: 0,
      serializable: false,
      keysOnly: false,
      countOnly: false,
      minModRevision: 0n,
      maxModRevision: 0n,
      minCreateRevision: 0n,
      maxCreateRevision: 0n,
    });
    return { ok: true, reason: "" };
  } catch {
    return { ok: false, reason: "QGET ERROR" };
  }
}

function send(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { "Content-Type": "application/json" }).end(body);
}
