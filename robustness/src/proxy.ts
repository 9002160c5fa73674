import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * LinkFault is what a FaultProxy does to the bytes crossing it:
 * - "none": forwards both ways;
 * - "blackhole-in": holds back every byte sent toward the member until healed (connections
 *   stay open and nothing is lost, as TCP retransmits across a real blackhole: the sender
 *   sees silence, not an error; the member is deaf to the peers that dial it);
 * - "blackhole-out": holds back every byte the member sends back on connections to its port;
 * - "blackhole-both": both of the above;
 * - "partition": refuses new connections and resets the open ones;
 * - "delay": forwards both ways after `delayMs`.
 */
export type LinkFault = "none" | "blackhole-in" | "blackhole-out" | "blackhole-both" | "partition" | "delay";

/** Link is one proxied connection: the peer's side, the member's side, and bytes held back in each direction. */
interface Link {
  client: Socket;
  upstream: Socket;
  held: { in: Buffer[]; out: Buffer[] };
}

/**
 * FaultProxy forwards a loopback port (what peers dial: the member's advertised peer URL) to
 * the member's real peer port, and injects a LinkFault. It sees TCP connections, not
 * messages: which raft messages a fault hits depends on which side of a connection carries
 * them (etcd-ts sends a member's messages on connections it opens to its peers; etcd's
 * streams carry them on connections its peers opened to it).
 */
export class FaultProxy {
  private mode: LinkFault = "none";
  private delayMs = 0;
  private readonly links = new Set<Link>();
  private readonly server: Server;

  private constructor(
    readonly port: number,
    private readonly target: number,
  ) {
    // noDelay on both sides: a proxy that adds Nagle's delay (40 ms against delayed ACKs)
    // to small raft messages would measure itself, not the servers behind it.
    this.server = createServer({ noDelay: true }, (client) => this.accept(client));
  }

  static async start(port: number, target: number): Promise<FaultProxy> {
    const p = new FaultProxy(port, target);
    await new Promise<void>((resolve, reject) => {
      p.server.once("error", reject);
      p.server.listen(port, "127.0.0.1", () => resolve());
    });
    return p;
  }

  get fault(): LinkFault {
    return this.mode;
  }

  /** inject sets the fault; "partition" resets every open connection, other faults release what is no longer held. */
  inject(fault: LinkFault, delayMs = 0): void {
    this.mode = fault;
    this.delayMs = delayMs;
    for (const l of this.links) {
      if (fault === "partition") {
        l.client.resetAndDestroy();
        l.upstream.resetAndDestroy();
        continue;
      }
      for (const dir of ["in", "out"] as const) {
        if (this.holds(dir) || l.held[dir].length === 0) continue;
        const [from, to] = dir === "in" ? [l.client, l.upstream] : [l.upstream, l.client];
        for (const chunk of l.held[dir].splice(0)) this.write(chunk, to, from);
        from.resume();
      }
    }
  }

  /** heal forwards everything again, releasing held bytes in order. */
  heal(): void {
    this.inject("none");
  }

  private holds(dir: "in" | "out"): boolean {
    return this.mode === `blackhole-${dir}` || this.mode === "blackhole-both";
  }

  private accept(client: Socket): void {
    if (this.mode === "partition") {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ port: this.target, host: "127.0.0.1", noDelay: true });
    const link: Link = { client, upstream, held: { in: [], out: [] } };
    this.links.add(link);
    const end = (): void => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on("error", end);
      s.on("close", end);
    }
    client.on("data", (chunk: Buffer) => this.forward(link, chunk, "in"));
    upstream.on("data", (chunk: Buffer) => this.forward(link, chunk, "out"));
  }

  /** forward passes a chunk on, holds it (pausing its source) while its direction is blackholed, or delays it. */
  private forward(l: Link, chunk: Buffer, dir: "in" | "out"): void {
    const [from, to] = dir === "in" ? [l.client, l.upstream] : [l.upstream, l.client];
    if (this.holds(dir) || l.held[dir].length > 0) {
      l.held[dir].push(chunk);
      from.pause();
      return;
    }
    if (this.mode === "delay" && this.delayMs > 0) setTimeout(() => this.write(chunk, to, from), this.delayMs);
    else this.write(chunk, to, from);
  }

  private write(chunk: Buffer, to: Socket, from: Socket): void {
    if (to.destroyed) return;
    if (!to.write(chunk)) {
      from.pause();
      to.once("drain", () => from.resume());
    }
  }

  async close(): Promise<void> {
    this.inject("partition");
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
