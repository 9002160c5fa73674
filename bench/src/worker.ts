/**
 * worker.ts is the body of a load-generator worker thread. It receives a WorkerSetup,
 * pre-encodes every request, opens its connections, and then runs a ClosedLoop driven by
 * start / measure / stop messages, posting the LoopResult when the loop is done.
 */
import { performance } from "node:perf_hooks";
import { parentPort } from "node:worker_threads";
import { openConnection, unaryCaller, unaryOnce, waitReady } from "./grpc-caller.js";
import { grpcFrame, H2Connection, requestHeaderBlock } from "./h2-client.js";
import { ClosedLoop, RandomSource, SequentialSource, type LoopResult, type UnaryCaller } from "./loop.js";
import type { FromWorker, ToWorker, WorkerSetup } from "./protocol.js";
import { encodeRequests, methodPath } from "./requests.js";

/** ERROR_BACKOFF_MS keeps a client whose request failed from spinning on a dead server. */
const ERROR_BACKOFF_MS = 10;

const port = parentPort;
if (port === null) throw new Error("bench: worker.js must run as a worker thread");

let closers: (() => void)[] = [];
let loop: ClosedLoop | undefined;

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
    const headers = requestHeaderBlock(method, addr);
    callers.push((req, done) => conn.unary(headers, req, done));
  }
  return callers;
}

async function grpcCallers(s: WorkerSetup, method: string): Promise<UnaryCaller[]> {
  const clients = Array.from({ length: s.conns }, (_, j) => openConnection(target(s, j)));
  for (const c of clients) closers.push(() => c.close());
  await Promise.all(clients.map((c) => waitReady(c, s.connectTimeoutMs)));
  return clients.map((c) => unaryCaller(c, method, s.requestTimeoutMs));
}

/**
 * explain adds the server's own error text when the h2 transport saw a gRPC error (it does
 * not decode status trailers): it re-sends one request through grpc-js and reports what
 * came back.
 */
async function explain(s: WorkerSetup, method: string, request: Buffer, r: LoopResult): Promise<LoopResult> {
  if (s.transport !== "h2" || r.firstError === undefined || !r.firstError.includes("without a message")) return r;
  const c = openConnection(target(s, 0));
  try {
    await unaryOnce(c, method, request, 2000);
    return { ...r, firstError: `${r.firstError}; one request re-sent through grpc-js succeeded` };
  } catch (err) {
    return { ...r, firstError: `${r.firstError}; one request re-sent through grpc-js got: ${err instanceof Error ? err.message : String(err)}` };
  } finally {
    c.close();
  }
}

async function setup(s: WorkerSetup): Promise<void> {
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
  loop = l;
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
        loop?.start();
        break;
      case "measure":
        loop?.measure();
        break;
      case "stop":
        void loop?.stop();
        break;
    }
  } catch (err) {
    post({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
});
