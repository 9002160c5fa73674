import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * TcpProxy forwards a loopback port to another; a test cuts it to partition a member from
 * the traffic its peers send it (new connections are refused, open ones are dropped), or
 * blackholes it: connections stay open and silent, nothing is lost, and what was held back
 * is delivered when healed, as TCP does across a network that drops everything for a while.
 */
export class TcpProxy {
  private cut = false;
  private silent = false;
  /** held is what arrived while blackholed, in arrival order, with the socket it goes to (null: the sender's end). */
  private held: Array<{ to: Socket; data: Buffer | null }> = [];
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
    // Forwarded by hand, not piped: a piped stream that was paused resumes on its own.
    const relay = (from: Socket, to: Socket): void => {
      from.on("data", (data: Buffer) => (this.silent ? this.held.push({ to, data }) : to.write(data)));
      from.on("end", () => (this.silent ? this.held.push({ to, data: null }) : to.end()));
    };
    relay(client, upstream);
    relay(upstream, client);
  }

  /** partition refuses new connections and drops the open ones. */
  partition(): void {
    this.cut = true;
    this.held = [];
    for (const s of this.sockets) s.destroy();
  }

  /**
   * blackhole stops forwarding in both directions without closing anything: what arrives is
   * held back (the senders see silence) and delivered, in order, when healed.
   */
  blackhole(): void {
    this.silent = true;
  }

  heal(): void {
    this.cut = false;
    this.silent = false;
    for (const h of this.held.splice(0)) {
      if (h.to.destroyed) continue;
      if (h.data === null) h.to.end();
      else h.to.write(h.data);
    }
  }

  async close(): Promise<void> {
    this.partition();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
