import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import type { Logger } from "./log.js";
import { serverTlsOptions } from "./tls/server_options.js";
import type { TlsInfo } from "./tls/tls_info.js";
import { checkClientCertificate, needsClientCheck } from "./tls/verify.js";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/**
 * ClientListenerTls makes a ClientListener serve TLS (an https:// client URL): the prepared
 * TLS settings (see prepareTls) and the logger for rejected handshakes.
 */
export interface ClientListenerTls {
  info: TlsInfo;
  logger: Logger;
}

/** ListenTarget is what a listener binds: a TCP host and port, or a unix socket file. */
export type ListenTarget = { host: string; port: number } | { path: string };

/** isTlsUrl reports whether a listen URL is served over TLS: https:// and unixs://, as etcd's wrapTLS decides. */
export function isTlsUrl(u: URL): boolean {
  return u.protocol === "https:" || u.protocol === "unixs:";
}

/**
 * listenTarget maps a listen URL to what to bind, as etcd does: for unix:// and unixs:// the
 * socket file named by the URL's host:port (etcd's u.Host + u.Path; paths are refused by the
 * config), relative to the working directory, so `unix://localhost:2379` listens on the file
 * `localhost:2379`; for http:// and https:// the host (localhost as 127.0.0.1) and port.
 */
export function listenTarget(u: URL): ListenTarget {
  if (u.protocol === "unix:" || u.protocol === "unixs:") return { path: u.host + u.pathname };
  const host = u.hostname === "localhost" ? "127.0.0.1" : u.hostname.replace(/^\[|\]$/g, "");
  return { host, port: Number(u.port) };
}

/** targetAddress is a target as logs show it: "host:port", or the socket file. */
export function targetAddress(t: ListenTarget): string {
  return "path" in t ? t.path : `${t.host}:${t.port}`;
}

/** remoteAddress is a connection's remote "ip:port", or "@" for a unix socket peer (as Go names it). */
export function remoteAddress(socket: Socket): string {
  return socket.remoteAddress === undefined ? "@" : `${socket.remoteAddress}:${socket.remotePort}`;
}

/**
 * ClientListener serves gRPC and HTTP/1.1 on one port (or unix socket), like etcd's cmux: it reads the first
 * bytes of each connection; the HTTP/2 preface goes to the gRPC server (a GrpcServer),
 * anything else to the HTTP handler. With TLS the same split runs on the decrypted
 * stream after the handshake; ALPN prefers http/1.1 when the client offers it, so curl and
 * browsers get the HTTP handler while gRPC clients (which offer only h2) get HTTP/2.
 */
export class ClientListener {
  private readonly net: NetServer;
  private readonly sockets = new Set<Socket>();

  private constructor(net: NetServer) {
    this.net = net;
  }

  /**
   * listenUrl serves one --listen-client-urls URL: TLS with `tlsInfo` for https:// and
   * unixs://, plaintext for http:// and unix://; it logs the address it serves, as etcd does.
   */
  static async listenUrl(
    u: URL,
    grpc: { injectConnection(socket: Duplex): void },
    http: (req: IncomingMessage, res: ServerResponse) => void,
    tlsInfo: TlsInfo | undefined,
    logger: Logger,
  ): Promise<ClientListener> {
    const target = listenTarget(u);
    const tls = isTlsUrl(u) && tlsInfo !== undefined ? { info: tlsInfo, logger } : undefined;
    const l = await ClientListener.listenOn(target, grpc, http, tls);
    const msg = tls !== undefined ? "serving client traffic securely" : "serving client traffic insecurely; this is strongly discouraged!";
    logger.info(msg, { address: targetAddress(target) });
    return l;
  }

  /** listen serves on a TCP host and port (port 0: an ephemeral port, see `port`). */
  static listen(
    host: string,
    port: number,
    grpc: { injectConnection(socket: Duplex): void },
    http: (req: IncomingMessage, res: ServerResponse) => void,
    tls?: ClientListenerTls,
  ): Promise<ClientListener> {
    return ClientListener.listenOn({ host, port }, grpc, http, tls);
  }

  /**
   * listenOn serves on a TCP address or a unix socket file. Like etcd's client listener, a
   * file already at the socket path is not removed: listening then fails (address in use).
   */
  static async listenOn(
    target: ListenTarget,
    grpc: { injectConnection(socket: Duplex): void },
    http: (req: IncomingMessage, res: ServerResponse) => void,
    tls?: ClientListenerTls,
  ): Promise<ClientListener> {
    const httpServer = createHttpServer(http);
    const dispatch = (socket: Socket): void => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const n = Math.min(head.length, H2_PREFACE.length);
        const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
        if (isH2 && head.length < H2_PREFACE.length) return; // need more bytes to decide
        socket.off("data", onData);
        if (isH2) {
          // The gRPC server's connection reads the preface again from the stream and resumes it.
          socket.pause();
          socket.unshift(head);
          grpc.injectConnection(socket);
        } else {
          socket.pause();
          socket.unshift(head);
          httpServer.emit("connection", socket);
          socket.resume();
        }
      };
      socket.on("data", onData);
    };
    let server: NetServer;
    if (tls === undefined) {
      server = createNetServer(dispatch);
    } else {
      const { info, logger } = tls;
      const tlsServer = createTlsServer({ ...serverTlsOptions(info), ALPNProtocols: ["http/1.1", "h2"] }, (socket: TLSSocket) => {
        socket.on("error", () => socket.destroy());
        if (!needsClientCheck(info, false)) {
          dispatch(socket);
          return;
        }
        void checkClientCertificate(info, socket, false).then((why) => {
          if (why === undefined) {
            dispatch(socket);
            return;
          }
          logger.warn("rejected connection", { "remote-addr": remoteAddress(socket), error: why });
          socket.destroy();
        });
      });
      tlsServer.on("tlsClientError", (err: Error, socket: TLSSocket) => {
        logger.warn("rejected connection", {
          "remote-addr": remoteAddress(socket),
          "server-name": socket.servername === false ? "" : (socket.servername ?? ""),
          error: handshakeError(err),
        });
      });
      server = tlsServer;
    }
    // Raw connections are tracked (before any handshake) so that close() can end them all.
    server.on("connection", (socket: Socket) => {
      l.sockets.add(socket);
      socket.on("close", () => l.sockets.delete(socket));
      socket.setNoDelay(true);
      socket.on("error", () => socket.destroy());
    });
    const l = new ClientListener(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      const ready = (): void => {
        server.off("error", reject);
        resolve();
      };
      if ("path" in target) server.listen(target.path, ready);
      else server.listen(target.port, target.host, ready);
    });
    return l;
  }

  /** port is the TCP port listened on (useful after listening on port 0); 0 on a unix socket. */
  get port(): number {
    const a = this.net.address();
    return a !== null && typeof a === "object" ? (a as AddressInfo).port : 0;
  }

  /** close stops accepting and ends open connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.net.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}

/** handshakeError words a failed TLS handshake briefly: OpenSSL's reason, not its whole error stack. */
function handshakeError(err: Error): string {
  const reason = (err as Error & { reason?: string }).reason;
  return reason !== undefined ? `tls: ${reason}` : err.message;
}
