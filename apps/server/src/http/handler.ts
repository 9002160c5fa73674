import { etcdserverpb } from "@etcd-ts/proto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { requestHostname } from "../config/access.js";
import type { EtcdServer } from "../etcd_server.js";
import type { Pprof } from "./pprof.js";
import type { Logger } from "../log.js";
import type { GatewayRequestHandler } from "./gateway.js";
import type { V2Handler } from "../v2/index.js";
import { gatewayPath } from "./gateway_routes.js";
import { serveProbe } from "./probes.js";

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

/** MetricsText is what /metrics serves: the member's metrics in the Prometheus text format (metrics/server_metrics.ts). */
export interface MetricsText {
  readonly contentType: string;
  text(): Promise<string>;
}

/**
 * httpHandler serves the HTTP/1.1 side of the client port: /version, /health and, given
 * metrics, /metrics, with etcd's bodies, behind etcd's access controller (see
 * accessControlled). /health fails, as etcd 3.4's does, while an alarm is raised, while no
 * leader is known, or when a linearizable read does not complete within a second. Given
 * `gateway`, /v3/ and /v3beta/ paths go to the JSON gateway (see gateway.ts); given `pprof`,
 * /debug/pprof/ serves profiles (pprof.ts).
 */
export function httpHandler(s: EtcdServer, access: HttpAccess = ALLOW_ALL, extras: HttpExtras = {}): Handler {
  return guarded(accessControlled(access, routes(s, extras)));
}

/**
 * guarded answers 400 when a handler throws on a request it cannot make sense of (a path
 * that is no URL, say) instead of letting the exception end the process.
 */
function guarded(next: Handler): Handler {
  return (req, res) => {
    try {
      next(req, res);
    } catch {
      if (!res.headersSent) res.writeHead(400, { ...PLAIN, Connection: "close" }).end("400 Bad Request");
      else res.destroy();
    }
  };
}

/** HttpExtras are the optional parts of the client port's HTTP side. */
export interface HttpExtras {
  /** metrics serves /metrics. */
  metrics?: MetricsText;
  /** gateway serves the JSON gateway's /v3/ and /v3beta/ paths. */
  gateway?: GatewayRequestHandler;
  /** pprof serves /debug/pprof/ (--enable-pprof or --debug). */
  pprof?: Pprof;
  /** v2 serves the v2 API's /v2/ paths (--enable-v2). */
  v2?: V2Handler;
}

/**
 * metricsListenerHandler serves a --listen-metrics-urls listener: /metrics and /health only
 * (etcd's metrics mux), with no access controller; anything else is 404.
 */
export function metricsListenerHandler(s: EtcdServer, metrics: MetricsText): Handler {
  return guarded((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") serveMetrics(metrics, res);
    else if (path === "/health") serveHealth(s, req, res);
    else if (serveProbe(s, path ?? "", req, res)) return;
    else res.writeHead(404, PLAIN).end("404 page not found\n");
  });
}

/** serveMetrics answers a scrape (any method, as Prometheus's promhttp handler does). */
function serveMetrics(metrics: MetricsText, res: ServerResponse): void {
  metrics.text().then(
    (body) => res.writeHead(200, { "Content-Type": metrics.contentType }).end(body),
    (err: unknown) => res.writeHead(500, PLAIN).end(`An error has occurred while serving metrics:\n\n${String(err)}\n`),
  );
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

/** routes serves /version, /health, (given metrics) /metrics, (given gateway) /v3/ and (given v2) /v2/; anything else is 404. */
function routes(s: EtcdServer, { metrics, gateway, pprof, v2 }: HttpExtras): Handler {
  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (v2 !== undefined && path.startsWith("/v2/") && v2(req, res, path, q < 0 ? "" : url.slice(q + 1))) return;
    if (path === "/version") {
      if (req.method !== "GET") {
        res.writeHead(405, { Allow: "GET", ...PLAIN }).end("Method Not Allowed\n");
        return;
      }
      send(res, 200, s.versionJson());
      return;
    }
    if (path === "/health") {
      serveHealth(s, req, res);
      return;
    }
    // /livez and /readyz as etcd 3.5+/3.6 serve them (probes.ts).
    if (serveProbe(s, path ?? "", req, res)) return;
    if (path === "/metrics" && metrics !== undefined) {
      serveMetrics(metrics, res);
      return;
    }
    if (pprof?.handle(req, res) === true) return;
    const v3 = gateway === undefined ? undefined : gatewayPath(path ?? "");
    if (v3 !== undefined && gateway !== undefined) {
      gateway(req, res, v3);
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("404 page not found\n");
  };
}

const PLAIN = { "Content-Type": "text/plain; charset=utf-8" };

/** serveHealth answers /health (GET only) with etcd's bodies; ?exclude=ALARM ignores that alarm type. */
function serveHealth(s: EtcdServer, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== "GET") {
    // etcd answers through http.Error, which adds nosniff (checked with curl on 3.4.23).
    res.writeHead(405, { Allow: "GET", ...PLAIN, "X-Content-Type-Options": "nosniff" }).end("Method Not Allowed\n");
    return;
  }
  const excluded = new URL(req.url ?? "/", "http://h").searchParams.getAll("exclude");
  void health(s, new Set(excluded)).then((ok) => {
    // etcd writes the body as text (Go sniffs text/plain) and, failing, through http.Error.
    if (ok) res.writeHead(200, PLAIN).end('{"health":"true"}');
    else res.writeHead(503, { ...PLAIN, "X-Content-Type-Options": "nosniff" }).end('{"health":"false"}\n');
  });
}

/** HEALTH_READ_TIMEOUT_MS bounds the linearizable read of a health check (etcd: 1 s). */
const HEALTH_READ_TIMEOUT_MS = 1000;

/**
 * health is etcd 3.4's checkHealth: unhealthy while an alarm is raised (unless its type is
 * excluded with ?exclude=NOSPACE), while no leader is known, or when a linearizable read does
 * not complete within a second.
 */
async function health(s: EtcdServer, excluded: ReadonlySet<string>): Promise<boolean> {
  for (const a of s.alarmList()) {
    if (!excluded.has(etcdserverpb.AlarmType[a.alarm] ?? String(a.alarm))) return false;
  }
  if (s.leader === 0n) return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      // As root: etcd's health read (a v2 QGET) is not subject to v3 auth.
      s.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("health") }), s.asRoot()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out")), HEALTH_READ_TIMEOUT_MS);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function send(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { "Content-Type": "application/json" }).end(body);
}
