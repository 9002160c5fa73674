import * as grpc from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import type { Operation, Request, Result, TxnRequestOp } from "@etcd-ts/linearizability";
import type { Clock } from "./clock.js";
import type { Rng } from "./random.js";
import { deleteRequest, deleteResult, num, putRequest, putResult, rangeRequest, rangeResult, txnRequest, txnResult } from "./convert.js";

/** WorkloadOptions shape the recording clients. Times are milliseconds. */
export interface WorkloadOptions {
  endpoints: readonly string[];
  /** credentials for the client connections (TLS); insecure when absent. */
  credentials?: grpc.ChannelCredentials;
  /** metadata is sent with every call (e.g. an auth token). */
  metadata?: () => grpc.Metadata;
  clients: number;
  /** keys is how many distinct keys the clients write, under `prefix`. */
  keys: number;
  prefix: string;
  /** opTimeoutMs is each call's deadline; a write that misses it has an unknown outcome. */
  opTimeoutMs: number;
  /** leases and txn add those operations to the mix. */
  leases: boolean;
  txn: boolean;
  /** readOnly makes the mix puts and linearizable gets only (the availability workload). */
  simple?: boolean;
}

/** WorkloadStats count what the clients saw. */
export interface WorkloadStats {
  ok: number;
  unknown: number;
  failedReads: number;
  /** writeTimes are the return times (µs) of every successful write, in order, for the longest-gap measure. */
  writeTimes: number[];
}

/** channelOptions spread calls over every endpoint, as clientv3's round-robin balancer does. */
export function channelOptions(): grpc.ChannelOptions {
  return {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.enable_retries": 0,
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
  };
}

/** target is the grpc-js address of every endpoint. */
export function target(endpoints: readonly string[]): string {
  return `ipv4:${endpoints.join(",")}`;
}

/** LEASE_NOT_FOUND and LEASE_EXISTS are etcd's messages for definite lease failures. */
const LEASE_NOT_FOUND = "etcdserver: requested lease not found";
const LEASE_EXISTS = "etcdserver: lease already exists";

/**
 * Workload runs closed-loop clients that record every operation (invocation and response
 * time, request, result or unknown outcome) until stopped. Values are unique per run
 * (client and sequence number), which the watch checker relies on.
 */
export class Workload {
  readonly operations: Operation[] = [];
  readonly stats: WorkloadStats = { ok: 0, unknown: 0, failedReads: 0, writeTimes: [] };
  private stopped = false;
  private readonly kv: etcdserverpb.KVClient;
  private readonly lease: etcdserverpb.LeaseClient;

  constructor(
    private readonly o: WorkloadOptions,
    private readonly clock: Clock,
    private readonly rng: Rng,
  ) {
    const creds = o.credentials ?? grpc.credentials.createInsecure();
    this.kv = new etcdserverpb.KVClient(target(o.endpoints), creds, channelOptions());
    this.lease = new etcdserverpb.LeaseClient(target(o.endpoints), creds, channelOptions());
  }

  /** run drives every client until stop() and resolves when their last calls returned. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.o.clients }, (_, i) => this.client(i, this.rng.fork())));
  }

  stop(): void {
    this.stopped = true;
  }

  close(): void {
    this.kv.close();
    this.lease.close();
  }

  private key(rng: Rng): string {
    return `${this.o.prefix}k${rng.int(0, this.o.keys - 1)}`;
  }

  private async client(id: number, rng: Rng): Promise<void> {
    let seq = 0;
    const leases: number[] = [];
    while (!this.stopped) {
      seq++;
      const value = `c${id}-${seq}`;
      const req = this.pick(rng, value, leases, id, seq);
      const call = this.clock.now();
      const res = await this.call(req);
      const ret = this.clock.now();
      if (res === "unknown") {
        if (isRead(req)) {
          this.stats.failedReads++;
          continue;
        }
        this.stats.unknown++;
        this.operations.push({ client: id, call, return: Infinity, input: req, output: undefined });
        continue;
      }
      this.stats.ok++;
      if (!isRead(req) && res.type !== "error") this.stats.writeTimes.push(ret);
      this.operations.push({ client: id, call, return: ret, input: req, output: res });
      if (req.type === "leaseGrant" && res.type === "leaseGrant") leases.push(req.id);
      if (req.type === "leaseRevoke") leases.splice(leases.indexOf(req.id), 1);
    }
  }

  /** pick chooses the next request of a client. */
  private pick(rng: Rng, value: string, leases: number[], id: number, seq: number): Request {
    const key = this.key(rng);
    const r = rng.next();
    if (this.o.simple === true) return r < 0.5 ? { type: "put", key, value } : { type: "range", key };
    if (r < 0.35) return { type: "put", key, value };
    if (r < 0.55) return { type: "range", key };
    if (r < 0.63) return { type: "range", key: this.o.prefix, end: prefixEnd(this.o.prefix) };
    if (r < 0.68) return { type: "delete", key };
    if (this.o.txn && r < 0.8) return this.txn(rng, key, value);
    if (this.o.leases && r < 0.84) return { type: "leaseGrant", id: (id + 1) * 1_000_000 + seq, ttl: 600 };
    if (this.o.leases && r < 0.92 && leases.length > 0) return { type: "put", key, value, lease: rng.pick(leases) };
    if (this.o.leases && r < 0.95 && leases.length > 0) return { type: "leaseRevoke", id: rng.pick(leases) };
    return { type: "put", key, value };
  }

  private txn(rng: Rng, key: string, value: string): Request {
    const other = this.key(rng);
    const then: TxnRequestOp[] = [{ type: "put", key, value }];
    if (other !== key) then.push({ type: "delete", key: other });
    const target = rng.pick(["mod", "version", "value"] as const);
    const cmp = target === "value" ? { key, target, result: "=" as const, value: `c${rng.int(0, this.o.clients - 1)}-${rng.int(1, 50)}` } : { key, target, result: rng.pick(["=", "<", ">"] as const), value: rng.int(0, 20) };
    return { type: "txn", compare: [cmp], success: then, failure: [{ type: "range", key }] };
  }

  /** call sends one request; "unknown" when it failed without a definite answer. */
  private call(req: Request): Promise<Result | "unknown"> {
    const deadline = Date.now() + this.o.opTimeoutMs;
    const md = this.o.metadata?.() ?? new grpc.Metadata();
    return new Promise((resolve) => {
      const fail = (err: grpc.ServiceError): void => {
        if (err.details === LEASE_NOT_FOUND) resolve({ type: "error", error: "lease not found" });
        else if (err.details === LEASE_EXISTS) resolve({ type: "error", error: "lease already exists" });
        else resolve("unknown");
      };
      switch (req.type) {
        case "put":
          this.kv.put(putRequest(req), md, { deadline }, (err, r) => (err ? fail(err) : resolve(putResult(r, req.prevKv === true))));
          return;
        case "range":
          this.kv.range(rangeRequest(req), md, { deadline }, (err, r) => (err ? fail(err) : resolve(rangeResult(r))));
          return;
        case "delete":
          this.kv.deleteRange(deleteRequest(req), md, { deadline }, (err, r) => (err ? fail(err) : resolve(deleteResult(r, req.prevKv === true))));
          return;
        case "txn":
          this.kv.txn(txnRequest(req), md, { deadline }, (err, r) => (err ? fail(err) : resolve(txnResult(req, r))));
          return;
        case "leaseGrant":
          this.lease.leaseGrant({ ID: BigInt(req.id), TTL: BigInt(req.ttl) }, md, { deadline }, (err, r) => (err ? fail(err) : resolve({ type: "leaseGrant", revision: num(r.header?.revision ?? 0n) })));
          return;
        case "leaseRevoke":
          this.lease.leaseRevoke({ ID: BigInt(req.id) }, md, { deadline }, (err, r) => (err ? fail(err) : resolve({ type: "leaseRevoke", revision: num(r.header?.revision ?? 0n) })));
          return;
      }
    });
  }
}

/** isRead tells whether a request cannot change state (its failure is simply dropped from the history). */
function isRead(req: Request): boolean {
  return req.type === "range";
}

/** prefixEnd is the range end that covers every key starting with prefix. */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, "utf8");
  for (let i = b.length - 1; i >= 0; i--) {
    const c = b[i] ?? 0;
    if (c < 0xff) {
      const out = b.subarray(0, i + 1);
      out[i] = c + 1;
      return out.toString("latin1");
    }
  }
  return "\0";
}
