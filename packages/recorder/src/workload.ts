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
  /**
   * mix: "full" (every operation kind: puts, gets of a key and of the prefix, deletes,
   * multi-key txns, leases if enabled), "single-key" (every operation touches one key, so
   * histories can be checked key by key, which stays exact when other clients write other
   * keys of the same cluster), "simple" (puts and linearizable gets: the availability workload).
   */
  mix?: "full" | "single-key" | "simple";
}

/** WorkloadStats count what the clients saw. */
export interface WorkloadStats {
  ok: number;
  unknown: number;
  failedReads: number;
  /** notSent counts calls that failed before reaching any server (no connection). */
  notSent: number;
  /** writeTimes are the return times (µs) of every successful write, in order, for the longest-gap measure. */
  writeTimes: number[];
}

/** channelOptions: a connection of its own per client, no retries by grpc-js (a failed call is recorded as such), quick reconnects. */
export function channelOptions(): grpc.ChannelOptions {
  return {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.enable_retries": 0,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
  };
}

/**
 * endpointTarget is the grpc-js address of one endpoint given as host:port or as a URL
 * (http://, https://, unix:// are taken apart; a host name is resolved by DNS).
 */
export function endpointTarget(endpoint: string): string {
  const m = /^(?:https?:\/\/)?([^/]+?)\/?$/.exec(endpoint);
  if (endpoint.startsWith("unix:") || endpoint.startsWith("unixs:")) return `unix:${endpoint.replace(/^unixs?:(\/\/)?/, "")}`;
  if (m === null || m[1] === undefined) throw new Error(`recorder: bad endpoint ${JSON.stringify(endpoint)}`);
  const hostPort = m[1];
  if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(hostPort)) return `ipv4:${hostPort}`;
  if (hostPort.startsWith("[")) return `ipv6:${hostPort}`;
  return `dns:${hostPort}`;
}

/**
 * NOT_SENT starts grpc-js's error for a call it failed because no connection was up: the
 * request was never written to any server.
 */
const NOT_SENT = "No connection established";

/** FAILURE_BACKOFF_MS is how long a client pauses after a failed call, so a down cluster is not hammered. */
const FAILURE_BACKOFF_MS = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
  readonly stats: WorkloadStats = { ok: 0, unknown: 0, failedReads: 0, notSent: 0, writeTimes: [] };
  private stopped = false;
  /** kvs and leases hold one connection per endpoint; calls take them in turn, as clientv3's round-robin balancer does. */
  private readonly kvs: etcdserverpb.KVClient[];
  private readonly leases: etcdserverpb.LeaseClient[];
  private turn = 0;

  constructor(
    private readonly o: WorkloadOptions,
    private readonly clock: Clock,
    private readonly rng: Rng,
  ) {
    const creds = o.credentials ?? grpc.credentials.createInsecure();
    this.kvs = o.endpoints.map((e) => new etcdserverpb.KVClient(endpointTarget(e), creds, channelOptions()));
    this.leases = o.endpoints.map((e) => new etcdserverpb.LeaseClient(endpointTarget(e), creds, channelOptions()));
  }

  /** run drives every client until stop() and resolves when their last calls returned. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.o.clients }, (_, i) => this.client(i, this.rng.fork())));
  }

  stop(): void {
    this.stopped = true;
  }

  /**
   * lastWriteRevision is the highest revision at which an answered write of this workload
   * changed a key (a put, a delete that deleted, a txn that wrote): watchers on the prefix
   * have seen everything answered once they reach it, even when other clients' writes
   * elsewhere moved the cluster's revision further.
   */
  get lastWriteRevision(): number {
    return this.maxWrite;
  }

  private maxWrite = 0;

  private noteWrite(res: Result): void {
    let wrote = false;
    if (res.type === "put") wrote = true;
    else if (res.type === "delete") wrote = res.deleted > 0;
    else if (res.type === "txn") wrote = res.results.some((r) => r.type === "put" || (r.type === "delete" && r.deleted > 0));
    if (wrote && res.type !== "error" && "revision" in res && res.revision > this.maxWrite) this.maxWrite = res.revision;
  }

  close(): void {
    for (const c of [...this.kvs, ...this.leases]) c.close();
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
      if (res === "not-sent") {
        // The request never left this client (no connection): it cannot have taken effect,
        // so it is not part of the history. Back off instead of spinning.
        this.stats.notSent++;
        await sleep(FAILURE_BACKOFF_MS);
        continue;
      }
      if (res === "unknown") {
        await sleep(FAILURE_BACKOFF_MS);
        if (isRead(req)) {
          this.stats.failedReads++;
          continue;
        }
        this.stats.unknown++;
        this.operations.push({ client: id, call, return: Infinity, input: req, output: undefined });
        continue;
      }
      this.stats.ok++;
      this.noteWrite(res);
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
    if (this.o.mix === "simple") return r < 0.5 ? { type: "put", key, value } : { type: "range", key };
    if (this.o.mix === "single-key") {
      if (r < 0.4) return { type: "put", key, value };
      if (r < 0.75) return { type: "range", key };
      if (r < 0.82) return { type: "delete", key };
      const target = rng.pick(["mod", "version", "value"] as const);
      const cmp = target === "value" ? { key, target, result: "=" as const, value: `c${rng.int(0, this.o.clients - 1)}-${rng.int(1, 50)}` } : { key, target, result: rng.pick(["=", "<", ">"] as const), value: rng.int(0, 20) };
      return { type: "txn", compare: [cmp], success: [{ type: "put", key, value }], failure: [{ type: "range", key }] };
    }
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

  /**
   * call sends one request; "unknown" when it failed without a definite answer, "not-sent"
   * when grpc-js had no connection to send it on.
   */
  private call(req: Request): Promise<Result | "unknown" | "not-sent"> {
    const deadline = Date.now() + this.o.opTimeoutMs;
    const md = this.o.metadata?.() ?? new grpc.Metadata();
    const i = this.turn++ % this.kvs.length;
    const kv = this.kvs[i] as etcdserverpb.KVClient;
    const lease = this.leases[i] as etcdserverpb.LeaseClient;
    return new Promise((resolve) => {
      const fail = (err: grpc.ServiceError): void => {
        if (err.details === LEASE_NOT_FOUND) resolve({ type: "error", error: "lease not found" });
        else if (err.details === LEASE_EXISTS) resolve({ type: "error", error: "lease already exists" });
        else if (err.code === grpc.status.UNAVAILABLE && err.details.startsWith(NOT_SENT)) resolve("not-sent");
        else resolve("unknown");
      };
      switch (req.type) {
        case "put":
          kv.put(putRequest(req), md, { deadline }, (err, r) => (err ? fail(err) : resolve(putResult(r, req.prevKv === true))));
          return;
        case "range":
          kv.range(rangeRequest(req), md, { deadline }, (err, r) => (err ? fail(err) : resolve(rangeResult(r))));
          return;
        case "delete":
          kv.deleteRange(deleteRequest(req), md, { deadline }, (err, r) => (err ? fail(err) : resolve(deleteResult(r, req.prevKv === true))));
          return;
        case "txn":
          kv.txn(txnRequest(req), md, { deadline }, (err, r) => (err ? fail(err) : resolve(txnResult(req, r))));
          return;
        case "leaseGrant":
          lease.leaseGrant({ ID: BigInt(req.id), TTL: BigInt(req.ttl) }, md, { deadline }, (err, r) => (err ? fail(err) : resolve({ type: "leaseGrant", revision: num(r.header?.revision ?? 0n) })));
          return;
        case "leaseRevoke":
          lease.leaseRevoke({ ID: BigInt(req.id) }, md, { deadline }, (err, r) => (err ? fail(err) : resolve({ type: "leaseRevoke", revision: num(r.header?.revision ?? 0n) })));
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
