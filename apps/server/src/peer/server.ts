import { createServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { Http2Server, ServerHttp2Session } from "node:http2";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { join } from "node:path";
import { rmSync, unlinkSync } from "node:fs";
import { createServer as createTlsServer, type TlsOptions, type TLSSocket } from "node:tls";
import { etcdserverpb, leasepb, raftpb } from "@etcd-ts/proto";
import type { Logger } from "../log.js";
import { hexId } from "../ids.js";
import { isTlsUrl, listenTarget, remoteAddress, targetAddress, type ListenTarget } from "../listener.js";
import { serverTlsOptions } from "../tls/server_options.js";
import type { TlsInfo } from "../tls/tls_info.js";
import { CERT_NOT_ALLOWED, certificateNames } from "../tls/allowed_names.js";
import { checkClientCertificate, needsClientCheck } from "../tls/verify.js";
import {
  H_CLUSTER_ID,
  H_FROM,
  MAX_BATCH_BYTES,
  MAX_LEASE_REQUEST_BYTES,
  PATH_HASHKV,
  PATH_LEASES,
  PATH_LEASES_INTERNAL,
  PATH_MEMBERS,
  PATH_MESSAGES,
  PATH_PROMOTE,
  PATH_SNAPSHOT,
  PATH_PROBING,
  PATH_STREAM,
  PATH_VERSION,
} from "./headers.js";
import { saveStream, verifySnapshotFile } from "./snapshot_stream.js";

/** PeerHandler is what the peer listener delivers to its member. */
export interface PeerHandler {
  clusterId(): bigint;
  /** step hands a message from a peer to raft. */
  step(m: raftpb.Message): void;
  /** stepSnapshot hands a MsgSnap whose data was saved to `path` to raft. */
  stepSnapshot(m: raftpb.Message, path: string): void;
  /** members is the membership for a joining member (GET /members), as JSON. */
  membersJson(): string;
  /** versionJson is {"etcdserver": ..., "etcdcluster": ...} for GET /version. */
  versionJson(): string;
  /** promote handles a MemberPromote forwarded by a follower (this member is the leader). */
  promote(id: bigint): Promise<{ status: number; body: string }>;
  /** isRemoved reports whether member `id` was removed from the cluster (its messages are refused with 410). */
  isRemoved(id: bigint): boolean;
  /** hashKV is this member's HashKV at `revision` (0: current); it throws mvcc's compacted/future errors. */
  hashKV(revision: bigint): Promise<etcdserverpb.HashKVResponse>;
  /** leaseRenew renews a lease for a follower (leader only); throws leaseNotFound or a refusal. */
  leaseRenew(id: bigint): Promise<{ ttl: bigint; header: etcdserverpb.ResponseHeader }>;
  /** leaseTimeToLive answers TimeToLive for a follower (leader only); throws leaseNotFound or a refusal. */
  leaseTimeToLive(req: etcdserverpb.LeaseTimeToLiveRequest): etcdserverpb.LeaseTimeToLiveResponse;
  /** isLeaseNotFound tells the lease-not-found error apart from other refusals. */
  isLeaseNotFound(err: unknown): boolean;
  /**
   * attachStream serves a peer's message stream (POST /raft/stream, see stream.ts) once its
   * cluster ID and membership were checked; without it the path answers 404.
   */
  attachStream?(req: Http2ServerRequest, res: Http2ServerResponse): void;
  /** received counts `bytes` of a raft message batch POSTed by peer `from` (the metrics' received bytes). */
  received?(from: bigint, bytes: number): void;
}

/** MAX_HASHKV_REQUEST_BYTES bounds a HashKV request's body (one varint field). */
const MAX_HASHKV_REQUEST_BYTES = 64;

/**
 * PeerListenerTls is the peer side's TLS for https:// and unixs:// peer URLs: the prepared
 * settings (certificate, trusted CA, client certificate auth, CRL, allowed CN or hostname)
 * and whether to skip
 * etcd's check that a peer's certificate names its address
 * (--experimental-peer-skip-client-san-verification).
 */
export interface PeerListenerTls {
  info: TlsInfo;
  skipClientSanVerify: boolean;
}

/**
 * PeerListener serves the peer URLs: raft message batches, snapshot streams, and the
 * membership for members joining an existing cluster. A request from another cluster
 * (cluster ID header mismatch) is refused with 412, as etcd refuses it. URLs are http://,
 * https://, unix:// or unixs:// (a unix socket file named host:port, replaced if it exists,
 * as etcd's NewUnixListener does). On TLS URLs, after the handshake, a peer's certificate
 * is checked as etcd's peer listener checks it (--peer-cert-allowed-cn or
 * --peer-cert-allowed-hostname, its SAN against the peer's address, the CRL) before its
 * connection is served. A POSTed message batch longer than `maxBatchBytes`
 * (peerBatchLimit(--max-request-bytes); the peers' transports send batches under it) is
 * answered 413.
 */
export class PeerListener {
  private constructor(
    private readonly servers: NetServer[],
    private readonly sessions: Set<ServerHttp2Session>,
  ) {}

  static async listen(
    urls: URL[],
    h: PeerHandler,
    logger: Logger,
    snapDir: string,
    tls?: PeerListenerTls,
    maxBatchBytes: number = MAX_BATCH_BYTES,
  ): Promise<PeerListener> {
    let seq = 0;
    const onRequest = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
      const path = req.url;
      if (req.method === "GET" && path === PATH_MEMBERS) {
        res.writeHead(200, { "content-type": "application/json" }).end(h.membersJson());
        return;
      }
      if (req.method === "GET" && path === PATH_PROBING) {
        // etcd's probing handler: no cluster check, the time as Go encodes a probing.Health.
        res.writeHead(200, { "content-type": "application/json" }).end(`${JSON.stringify({ OK: true, Now: new Date().toISOString() })}\n`);
        req.resume();
        return;
      }
      if (req.method === "GET" && path === PATH_VERSION) {
        res.writeHead(200, { "content-type": "application/json" }).end(h.versionJson());
        req.resume();
        return;
      }
      const cid = req.headers[H_CLUSTER_ID];
      if (cid !== hexId(h.clusterId())) {
        logger.warn("request cluster ID mismatch", {
          "local-member-cluster-id": hexId(h.clusterId()),
          "remote-peer-cluster-id": String(cid),
          "remote-peer-id": String(req.headers[H_FROM]),
        });
        res.writeHead(412, { [H_CLUSTER_ID]: hexId(h.clusterId()) }).end("cluster ID mismatch");
        req.resume();
        return;
      }
      const from = parseMemberId(req.headers[H_FROM]);
      if (from !== undefined && h.isRemoved(from)) {
        // etcd answers a removed member's traffic with 410 Gone, which stops it.
        logger.warn("rejected stream from remote peer because it was removed", {
          "remote-peer-id-from": hexId(from),
        });
        res.writeHead(410).end("removed member");
        req.resume();
        return;
      }
      if (req.method === "POST" && path === PATH_MESSAGES) {
        readBody(req, res, maxBatchBytes, (body) => {
          let batch: raftpb.MessageBatch;
          try {
            batch = raftpb.MessageBatch.decode(body);
          } catch {
            res.writeHead(400).end("bad message batch");
            return;
          }
          if (from !== undefined) h.received?.(from, body.length);
          for (const m of batch.messages) h.step(m);
          res.writeHead(204).end();
        });
        return;
      }
      if (req.method === "POST" && path === PATH_STREAM && h.attachStream !== undefined) {
        h.attachStream(req, res);
        return;
      }
      if (req.method === "POST" && path === PATH_SNAPSHOT) {
        const file = join(snapDir, `incoming-${process.pid}-${++seq}.snapstream`);
        void (async () => {
          await saveStream(req, file);
          // A stream cut short or damaged is refused here (the leader retries), before raft sees it.
          const v = await verifySnapshotFile(file);
          const m = v.message;
          const raftIndex = m.snapshot?.metadata?.index ?? 0n;
          if (m.snapshot === undefined || v.metadata.index < raftIndex) {
            throw new Error(`peer: snapshot file ${file} holds index ${v.metadata.index}, below the snapshot index ${raftIndex} it was sent for`);
          }
          logger.info("receiving database snapshot", {
            "remote-snapshot-sender-id": hexId(m.from),
            "incoming-snapshot-index": v.metadata.index,
          });
          // Raft installs the snapshot the data is: at the backend's consistent index (see
          // EtcdServer.writeSnapshot), which is at or after the sender's raft snapshot.
          h.stepSnapshot({ ...m, snapshot: { ...m.snapshot, metadata: v.metadata } }, file);
          res.writeHead(204).end();
        })().catch((err: unknown) => {
          rmSync(file, { force: true });
          logger.warn("failed to receive snapshot", { error: String(err) });
          if (!res.headersSent) res.writeHead(500).end();
        });
        return;
      }
      if (req.method === "POST" && (path === PATH_LEASES || path === PATH_LEASES_INTERNAL)) {
        serveLease(req, res, h, path === PATH_LEASES);
        return;
      }
      if (req.method === "POST" && path === PATH_HASHKV) {
        serveHashKV(req, res, h, logger);
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
    const servers: NetServer[] = [];
    const sessions = new Set<ServerHttp2Session>();
    const h2: Http2Server = createServer(onRequest);
    h2.on("session", (session: ServerHttp2Session) => {
      sessions.add(session);
      session.on("close", () => sessions.delete(session));
    });
    const tlsOptions = tls === undefined ? undefined : { ...serverTlsOptions(tls.info), ALPNProtocols: ["h2"] };
    try {
      for (const u of urls) {
        const target = listenTarget(u);
        let s: NetServer;
        if (isTlsUrl(u)) {
          if (tls === undefined || tlsOptions === undefined) throw new Error(`cannot listen on TLS for ${targetAddress(target)}: KeyFile and CertFile are not presented`);
          s = tlsServer(h2, tlsOptions, tls, logger);
        } else {
          s = plainServer(h2);
        }
        await listenOn(s, target);
        logger.info("serving peer traffic", { address: targetAddress(target) });
        servers.push(s);
      }
    } catch (err) {
      await new PeerListener(servers, sessions).close();
      throw err;
    }
    return new PeerListener(servers, sessions);
  }

  /** addresses are what the listener serves: "host:port" or a unix socket file, one per URL. */
  get addresses(): string[] {
    return this.servers.map((s) => {
      const a = s.address();
      if (a === null) return "";
      return typeof a === "string" ? a : `${a.address}:${a.port}`;
    });
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

/**
 * readBody collects a request body of at most maxBytes and hands it to done; a longer body is
 * answered 413 and the request destroyed (done never runs).
 */
function readBody(req: Http2ServerRequest, res: Http2ServerResponse, maxBytes: number, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size > maxBytes) {
      if (!res.headersSent) res.writeHead(413).end();
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => {
    if (res.headersSent) return;
    done(Buffer.concat(chunks));
  });
}

/** parseMemberId reads a hex member ID header (undefined when absent or malformed). */
function parseMemberId(v: string | string[] | undefined): bigint | undefined {
  if (typeof v !== "string" || !/^[0-9a-f]{1,16}$/.test(v)) return undefined;
  return BigInt(`0x${v}`);
}

/**
 * serveHashKV answers a peer's HashKV request (a protobuf HashKVRequest; the answer a
 * HashKVResponse whose header holds the hashed revision), as etcd's hashKVHandler does: an
 * mvcc error (compacted, future revision) is a 400 carrying its message.
 */
function serveHashKV(req: Http2ServerRequest, res: Http2ServerResponse, h: PeerHandler, logger: Logger): void {
  readBody(req, res, MAX_HASHKV_REQUEST_BYTES, (body) => {
    let revision: bigint;
    try {
      revision = etcdserverpb.HashKVRequest.decode(body).revision;
    } catch {
      res.writeHead(400).end("error unmarshalling request");
      return;
    }
    h.hashKV(revision).then(
      (r) => res.writeHead(200, { "content-type": "application/protobuf" }).end(Buffer.from(etcdserverpb.HashKVResponse.encode(r).finish())),
      (err: unknown) => {
        logger.warn("failed to get hashKV", { "requested-revision": revision, error: (err as Error)?.message ?? String(err) });
        res.writeHead(400).end((err as Error)?.message ?? String(err));
      },
    );
  });
}

/**
 * serveLease answers a follower's forwarded keep-alive (renew: a LeaseKeepAliveRequest in, a
 * LeaseKeepAliveResponse out) or TimeToLive (a LeaseInternalRequest in, a
 * LeaseInternalResponse out), as etcd's leasehttp handler: 404 when the lease is not found,
 * 503 when this member cannot answer (not the leader, or its lessor not yet primary).
 */
function serveLease(req: Http2ServerRequest, res: Http2ServerResponse, h: PeerHandler, renew: boolean): void {
  readBody(req, res, MAX_LEASE_REQUEST_BYTES, (body) => {
    void (async (): Promise<Uint8Array | undefined> => {
      if (renew) {
        const id = etcdserverpb.LeaseKeepAliveRequest.decode(body).ID;
        const r = await h.leaseRenew(id);
        return etcdserverpb.LeaseKeepAliveResponse.encode({ header: r.header, ID: id, TTL: r.ttl }).finish();
      }
      const ir = leasepb.LeaseInternalRequest.decode(body).LeaseTimeToLiveRequest;
      if (ir === undefined) return undefined;
      return leasepb.LeaseInternalResponse.encode({ LeaseTimeToLiveResponse: h.leaseTimeToLive(ir) }).finish();
    })().then(
      (out) => {
        if (out === undefined) res.writeHead(400).end("error unmarshalling request");
        else res.writeHead(200, { "content-type": "application/protobuf" }).end(Buffer.from(out));
      },
      (err: unknown) => {
        if (h.isLeaseNotFound(err)) res.writeHead(404).end("lease not found");
        else res.writeHead(503).end((err as Error)?.message ?? String(err));
      },
    );
  });
}

/**
 * tlsServer accepts TLS connections for the peer HTTP/2 server `h2`: after the handshake the
 * peer's certificate gets etcd's checks (allowed CN or hostname, SAN unless skipped, CRL); a
 * connection that fails them is logged and closed, one that passes is handed to `h2`.
 *
 * etcd checks the allowed CN and hostname in the handshake, so the peer it refuses gets a
 * "bad certificate" alert and knows why. Node has no hook there, and no way to send an alert
 * once the handshake is done; the listener tells the peer instead in HTTP/2, the protocol it
 * expects: an HTTP/2 GOAWAY with INADEQUATE_SECURITY and etcd's error as its debug data
 * (refuseWithReason), which the peer's transport logs. A SAN or CRL refusal is a plain close,
 * as in etcd, which checks those after the handshake too.
 */
function tlsServer(h2: Http2Server, options: TlsOptions, tls: PeerListenerTls, logger: Logger): NetServer {
  const checkSan = !tls.skipClientSanVerify;
  const reject = (socket: TLSSocket, why: string): void => {
    if (why === CERT_NOT_ALLOWED) {
      // etcd's logTLSHandshakeFailure fields, the certificate's names included.
      const cert = socket.getPeerCertificate();
      const names = cert !== null && typeof cert === "object" && cert.raw !== undefined ? certificateNames(cert) : undefined;
      logger.warn("rejected connection", {
        "remote-addr": remoteAddress(socket),
        "server-name": typeof socket.servername === "string" ? socket.servername : "",
        ...(names === undefined ? {} : { "ip-addresses": names.ips, "dns-names": names.dns }),
        error: why,
      });
      refuseWithReason(socket, why);
      return;
    }
    logger.warn("rejected connection", { "remote-addr": remoteAddress(socket), error: why });
    socket.destroy();
  };
  const s = createTlsServer(options, (socket: TLSSocket) => {
    socket.on("error", () => socket.destroy());
    socket.setNoDelay(true);
    if (!needsClientCheck(tls.info, checkSan)) {
      h2.emit("connection", socket);
      return;
    }
    // Until the checks pass nothing reads the socket: what the peer sends meanwhile stays
    // buffered, and the HTTP/2 session takes it over when the connection is handed to it.
    void checkClientCertificate(tls.info, socket, checkSan).then(
      (why) => {
        if (why !== undefined) {
          reject(socket, why);
          return;
        }
        h2.emit("connection", socket);
      },
      (err: unknown) => reject(socket, String(err)),
    );
  });
  s.on("tlsClientError", (err: Error, socket: TLSSocket) => {
    const reason = (err as Error & { reason?: string }).reason;
    logger.warn("rejected connection", { "remote-addr": remoteAddress(socket), error: reason !== undefined ? `tls: ${reason}` : err.message });
  });
  return s;
}

/** H2_INADEQUATE_SECURITY is HTTP/2's error code 0xc, "the transport does not meet minimum security requirements" (RFC 9113). */
const H2_INADEQUATE_SECURITY = 0xc;
/** REFUSAL_LINGER_MS bounds how long a refused connection stays open for the peer to read the refusal. */
const REFUSAL_LINGER_MS = 1000;

/**
 * refuseWithReason ends a connection this listener will not serve by writing, in place of
 * HTTP/2 service, the server's connection preface (an empty SETTINGS frame) and a GOAWAY
 * frame (last stream 0, INADEQUATE_SECURITY) whose debug data is `why`. Nothing the peer
 * sent is parsed: its bytes are read and dropped so that the close is orderly and the peer
 * gets the frames before the connection ends.
 */
function refuseWithReason(socket: TLSSocket, why: string): void {
  const debug = Buffer.from(why, "utf8");
  const frames = Buffer.alloc(9 + 9 + 8 + debug.length);
  // SETTINGS: length 0, type 0x4, no flags, stream 0.
  frames[3] = 0x4;
  // GOAWAY: length 8 + debug, type 0x7, no flags, stream 0; last stream ID 0, the error code, the debug data.
  frames.writeUIntBE(8 + debug.length, 9, 3);
  frames[12] = 0x7;
  frames.writeUInt32BE(0, 18);
  frames.writeUInt32BE(H2_INADEQUATE_SECURITY, 22);
  debug.copy(frames, 26);
  socket.resume();
  socket.end(frames);
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}

/** plainServer is a plaintext listening socket that hands its connections to `h2`. */
function plainServer(h2: Http2Server): NetServer {
  // Raft messages are small and latency-bound: no Nagle (Go, and so etcd, sets TCP_NODELAY too).
  return createNetServer({ noDelay: true }, (socket) => h2.emit("connection", socket));
}

/** listenOn binds a server to a TCP address, or to a unix socket file after removing any file already there (etcd's NewUnixListener). */
async function listenOn(s: NetServer, target: ListenTarget): Promise<void> {
  if ("path" in target) {
    try {
      unlinkSync(target.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    const ready = (): void => {
      s.off("error", reject);
      resolve();
    };
    if ("path" in target) s.listen(target.path, ready);
    else s.listen(target.port, target.host, ready);
  });
}
