import { createSecureServer, createServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { Http2SecureServer, Http2Server, ServerHttp2Session } from "node:http2";
import { join } from "node:path";
import { rmSync } from "node:fs";
import type { TlsOptions } from "node:tls";
import { raftpb } from "@etcd-ts/proto";
import type { Logger } from "../log.js";
import { hexId } from "../ids.js";
import { H_CLUSTER_ID, H_FROM, MAX_BATCH_BYTES, PATH_MEMBERS, PATH_MESSAGES, PATH_PROMOTE, PATH_SNAPSHOT } from "./headers.js";
import { FrameReader, saveStream } from "./snapshot_stream.js";
import { createReadStream } from "node:fs";

/** PeerHandler is what the peer listener delivers to its member. */
export interface PeerHandler {
  clusterId(): bigint;
  /** step hands a message from a peer to raft. */
  step(m: raftpb.Message): void;
  /** stepSnapshot hands a MsgSnap whose data was saved to `path` to raft. */
  stepSnapshot(m: raftpb.Message, path: string): void;
  /** members is the membership for a joining member (GET /members), as JSON. */
  membersJson(): string;
  /** promote handles a MemberPromote forwarded by a follower (this member is the leader). */
  promote(id: bigint): Promise<{ status: number; body: string }>;
}

/**
 * PeerListener serves the peer URLs: raft message batches, snapshot streams, and the
 * membership for members joining an existing cluster. A request from another cluster
 * (cluster ID header mismatch) is refused with 412, as etcd refuses it.
 */
export class PeerListener {
  private constructor(
    private readonly servers: (Http2Server | Http2SecureServer)[],
    private readonly sessions: Set<ServerHttp2Session>,
  ) {}

  static async listen(
    urls: URL[],
    h: PeerHandler,
    logger: Logger,
    snapDir: string,
    tls?: TlsOptions,
  ): Promise<PeerListener> {
    let seq = 0;
    const onRequest = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
      const path = req.url;
      if (req.method === "GET" && path === PATH_MEMBERS) {
        res.writeHead(200, { "content-type": "application/json" }).end(h.membersJson());
        return;
      }
      const cid = req.headers[H_CLUSTER_ID];
      if (cid !== hexId(h.clusterId())) {
        logger.warn("rafthttp/http.ts", "request cluster ID mismatch", {
          "local-member-cluster-id": hexId(h.clusterId()),
          "remote-peer-cluster-id": String(cid),
          "remote-peer-id": String(req.headers[H_FROM]),
        });
        res.writeHead(412, { [H_CLUSTER_ID]: hexId(h.clusterId()) }).end("cluster ID mismatch");
        req.resume();
        return;
      }
      if (req.method === "POST" && path === PATH_MESSAGES) {
        const chunks: Buffer[] = [];
        let size = 0;
        req.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_BATCH_BYTES) {
            res.writeHead(413).end();
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        req.on("end", () => {
          if (res.headersSent) return;
          let batch: raftpb.MessageBatch;
          try {
            batch = raftpb.MessageBatch.decode(Buffer.concat(chunks));
          } catch {
            res.writeHead(400).end("bad message batch");
            return;
          }
          for (const m of batch.messages) h.step(m);
          res.writeHead(204).end();
        });
        return;
      }
      if (req.method === "POST" && path === PATH_SNAPSHOT) {
        const file = join(snapDir, `incoming-${process.pid}-${++seq}.snapstream`);
        void (async () => {
          await saveStream(req, file);
          const first = await new FrameReader(createReadStream(file)).next();
          if (first === undefined) throw new Error("empty snapshot stream");
          const m = raftpb.Message.decode(first);
          logger.info("rafthttp/http.ts", "receiving database snapshot", {
            "remote-snapshot-sender-id": hexId(m.from),
            "incoming-snapshot-index": m.snapshot?.metadata?.index ?? 0n,
          });
          h.stepSnapshot(m, file);
          res.writeHead(204).end();
        })().catch((err: unknown) => {
          rmSync(file, { force: true });
          logger.warn("rafthttp/http.ts", "failed to receive snapshot", { error: String(err) });
          if (!res.headersSent) res.writeHead(500).end();
        });
        return;
      }
      if (req.method === "POST" && path.startsWith(PATH_PROMOTE)) {
        let id: bigint;
        try {
          id = BigInt(`0x${path.slice(PATH_PROMOTE.length)}`);
        } catch {
          res.writeHead(400).end();
          return;
        }
        req.resume();
        void h.promote(id).then(
          (r) => res.writeHead(r.status, { "content-type": "application/json" }).end(r.body),
          () => res.writeHead(500).end(),
        );
        return;
      }
      res.writeHead(404).end();
      req.resume();
    };
    const servers: (Http2Server | Http2SecureServer)[] = [];
    const sessions = new Set<ServerHttp2Session>();
    for (const u of urls) {
      const s = tls !== undefined ? createSecureServer({ ...tls, allowHTTP1: false }, onRequest) : createServer(onRequest);
      s.on("session", (session: ServerHttp2Session) => {
        sessions.add(session);
        session.on("close", () => sessions.delete(session));
      });
      const host = u.hostname === "localhost" ? "127.0.0.1" : u.hostname.replace(/^\[|\]$/g, "");
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(Number(u.port), host, () => {
          s.off("error", reject);
          resolve();
        });
      });
      logger.info("embed/etcd.ts", "serving peer traffic", { address: `${host}:${u.port}` });
      servers.push(s);
    }
    return new PeerListener(servers, sessions);
  }

  /** close stops listening and drops every peer session, so peers see this member go away. */
  async close(): Promise<void> {
    const closed = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const session of this.sessions) session.destroy();
    this.sessions.clear();
    // The listening sockets are closed at once; do not let a lingering stream hold shutdown.
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
