import type { IncomingMessage, ServerResponse } from "node:http";
import type { EtcdServer } from "../etcd_server.js";
import { hexId } from "../ids.js";
import { KEYS_PREFIX, serveKeys } from "./http_keys.js";
import { MEMBERS_PREFIX, serveMachines, serveMembers } from "./http_members.js";
import { serverV2Backend, serverV2Members } from "./server_backend.js";
import { V2Store } from "./store.js";

/** DEFAULT_V2_PREFIX is where --enable-v2 keeps the v2 tree when --experimental-enable-v2v3 gives no prefix. */
export const DEFAULT_V2_PREFIX = "/etcd-ts/v2";

/** V2Handler serves one /v2/ request (true: answered). */
export type V2Handler = (req: IncomingMessage, res: ServerResponse, path: string, query: string) => boolean;

/**
 * v2Api is the v2 HTTP API of a member (--enable-v2): /v2/keys over the v3 store under
 * `prefix` (see store.ts), /v2/members and /v2/machines; other /v2/ paths are 404 as in etcd.
 */
export function v2Api(s: EtcdServer, prefix: string): V2Handler {
  const store = new V2Store(serverV2Backend(s), prefix);
  const members = serverV2Members(s);
  const clusterId = (): string => hexId(s.membership.clusterId);
  return (req, res, path, query) => {
    if (path === KEYS_PREFIX || path.startsWith(`${KEYS_PREFIX}/`)) {
      serveKeys({ store, clusterId }, req, res, path, query);
      return true;
    }
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
