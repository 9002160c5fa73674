/**
 * worker.ts is the body of a load-generator worker thread. It receives a WorkerSetup,
 * pre-encodes every request, opens its connections, and then runs a ClosedLoop (or, for
 * watch, a WatchFanout) driven by start / measure / stop messages, posting the result
 * when the run is done.
 */
import { performance } from "node:perf_hooks";
import { parentPort } from "node:worker_threads";
import { openChannel, toWire, type Channel } from "./channel.js";
import { explainStream, openConnection, unaryCaller, unaryOnce, waitReady } from "./grpc-caller.js";
import { CompletionLog, loggingCaller } from "./defrag.js";
import { grpcFrame, H2Connection, requestHeaderBlock } from "./h2-client.js";
import { LEASE_REVOKE_BUDGET_MS, LeaseIdLog, leasePutCaller, type LeaseCounts } from "./lease-put.js";
import { ClosedLoop, RandomSource, SequentialSource, type LoopResult, type UnaryCaller } from "./loop.js";
import type { FromWorker, ToWorker, WorkerSetup } from "./protocol.js";
import {
  DEFRAG_PREFIX,
  encodeLeaseGrant,
  encodePrefixedPuts,
  encodePrefixedRanges,
  encodeRequests,
  encodeWatchCreate,
  LEASE_GRANT_PATH,
  LEASE_PREFIX,
  LEASE_REVOKE_PATH,
  methodPath,
  PUT_PATH,
  RANGE_PATH,
  WATCH_PATH,
  WATCH_PREFIX,
} from "./requests.js";
import { WatchFanout } from "./watch.js";
import { isKvOp, LEASE_TTL_SECONDS } from "./workload.js";

/** ERROR_BACKOFF_MS keeps a client whose request failed from spinning on a dead server. */
const ERROR_BACKOFF_MS = 10;

const port = parentPort;
if (port === null) throw new Error("bench: worker.js must run as a worker thread");

let closers: (() => void)[] = [];

/** Runner is what start / measure / stop drive. */
interface Runner {
  start(): void;
  measure(): void;
  stop(): void;
}

let runner: Runner | undefined;

function post(m: FromWorker): void {
  port!.postMessage(m);
}

function closeAll(): void {
  for (const c of closers) c();
  closers = [];
}

function target(s: WorkerSetup, j: number): string {
  return s.endpoints[(s.connOffset + j) % s.endpoints.length]!;
}

async function h2Callers(s: WorkerSetup, method: string): Promise<UnaryCaller[]> {
  const callers: UnaryCaller[] = [];
  for (let j = 0; j < s.conns; j++) {
    const addr = target(s, j);
    const colon = addr.lastIndexOf(":");
    const conn = await H2Connection.connect(addr.slice(0, colon), Number(addr.slice(colon + 1)), s.connectTimeoutMs);
    closers.push(() => conn.close());
    const headers = requestHeaderBlock(method, addr, s.token);
    callers.push((req, done) => conn.unary(headers, req, done));
  }
  return callers;
}

async function grpcCallers(s: WorkerSetup, method: string): Promise<UnaryCaller[]> {
  const clients = Array.from({ length: s.conns }, (_, j) => openConnection(target(s, j)));
  for (const c of clients) closers.push(() => c.close());
  await Promise.all(clients.map((c) => waitReady(c, s.connectTimeoutMs)));
  return clients.map((c) => unaryCaller(c, method, s.requestTimeoutMs, s.token));
}

/**
 * explain adds the server's own error text when the h2 transport saw a gRPC error (it does
 * not decode status trailers): it re-sends one request through grpc-js and reports what
 * came back.
 */
async function explain(s: WorkerSetup, method: string, request: Buffer, r: LoopResult, what = "one request"): Promise<LoopResult> {
  if (s.transport !== "h2" || r.firstError === undefined || !r.firstError.includes("without a message")) return r;
  const c = openConnection(target(s, 0));
  try {
    await unaryOnce(c, method, request, 2000, s.token);
    return { ...r, firstError: `${r.firstError}; ${what} re-sent through grpc-js succeeded` };
  } catch (err) {
    return { ...r, firstError: `${r.firstError}; ${what} re-sent through grpc-js got: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    c.close();
  }
}

async function openChannels(s: WorkerSetup, n: number, offset: number): Promise<Channel[]> {
  const out: Channel[] = [];
  for (let j = 0; j < n; j++) {
    const ch = await openChannel(s.transport, s.endpoints[(offset + j) % s.endpoints.length]!, s.connectTimeoutMs, s.token);
    closers.push(() => ch.close());
    out.push(ch);
  }
  return out;
}

/**
 * setupLeasePut runs lease-put: each operation is a LeaseGrant and a Put attached to the
 * lease, on the same connection. After the run, the leases granted are revoked (bounded
 * by LEASE_REVOKE_BUDGET_MS, unmeasured) before the result is posted.
 */
async function setupLeasePut(s: WorkerSetup): Promise<void> {
  const channels = await openChannels(s, s.conns, s.connOffset);
  const grant = encodeLeaseGrant(LEASE_TTL_SECONDS);
  const log = new LeaseIdLog();
  const framed = channels[0]!.framed;
  const l = new ClosedLoop({
    callers: channels.map((ch) => leasePutCaller(ch, toWire(ch, grant), log)),
    clients: s.clients,
    source: new RandomSource(encodePrefixedPuts(LEASE_PREFIX, s.shape), s.seed),
    now: () => performance.now(),
    maxRequests: s.maxRequests,
    errorBackoffMs: ERROR_BACKOFF_MS,
  });
  runner = l;
  void l.done
    .then(async (result) => {
      const lease = await revokeAll(channels, log, framed, s.clients);
      closeAll();
      const explained = await explain(s, LEASE_GRANT_PATH, grant, result, "one LeaseGrant");
      post({ type: "result", result: explained, lease });
    })
    .catch((err: unknown) => post({ type: "error", message: err instanceof Error ? err.message : String(err) }));
}

/** revokeAll revokes every lease in log with `clients` closed-loop clients, within LEASE_REVOKE_BUDGET_MS. */
async function revokeAll(channels: Channel[], log: LeaseIdLog, framed: boolean, clients: number): Promise<LeaseCounts> {
  const t0 = performance.now();
  if (log.count === 0) return { granted: 0, revoked: 0, revokeErrors: 0, revokeMs: 0 };
  const l = new ClosedLoop({
    callers: channels.map((ch): UnaryCaller => (req, done) => ch.unary(LEASE_REVOKE_PATH, req, done)),
    clients: Math.min(clients, log.count),
    source: log.revokeRequests(framed),
    now: () => performance.now(),
    maxRequests: log.count,
    errorBackoffMs: ERROR_BACKOFF_MS,
  });
  const budget = setTimeout(() => void l.stop(), LEASE_REVOKE_BUDGET_MS);
  l.start();
  const r = await l.done;
  clearTimeout(budget);
  return { granted: log.count, revoked: r.totalOk, revokeErrors: r.totalErrors, revokeMs: performance.now() - t0 };
}

/**
 * setupWatch runs watch: the watchers on `conns` Watch streams (one per connection), the
 * writers on `writerConns` connections of their own, all in this thread so every event is
 * checked against the puts that made it.
 */
async function setupWatch(s: WorkerSetup): Promise<void> {
  const watchChannels = await openChannels(s, s.conns, s.connOffset);
  const writerChannels = await openChannels(s, s.writerConns, 0);
  const create = encodeWatchCreate(WATCH_PREFIX);
  let f: WatchFanout;
  try {
    f = await WatchFanout.create({
      watchChannels,
      writerChannels,
      watchers: s.clients,
      writers: s.writers,
      createRequest: create,
      puts: encodePrefixedPuts(WATCH_PREFIX, s.shape),
      valueSize: s.shape.valueSize,
      seed: s.seed,
      now: () => performance.now(),
      maxRequests: s.maxRequests,
      errorBackoffMs: ERROR_BACKOFF_MS,
      createTimeoutMs: s.connectTimeoutMs,
      drainTimeoutMs: s.requestTimeoutMs,
    });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(s.transport === "h2" ? `${msg}; ${await explainStream(target(s, 0), WATCH_PATH, create, 2000, s.token)}` : msg);
  }
  closers.push(() => f.close());
  runner = {
    start: () => f.start(),
    measure: () => f.measure(),
    stop: () => {
      void f
        .stop()
        .then(({ result, watch }) => {
          closeAll();
          post({ type: "result", result, watch });
        })
        .catch((err: unknown) => post({ type: "error", message: err instanceof Error ? err.message : String(err) }));
    },
  };
}

/**
 * setupDefrag runs defrag: the first half of the clients (rounded up) put and the others
 * read (linearizable), over the same connections, on the defrag keys the shape covers.
 * Both loops count the requests still outstanding at stop; each successful put's
 * completion time is logged from measure until the puts have drained.
 */
async function setupDefrag(s: WorkerSetup): Promise<void> {
  // Encode first: for a large --defrag-mb this takes tens of seconds of synchronous work,
  // which must not sit between connecting and the first request (a connection's handshake
  // would wait that long for this thread; etcd-ts drops a client silent for 5 s).
  const puts = encodePrefixedPuts(DEFRAG_PREFIX, s.shape);
  const ranges = encodePrefixedRanges(DEFRAG_PREFIX, s.shape);
  const wire = { framed: s.transport === "h2" };
  const putWire = puts.map((m) => toWire(wire, m));
  const rangeWire = ranges.map((m) => toWire(wire, m));
  const channels = await openChannels(s, s.conns, s.connOffset);
  const log = new CompletionLog();
  const putClients = Math.ceil(s.clients / 2);
  const common = {
    now: () => performance.now(),
    maxRequests: Math.max(1, Math.floor(s.maxRequests / 2)),
    errorBackoffMs: ERROR_BACKOFF_MS,
    countDrain: true,
  };
  const putLoop = new ClosedLoop({
    ...common,
    callers: channels.map((ch) => loggingCaller((req, done) => ch.unary(PUT_PATH, req, done), log)),
    clients: putClients,
    source: new RandomSource(putWire, s.seed),
  });
  const rangeLoop = new ClosedLoop({
    ...common,
    callers: channels.map((ch): UnaryCaller => (req, done) => ch.unary(RANGE_PATH, req, done)),
    clients: s.clients - putClients,
    source: new RandomSource(rangeWire, (s.seed ^ 0x5bd1e995) >>> 0),
  });
  runner = {
    start: () => {
      putLoop.start();
      rangeLoop.start();
    },
    measure: () => {
      log.on = true;
      putLoop.measure();
      rangeLoop.measure();
    },
    stop: () => {
      void Promise.all([putLoop.stop(), rangeLoop.stop()])
        .then(async ([p, r]) => {
          log.on = false;
          closeAll();
          const pe = await explain(s, PUT_PATH, puts[0]!, p, "one Put");
          const re = await explain(s, RANGE_PATH, ranges[0]!, r, "one Range");
          post({ type: "result", result: pe, defrag: { ranges: re, putCompletions: log.times() } });
        })
        .catch((err: unknown) => post({ type: "error", message: err instanceof Error ? err.message : String(err) }));
    },
  };
}

async function setup(s: WorkerSetup): Promise<void> {
  if (s.op === "defrag") return setupDefrag(s);
  if (s.op === "lease-put") return setupLeasePut(s);
  if (s.op === "watch") return setupWatch(s);
  if (!isKvOp(s.op)) throw new Error(`bench: unknown op ${s.op}`);
  const method = methodPath(s.op);
  const encoded = encodeRequests(s.op, s.shape);
  const requests = s.transport === "h2" ? encoded.map(grpcFrame) : encoded;
  const callers = s.transport === "h2" ? await h2Callers(s, method) : await grpcCallers(s, method);
  const l = new ClosedLoop({
    callers,
    clients: s.clients,
    source: s.mode === "random" ? new RandomSource(requests, s.seed) : new SequentialSource(requests),
    now: () => performance.now(),
    maxRequests: s.maxRequests,
    errorBackoffMs: ERROR_BACKOFF_MS,
  });
  runner = l;
  void l.done
    .then((result) => {
      closeAll();
      return explain(s, method, encoded[0]!, result);
    })
    .then((result) => post({ type: "result", result }));
}

port.on("message", (m: ToWorker) => {
  try {
    switch (m.type) {
      case "setup":
        setup(m).then(
          () => post({ type: "ready" }),
          (err: unknown) => {
            closeAll();
            post({ type: "error", message: err instanceof Error ? err.message : String(err) });
          },
        );
        break;
      case "start":
        runner?.start();
        break;
      case "measure":
        runner?.measure();
        break;
      case "stop":
        void runner?.stop();
        break;
    }
  } catch (err) {
    post({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
});
