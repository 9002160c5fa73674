import type { IncomingMessage, ServerResponse } from "node:http";
import { BCRYPT_DEFAULT_COST } from "@etcd-ts/auth";
import { V2AuthStore } from "./auth_store.js";
import { AUTH_PREFIX, V2Access, serveAuth } from "./http_auth.js";
import type { EtcdServer } from "../etcd_server.js";
import { hexId } from "../ids.js";
import { KEYS_PREFIX, methodNotAllowed, serveKeys } from "./http_keys.js";
import { MEMBERS_PREFIX, serveMachines, serveMembers } from "./http_members.js";
import { serverV2Backend, serverV2Members } from "./server_backend.js";
import { V2Store } from "./store.js";
import { StoreStats, type StoreOp } from "./stats.js";
import { actionsOf } from "./watch.js";
import type { V2Backend } from "./backend.js";

/** DEFAULT_V2_PREFIX is where --enable-v2 keeps the v2 tree when --experimental-enable-v2v3 gives no prefix. */
export const DEFAULT_V2_PREFIX = "/etcd-ts/v2";

/** AUTH_SUFFIX is appended to the prefix for the v2 auth store (users, roles, the enabled switch): out of the tree /v2/keys serves. */
export const AUTH_SUFFIX = "-auth";

/** V2Options are the v2 API's settings from the member's flags. */
export interface V2Options {
  /** bcryptCost is --bcrypt-cost, for v2 user passwords. */
  bcryptCost?: number;
  /** clientCertAuth is --client-cert-auth: a client certificate's CN can name the v2 user. */
  clientCertAuth?: boolean;
}

/** V2Handler serves one /v2/ request (true: answered). */
export type V2Handler = (req: IncomingMessage, res: ServerResponse, path: string, query: string) => boolean;

/**
 * v2Api is the v2 HTTP API of a member (--enable-v2): /v2/keys over the v3 store under
 * `prefix` (see store.ts), /v2/members, /v2/machines, /v2/auth (v2 users and roles, kept
 * under `prefix` + AUTH_SUFFIX, see auth_store.ts) and /v2/stats; other /v2/ paths are 404
 * as in etcd.
 */
export function v2Api(s: EtcdServer, prefix: string, opts: V2Options = {}): V2Handler {
  const backend = serverV2Backend(s);
  const store = new V2Store(backend, prefix);
  const auth = new V2AuthStore(new V2Store(backend, `${prefix}${AUTH_SUFFIX}`), opts.bcryptCost ?? BCRYPT_DEFAULT_COST);
  const access = new V2Access(auth, opts.clientCertAuth === true);
  const members = { ...serverV2Members(s), mayWrite: (req: IncomingMessage) => access.hasWriteRootAccess(req) };
  const clusterId = (): string => hexId(s.membership.clusterId);
  const stats = new StoreStats();
  countApplied(backend, store, stats, s.kv.currentRevision + 1n);
  return (req, res, path, query) => {
    if (path.startsWith(`${STATS_PREFIX}/`) && serveStats(s, stats, req, res, path)) return true;
    if (path === KEYS_PREFIX || path.startsWith(`${KEYS_PREFIX}/`)) {
      serveKeys({ store, clusterId, access, stats }, req, res, path, query);
      return true;
    }
    if (path.startsWith(`${AUTH_PREFIX}/`) && serveAuth(auth, access, clusterId, req, res, path)) return true;
    if (path === MEMBERS_PREFIX || path.startsWith(`${MEMBERS_PREFIX}/`)) {
      serveMembers(members, req, res, path);
      return true;
    }
    if (path === "/v2/machines") {
      serveMachines(() => s.members(), req, res);
      return true;
    }
    // etcd's v2 mux answers the rest with http.NotFound.
    req.resume();
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" }).end("404 page not found\n");
    return true;
  };
}

export { V2Store } from "./store.js";
export { V2Error } from "./errors.js";

/** STATS_PREFIX is the URL path of the v2 stats. */
export const STATS_PREFIX = "/v2/stats";

const OPS: Record<string, StoreOp> = {
  set: "sets",
  create: "create",
  update: "update",
  compareAndSwap: "compareAndSwap",
  delete: "delete",
  compareAndDelete: "compareAndDelete",
};

/**
 * countApplied counts the v2 writes and expirations this member applies, from `from` on,
 * as etcd's v2 store counts what it applies: a watch of the v2 tree for as long as the
 * member runs.
 */
function countApplied(backend: V2Backend, store: V2Store, stats: StoreStats, from: bigint): void {
  const [key, end] = store.layout.range;
  const feed = backend.watch(key, end, from);
  void (async () => {
    for (;;) {
      const r = await feed.next();
      if (r === undefined || r.compactRevision > 0n) return;
      for (const a of actionsOf(store.layout, r.events)) {
        if (a === "expire") stats.expired();
        else {
          const op = OPS[a];
          if (op !== undefined) stats.count(op, true);
        }
      }
    }
  })();
}

/**
 * serveStats answers /v2/stats/self, /v2/stats/leader (403 "not current leader" on a
 * follower) and /v2/stats/store, GET only, as etcd 3.4 serves them (see stats.ts).
 */
function serveStats(s: EtcdServer, stats: StoreStats, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const which = path.slice(STATS_PREFIX.length + 1);
  if (which !== "self" && which !== "leader" && which !== "store") return false;
  if (req.method !== "GET") {
    methodNotAllowed(res, ["GET"]);
    return true;
  }
  req.resume();
  if (which === "leader" && !s.isLeader) {
    res.writeHead(403, { "Content-Type": "application/json" }).end(JSON.stringify({ message: "not current leader" }));
    return true;
  }
  const body = which === "self" ? s.serverStats.json() : which === "leader" ? s.leaderStats.json() : stats.json();
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) }).end(body);
  return true;
}
