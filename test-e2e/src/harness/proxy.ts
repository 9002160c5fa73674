import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * TcpProxy forwards a loopback port to another; a test cuts it to partition a member from
 * the traffic its peers send it (new connections are refused, open ones are dropped).
 */
export class TcpProxy {
  private cut = false;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  private constructor(
    readonly port: number,
    private readonly target: number,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  static async start(port: number, target: number): Promise<TcpProxy> {
    const p = new TcpProxy(port, target);
    await new Promise<void>((resolve, reject) => {
      p.server.once("error", reject);
      p.server.listen(port, "127.0.0.1", () => resolve());
    });
    return p;
  }

  private accept(client: Socket): void {
    if (this.cut) {
      client.destroy();
      return;
    }
    const upstream = connect(this.target, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** partition refuses new connections and drops the open ones. */
  partition(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
