import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { Server as GrpcServer } from "@grpc/grpc-js";
import { ServerCredentials } from "@grpc/grpc-js";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * ClientListener serves gRPC and HTTP/1.1 on one port, like etcd's cmux: it reads the first
 * bytes of each connection; the HTTP/2 preface goes to grpc-js (through its connection
 * injector), anything else to the HTTP handler.
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
    grpc: GrpcServer,
    http: (req: IncomingMessage, res: ServerResponse) => void,
  ): Promise<ClientListener> {
    const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure());
    const httpServer = createHttpServer(http);
    const net = createNetServer((socket) => {
      l.sockets.add(socket);
      socket.on("close", () => l.sockets.delete(socket));
      socket.setNoDelay(true);
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
          injector.injectConnection(socket);
        } else {
          httpServer.emit("connection", socket);
          socket.resume();
        }
      };
      socket.on("data", onData);
      socket.on("error", () => socket.destroy());
    });
    const l = new ClientListener(net);
    await new Promise<void>((resolve, reject) => {
      net.once("error", reject);
      net.listen(port, host, () => {
        net.off("error", reject);
        resolve();
      });
    });
    return l;
  }

  /** close stops accepting and ends open connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.net.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}
