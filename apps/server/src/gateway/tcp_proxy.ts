import { connect, type Server, type Socket } from "node:net";
import type { Logger } from "../log.js";

/** SrvTarget is one endpoint as a DNS SRV record gives it (etcd's net.SRV); priority and weight are 0 for a plain endpoint. */
export interface SrvTarget {
  target: string;
  port: number;
  priority: number;
  weight: number;
}

/** Remote is one endpoint and whether the proxy currently sends connections to it. */
interface Remote {
  srv: SrvTarget;
  addr: string;
  inactive: boolean;
}

/** Dial opens a TCP connection to host:port and resolves once it is established. */
export type Dial = (host: string, port: number) => Promise<Socket>;

/** dialTcp is the real Dial. */
export const dialTcp: Dial = (host, port) =>
  new Promise((resolve, reject) => {
    const s = connect({ host, port, noDelay: true });
    s.once("connect", () => {
      s.removeListener("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });

/** TcpProxyOptions shape a TcpProxy. Times are milliseconds. */
export interface TcpProxyOptions {
  listener: Server;
  endpoints: readonly SrvTarget[];
  /** monitorIntervalMs is how long an endpoint that failed a dial stays out before it is tried again (--retry-delay). */
  monitorIntervalMs: number;
  logger: Logger;
  dial?: Dial;
  /** random returns an integer in [0, n) (weighted picks); Math.random by default. */
  random?: (n: number) => number;
}

/**
 * TcpProxy is etcd's L4 gateway (proxy/tcpproxy): every client connection accepted on the
 * listener is joined to a connection to one endpoint, picked among the active ones of the
 * best SRV priority, by weight when weights are given and else in turn. An endpoint whose
 * dial fails is made inactive (the next one is tried for the same client) and dialed again
 * every monitor interval until it answers. It sees bytes, not requests: a client's
 * connection stays with the endpoint it was given.
 */
export class TcpProxy {
  private readonly remotes: Remote[];
  private pickCount = 0;
  private stopped = false;
  private monitor: NodeJS.Timeout | undefined;
  private readonly conns = new Set<Socket>();
  private readonly dial: Dial;
  private readonly random: (n: number) => number;

  constructor(private readonly o: TcpProxyOptions) {
    this.remotes = o.endpoints.map((srv) => ({ srv, addr: `${srv.target}:${srv.port}`, inactive: false }));
    this.dial = o.dial ?? dialTcp;
    this.random = o.random ?? ((n) => Math.floor(Math.random() * n));
  }

  /** run starts serving the listener's connections and the monitor of inactive endpoints. */
  run(): void {
    this.o.logger.info("ready to proxy client requests", { endpoints: this.remotes.map((r) => r.addr) });
    this.monitor = setInterval(() => this.reactivate(), this.o.monitorIntervalMs);
    this.o.listener.on("connection", (s: Socket) => void this.serve(s));
  }

  /** stop closes the listener and every proxied connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.monitor !== undefined) clearInterval(this.monitor);
    for (const c of this.conns) c.destroy();
    await new Promise<void>((resolve) => this.o.listener.close(() => resolve()));
  }

  /** active lists the addresses of the endpoints connections are currently sent to. */
  active(): string[] {
    return this.remotes.filter((r) => !r.inactive).map((r) => r.addr);
  }

  /**
   * pick chooses the endpoint for the next connection (etcd's TCPProxy.pick): among the
   * active endpoints of the lowest priority value, a weighted random choice when some have a
   * weight (those without are then picked once in a hundred), else round robin.
   */
  pick(): Remote | undefined {
    let best = 65536;
    let weighted: Remote[] = [];
    let unweighted: Remote[] = [];
    let w = 0;
    for (const r of this.remotes) {
      if (r.inactive) continue;
      if (r.srv.priority < best) {
        best = r.srv.priority;
        w = 0;
        weighted = [];
        unweighted = [];
      }
      if (r.srv.priority !== best) continue;
      if (r.srv.weight > 0) {
        weighted.push(r);
        w += r.srv.weight;
      } else {
        unweighted.push(r);
      }
    }
    if (weighted.length > 0) {
      if (unweighted.length > 0 && this.random(100) === 1) return unweighted[this.pickCount++ % unweighted.length];
      let choose = this.random(w);
      for (const r of weighted) {
        choose -= r.srv.weight;
        if (choose <= 0) return r;
      }
    }
    if (unweighted.length > 0) {
      for (let i = 0; i < this.remotes.length; i++) {
        const r = this.remotes[this.pickCount++ % this.remotes.length];
        if (r !== undefined && !r.inactive) return r;
      }
    }
    return undefined;
  }

  private async serve(client: Socket): Promise<void> {
    if (this.stopped) {
      client.destroy();
      return;
    }
    client.pause();
    client.on("error", () => client.destroy());
    // Tracked from accept on, so stop also ends connections still waiting for their dial.
    this.conns.add(client);
    client.once("close", () => this.conns.delete(client));
    let upstream: Socket | undefined;
    for (let r = this.pick(); r !== undefined; r = this.pick()) {
      try {
        upstream = await this.dial(r.srv.target, r.srv.port);
        break;
      } catch (err) {
        r.inactive = true;
        this.o.logger.warn("deactivated endpoint", { address: r.addr, interval: `${this.o.monitorIntervalMs}ms`, error: String(err) });
      }
    }
    if (upstream === undefined || client.destroyed || this.stopped) {
      client.destroy();
      upstream?.destroy();
      return;
    }
    const up = upstream;
    this.conns.add(client);
    this.conns.add(up);
    const close = (): void => {
      client.destroy();
      up.destroy();
      this.conns.delete(client);
      this.conns.delete(up);
    };
    up.on("error", close);
    client.on("error", close);
    up.on("close", close);
    client.on("close", close);
    client.setNoDelay(true);
    client.pipe(up);
    up.pipe(client);
    client.resume();
  }

  /** reactivate dials every inactive endpoint; one that answers takes connections again. */
  private reactivate(): void {
    for (const r of this.remotes) {
      if (!r.inactive) continue;
      this.dial(r.srv.target, r.srv.port).then(
        (s) => {
          s.destroy();
          r.inactive = false;
          this.o.logger.info("activated", { address: r.addr });
        },
        (err: unknown) =>
          this.o.logger.warn("failed to activate endpoint (stay inactive for another interval)", {
            address: r.addr,
            interval: `${this.o.monitorIntervalMs}ms`,
            error: String(err),
          }),
      );
    }
  }
}
