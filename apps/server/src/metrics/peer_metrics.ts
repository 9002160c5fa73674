import { Counter, Histogram, type Registry } from "prom-client";
import { hexId } from "../ids.js";
import type { PeerObserver } from "../peer/observer.js";
import { exponentialBuckets } from "./buckets.js";

/**
 * PeerMetrics are etcd's rafthttp series this member feeds: bytes sent to and received from
 * each peer (labels To / From: the peer's ID in hex) and the peer round-trip time histogram
 * (0.1 ms to 3.2768 s). It is the peer transport's PeerObserver; each peer's label children
 * are bound on first use and cached.
 */
export class PeerMetrics implements PeerObserver {
  private readonly sentBytes: Counter<"To">;
  private readonly receivedBytes: Counter<"From">;
  private readonly rttSeconds: Histogram<"To">;
  private readonly sentFailures: Counter<"To">;
  private readonly failuresTo = new Map<bigint, Counter.Internal>();
  private readonly sentTo = new Map<bigint, Counter.Internal>();
  private readonly receivedFrom = new Map<bigint, Counter.Internal>();
  private readonly rttTo = new Map<bigint, Histogram.Internal<"To">>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.sentBytes = new Counter({ name: "etcd_network_peer_sent_bytes_total", help: "The total number of bytes sent to peers.", labelNames: ["To"], registers });
    this.receivedBytes = new Counter({
      name: "etcd_network_peer_received_bytes_total",
      help: "The total number of bytes received from peers.",
      labelNames: ["From"],
      registers,
    });
    this.sentFailures = new Counter({
      name: "etcd_network_peer_sent_failures_total",
      help: "The total number of send failures from peers.",
      labelNames: ["To"],
      registers,
    });
    this.rttSeconds = new Histogram({
      name: "etcd_network_peer_round_trip_time_seconds",
      help: "Round-Trip-Time histogram between peers",
      labelNames: ["To"],
      buckets: exponentialBuckets(0.0001, 2, 16),
      registers,
    });
  }

  sent(to: bigint, bytes: number): void {
    let c = this.sentTo.get(to);
    if (c === undefined) this.sentTo.set(to, (c = this.sentBytes.labels(hexId(to))));
    c.inc(bytes);
  }

  received(from: bigint, bytes: number): void {
    let c = this.receivedFrom.get(from);
    if (c === undefined) this.receivedFrom.set(from, (c = this.receivedBytes.labels(hexId(from))));
    c.inc(bytes);
  }

  sendFailed(to: bigint): void {
    let c = this.failuresTo.get(to);
    if (c === undefined) this.failuresTo.set(to, (c = this.sentFailures.labels(hexId(to))));
    c.inc();
  }

  roundTrip(to: bigint, seconds: number): void {
    let h = this.rttTo.get(to);
    if (h === undefined) this.rttTo.set(to, (h = this.rttSeconds.labels(hexId(to))));
    h.observe(seconds);
  }
}
