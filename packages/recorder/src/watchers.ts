import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { WatchHistory } from "@etcd-ts/linearizability";
import type { Clock } from "./clock.js";
import { eventFrom, num } from "./convert.js";
import { channelOptions, endpointTarget, prefixEnd } from "./workload.js";

/** WatcherOptions shape the recording watchers. */
export interface WatcherOptions {
  endpoints: readonly string[];
  watchers: number;
  prefix: string;
  /** startRevision is where every watcher starts (the revision before the workload's first write). */
  startRevision: number;
  /** credentials for the client connection (TLS); insecure when absent. */
  credentials?: grpc.ChannelCredentials;
  /** metadata is sent with every watch stream (e.g. an auth token); hasleader is added. */
  metadata?: () => grpc.Metadata;
}

/**
 * Watchers run watches on the workload's prefix that record every response. A watch that
 * ends (stream error, server cancel, member loss) is resumed, as a client would, from one
 * past the last revision it received, and recorded as a new WatchHistory continuing it.
 * Each watch asks for prev_kv and progress notifications and requires a leader.
 */
export class Watchers {
  readonly watches: WatchHistory[] = [];
  /** clients hold one connection per endpoint; each (re)opened watch takes the next. */
  private readonly clients: etcdserverpb.WatchClient[];
  private turn = 0;
  private stopped = false;
  private readonly streams = new Set<grpc.ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>>();
  /** latest is the highest revision each watcher has seen (an event's or a progress notify's). */
  private readonly latest: number[] = [];
  private nextId = 0;

  constructor(
    private readonly o: WatcherOptions,
    private readonly clock: Clock,
  ) {
    this.clients = o.endpoints.map((e) => new etcdserverpb.WatchClient(endpointTarget(e), o.credentials ?? grpc.credentials.createInsecure(), channelOptions()));
  }

  start(): void {
    for (let i = 0; i < this.o.watchers; i++) {
      this.latest.push(this.o.startRevision - 1);
      this.open(i, this.o.startRevision, undefined);
    }
  }

  /** caughtUp tells whether every watcher has seen revision `rev`. */
  caughtUp(rev: number): boolean {
    return this.latest.every((r) => r >= rev);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.streams) s.cancel();
    for (const c of this.clients) c.close();
  }

  private open(client: number, startRevision: number, resumeOf: number | undefined): void {
    if (this.stopped) return;
    const md = this.o.metadata?.() ?? new grpc.Metadata();
    md.set("hasleader", "true");
    const stream = (this.clients[this.turn++ % this.clients.length] as etcdserverpb.WatchClient).watch(md);
    this.streams.add(stream);
    const h: WatchHistory = {
      watcher: this.nextId++,
      client,
      created: 0,
      request: { key: this.o.prefix, end: prefixEnd(this.o.prefix), startRevision, prevKv: true, progressNotify: true },
      responses: [],
      ...(resumeOf !== undefined ? { resumeOf } : {}),
    };
    let created = false;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.streams.delete(stream);
      stream.cancel();
      if (created) this.watches.push(h);
      if (this.stopped) return;
      const next = (this.latest[client] ?? 0) + 1;
      // Resume after a short pause, like a client's retry; from the watch this one continues.
      setTimeout(() => this.open(client, next, created ? h.watcher : resumeOf), 50);
    };
    stream.on("data", (r: etcdserverpb.WatchResponse) => {
      const time = this.clock.now();
      if (r.created) {
        created = true;
        h.created = time;
        return;
      }
      const revision = num(r.header?.revision ?? 0n);
      const events = r.events.map(eventFrom);
      const progressNotify = events.length === 0 && !r.canceled;
      h.responses.push({
        time,
        revision,
        events,
        progressNotify,
        ...(r.canceled ? { canceled: true } : {}),
        ...(r.compactRevision > 0n ? { compactRevision: num(r.compactRevision) } : {}),
      });
      const last = events.length > 0 ? (events[events.length - 1]?.kv.modRevision ?? 0) : progressNotify ? revision : 0;
      if (last > (this.latest[client] ?? 0)) this.latest[client] = last;
      if (r.canceled) end();
    });
    stream.on("error", end);
    stream.on("end", end);
    stream.write(etcdserverpb.WatchRequest.fromPartial({
      createRequest: { key: Buffer.from(this.o.prefix), rangeEnd: Buffer.from(prefixEnd(this.o.prefix), "latin1"), startRevision: BigInt(startRevision), prevKv: true, progressNotify: true },
    }));
  }
}
