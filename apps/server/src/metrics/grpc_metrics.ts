import type { ByteObserver, CallObserver, MethodInfo, MethodObserver } from "@etcd-ts/grpc-server";
import { Counter, Histogram, type Registry } from "prom-client";

/**
 * GRPC_CODE_NAMES are grpc-go's names of the status codes (codes.Code.String()), indexed by
 * code: the values of the grpc_code label.
 */
export const GRPC_CODE_NAMES: readonly string[] = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** DEFAULT_BUCKETS are Prometheus's default histogram buckets in seconds (client_golang's DefBuckets). */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const LABELS = ["grpc_type", "grpc_service", "grpc_method"] as const;

/** grpcType is go-grpc-prometheus's grpc_type of a method: unary, client_stream, server_stream or bidi_stream. */
export function grpcType(info: Pick<MethodInfo, "requestStream" | "responseStream">): string {
  if (info.requestStream) return info.responseStream ? "bidi_stream" : "client_stream";
  return info.responseStream ? "server_stream" : "unary";
}

/**
 * GrpcMetrics are the grpc_server_* series of go-grpc-prometheus as etcd registers them:
 * calls started and handled (by status code), messages received and sent, per grpc_type,
 * grpc_service and grpc_method; with `handlingHistogram` (--metrics=extensive) also
 * grpc_server_handling_seconds. Every registered method's series exist from the start at 0,
 * handled for every code, as after go-grpc-prometheus's Register. It is the CallObserver of
 * the client gRPC server: the label children of each method are bound once, so a call costs
 * a few increments.
 */
export class GrpcMetrics implements CallObserver {
  private readonly startedTotal: Counter<(typeof LABELS)[number]>;
  private readonly handledTotal: Counter<(typeof LABELS)[number] | "grpc_code">;
  private readonly receivedTotal: Counter<(typeof LABELS)[number]>;
  private readonly sentTotal: Counter<(typeof LABELS)[number]>;
  private readonly handlingSeconds: Histogram<(typeof LABELS)[number]> | undefined;
  /** tallies are the counts of every counter above, added to their series when the registry is collected. */
  private readonly tallies: Tally[] = [];
  /** bytes counts message bytes as etcd's codec does: etcd_network_client_grpc_{sent,received}_bytes_total. */
  readonly bytes: ByteObserver;

  constructor(registry: Registry, handlingHistogram: boolean) {
    const registers = [registry];
    // Every counter is collected from the tallies: a call adds to plain numbers, and prom-client
    // (whose inc hashes the labels on every call) sees the sums when /metrics is read.
    const collect = (): void => {
      for (const t of this.tallies) t.flush();
    };
    const sentBytes = new Counter({ name: "etcd_network_client_grpc_sent_bytes_total", help: "The total number of bytes sent to grpc clients.", registers, collect });
    const receivedBytes = new Counter({
      name: "etcd_network_client_grpc_received_bytes_total",
      help: "The total number of bytes received from grpc clients.",
      registers,
      collect,
    });
    const sent = this.tally(sentBytes);
    const received = this.tally(receivedBytes);
    this.bytes = { sent: (n) => (sent.n += n), received: (n) => (received.n += n) };
    this.startedTotal = new Counter({ name: "grpc_server_started_total", help: "Total number of RPCs started on the server.", labelNames: LABELS, registers, collect });
    this.handledTotal = new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: [...LABELS, "grpc_code"],
      registers,
      collect,
    });
    this.receivedTotal = new Counter({
      name: "grpc_server_msg_received_total",
      help: "Total number of RPC stream messages received on the server.",
      labelNames: LABELS,
      registers,
      collect,
    });
    this.sentTotal = new Counter({
      name: "grpc_server_msg_sent_total",
      help: "Total number of gRPC stream messages sent by the server.",
      labelNames: LABELS,
      registers,
      collect,
    });
    this.handlingSeconds = handlingHistogram
      ? new Histogram({
          name: "grpc_server_handling_seconds",
          help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
          labelNames: LABELS,
          buckets: DEFAULT_BUCKETS,
          registers,
        })
      : undefined;
  }

  /** tally makes a count that is added to child (a series that then exists at 0) at each collection. */
  private tally(child: { inc(n: number): void }): Tally {
    child.inc(0);
    const t = new Tally(child);
    this.tallies.push(t);
    return t;
  }

  method(info: MethodInfo): MethodObserver {
    const type = grpcType(info);
    const started = this.tally(this.startedTotal.labels(type, info.service, info.method));
    const received = this.tally(this.receivedTotal.labels(type, info.service, info.method));
    const sent = this.tally(this.sentTotal.labels(type, info.service, info.method));
    const handled = GRPC_CODE_NAMES.map((code) => this.tally(this.handledTotal.labels(type, info.service, info.method, code)));
    const seconds = this.handlingSeconds?.labels(type, info.service, info.method);
    const handledTotal = this.handledTotal;
    return {
      started: () => started.n++,
      received: () => received.n++,
      sent: () => sent.n++,
      handled: (code, s) => {
        const t = handled[code];
        if (t !== undefined) t.n++;
        else handledTotal.labels(type, info.service, info.method, `Code(${code})`).inc();
        seconds?.observe(s);
      },
    };
  }
}

/** Tally is a count kept as a plain number and added to its prom-client series by flush. */
class Tally {
  /** n is what was counted since the last flush. */
  n = 0;
  constructor(private readonly child: { inc(n: number): void }) {}

  flush(): void {
    if (this.n === 0) return;
    this.child.inc(this.n);
    this.n = 0;
  }
}
