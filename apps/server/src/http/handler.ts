import type { IncomingMessage, ServerResponse } from "node:http";
import type { EtcdServer } from "../etcd_server.js";
import { CLUSTER_VERSION, SERVER_VERSION } from "../etcd_server.js";

/**
 * httpHandler serves the HTTP/1.1 side of the client port: /version and /health, with
 * etcd's bodies. /health does a linearizable read of "health" like etcd 3.4, so it fails
 * when the member cannot reach consensus.
 */
export function httpHandler(s: EtcdServer): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/version") {
      send(res, 200, JSON.stringify({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION }));
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
