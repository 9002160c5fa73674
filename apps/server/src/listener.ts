import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import type { GrpcLiteServer } from "./grpc/lite_server.js";
import type { Logger } from "./log.js";
import { serverTlsOptions } from "./tls/server_options.js";
import type { TlsInfo } from "./tls/tls_info.js";
import { checkClientCertificate } from "./tls/verify.js";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * ClientListenerTls makes a ClientListener serve TLS (an https:// client URL): the prepared
 * TLS settings (see prepareTls) and the logger for rejected handshakes.
 */
export interface ClientListenerTls {
  info: TlsInfo;
  logger: Logger;
}

/**
 * ClientListener serves gRPC and HTTP/1.1 on one port, like etcd's cmux: it reads the first
 * bytes of each connection; the HTTP/2 preface goes to the gRPC server (GrpcLiteServer),
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

  static async listen(
    host: string,
    port: number,
    grpc: GrpcLiteServer,
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
        socket.pause();
        socket.unshift(head);
        if (isH2) {
          // The HTTP/2 session takes the bytes already read from the stream's buffer itself
          // (Http2Session reads socket.readableLength on setup); resuming here would drop them.
          grpc.injectConnection(socket);
        } else {
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
        if (info.allowedHostname === undefined && info.allowedCn === undefined) {
          dispatch(socket);
          return;
        }
        void checkClientCertificate(info, socket, false).then((why) => {
          if (why === undefined) {
            dispatch(socket);
            return;
          }
          logger.warn("embed/config.ts", "rejected connection", { "remote-addr": `${socket.remoteAddress}:${socket.remotePort}`, error: why });
          socket.destroy();
        });
      });
      tlsServer.on("tlsClientError", (err: Error, socket: TLSSocket) => {
        logger.warn("embed/config.ts", "rejected connection", {
          "remote-addr": `${socket.remoteAddress}:${socket.remotePort}`,
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
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return l;
  }

  /** port is the TCP port listened on (useful after listening on port 0). */
  get port(): number {
    return (this.net.address() as AddressInfo).port;
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
