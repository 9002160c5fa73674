import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { readFileSync } from "node:fs";
import { prefixEnd, type Client } from "@etcd-ts/client";
import type { Command, CommandSpec } from "../cli/command.js";
import type { FlagDef } from "../cli/flags.js";
import { clientConfig, newClient, type ClientConfig } from "../ctl/global.js";
import { errorText } from "../ctl/grpcerr.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { formatDuration, goQuote } from "../printer/goformat.js";

/** LOAD_ALIASES are etcdctl's names for the workload models. */
const LOAD_ALIASES: Record<string, string> = { s: "s", small: "s", m: "m", medium: "m", l: "l", large: "l", xl: "xl", xLarge: "xl" };

/** PERF_LOADS are etcdctl 3.4's check perf models: puts per second, clients, seconds. */
const PERF_LOADS: Record<string, { limit: number; clients: number; duration: number }> = {
  s: { limit: 150, clients: 50, duration: 60 },
  m: { limit: 1000, clients: 200, duration: 60 },
  l: { limit: 8000, clients: 500, duration: 60 },
  xl: { limit: 15000, clients: 1000, duration: 60 },
};

/** DATASCALE_LOADS are etcdctl 3.4's check datascale models: puts, bytes per key-value, clients. */
const DATASCALE_LOADS: Record<string, { limit: number; kvSize: number; clients: number }> = {
  s: { limit: 10_000, kvSize: 1024, clients: 50 },
  m: { limit: 100_000, kvSize: 1024, clients: 200 },
  l: { limit: 1_000_000, kvSize: 1024, clients: 500 },
  xl: { limit: 3_000_000, kvSize: 1024, clients: 1000 },
};

function flags(prefix: string, what: string): FlagDef[] {
  return [
    { name: "load", kind: "string", def: "s", usage: `The ${what} check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)` },
    { name: "prefix", kind: "string", def: prefix, usage: `The prefix for writing the ${what} check's keys.` },
    { name: "auto-compact", kind: "bool", def: false, usage: "Compact storage with last revision after test is finished." },
    { name: "auto-defrag", kind: "bool", def: false, usage: "Defragment storage after test is finished." },
  ];
}

/** Stats are etcd's pkg/report figures over the requests: seconds, and errors by message. */
interface Stats {
  rps: number;
  slowest: number;
  stddev: number;
  errors: Map<string, number>;
}

/**
 * Load runs put requests on a set of clients, each client one request at a time, taking
 * requests from a queue as long as `clients` (etcdctl's channel), and keeps what
 * pkg/report keeps: every latency, and errors by message.
 */
class Load {
  private readonly lats: number[] = [];
  private readonly errors = new Map<string, number>();
  private readonly queue: Array<() => Promise<unknown>> = [];
  private readonly waiting: Array<() => void> = [];
  private readonly space: Array<() => void> = [];
  private closed = false;
  private readonly started = performance.now();
  private readonly done: Promise<void>;

  constructor(
    clients: readonly Client[],
    private readonly capacity: number,
    private readonly onResult: () => void = () => undefined,
  ) {
    this.done = Promise.all(clients.map(() => this.worker())).then(() => undefined);
  }

  /** push queues a request, waiting while the queue is full. */
  async push(req: () => Promise<unknown>): Promise<void> {
    while (this.queue.length >= this.capacity) await new Promise<void>((r) => this.space.push(r));
    this.queue.push(req);
    this.waiting.shift()?.();
  }

  /** finish closes the queue and resolves with the stats once every queued request is done. */
  async finish(): Promise<Stats> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w();
    await this.done;
    const total = (performance.now() - this.started) / 1000;
    const n = this.lats.length;
    const avg = n === 0 ? 0 : this.lats.reduce((a, b) => a + b, 0) / n;
    const variance = n === 0 ? 0 : this.lats.reduce((a, b) => a + (b - avg) * (b - avg), 0) / n;
    return { rps: n / total, slowest: n === 0 ? 0 : Math.max(...this.lats), stddev: Math.sqrt(variance), errors: this.errors };
  }

  private async worker(): Promise<void> {
    for (;;) {
      const req = this.queue.shift();
      if (req === undefined) {
        if (this.closed) return;
        await new Promise<void>((r) => this.waiting.push(r));
        continue;
      }
      this.space.shift()?.();
      const st = performance.now();
      try {
        await req();
        this.lats.push((performance.now() - st) / 1000);
      } catch (e) {
        const msg = errorText(e);
        this.errors.set(msg, (this.errors.get(msg) ?? 0) + 1);
      }
      this.onResult();
    }
  }
}

/**
 * ProgressBar draws a progress bar on stdout as etcdctl's (pb.v1 with the "Bom !" theme):
 * " n / total B...o...m   ! pct% elapsed", redrawn in place, a newline when finished.
 */
class ProgressBar {
  private current = 0;
  private readonly start = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly io: Io,
    private readonly total: number,
  ) {}

  begin(): void {
    this.draw();
    this.timer = setInterval(() => this.draw(), 200);
  }

  add(n = 1): void {
    this.current = Math.min(this.total, this.current + n);
  }

  end(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.draw();
    this.io.out("\n");
  }

  private draw(): void {
    const counters = ` ${this.current} / ${this.total} `;
    const pct = ` ${((100 * this.current) / this.total).toFixed(2).padStart(6)}%`;
    const spent = ` ${formatDuration(BigInt(Math.floor((Date.now() - this.start) / 1000)) * 1_000_000_000n)}`;
    const width = Math.max(10, 80 - counters.length - pct.length - spent.length - 2);
    const filled = Math.floor((width * this.current) / this.total);
    const body = filled >= width ? "o".repeat(width) : "o".repeat(Math.max(0, filled - 1)) + (filled > 0 ? "m" : "") + " ".repeat(width - filled);
    this.io.out(`\r${counters}B${body}!${pct}${spent}`);
  }
}

/** perfKey is prefix + 256 bytes holding a random int63 as a zigzag varint (Go's binary.PutVarint), the rest zeros. */
function randomKey(prefix: Buffer, size: number): Buffer {
  const k = Buffer.alloc(size);
  let v = (randomBytes(8).readBigUInt64BE() >> 1n) << 1n; // zigzag of a non-negative int63: v*2
  let i = 0;
  while (v >= 0x80n) {
    k[i++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  k[i] = Number(v);
  return Buffer.concat([prefix, k]);
}

async function clientsFor(io: Io, cfg: ClientConfig, n: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < n; i++) clients.push(await newClient(io, cfg));
  return clients;
}

/** ensureEmpty exits as etcdctl does when prefix already holds keys. */
async function ensureEmpty(c: Client, prefix: string, timeoutMs: number | undefined): Promise<void> {
  const key = Buffer.from(prefix);
  const r = await c
    .range({ key, rangeEnd: prefixEnd(key), limit: 1n }, timeoutMs !== undefined ? { timeoutMs } : {})
    .catch((e: unknown) => exitWithError(ExitCode.Error, errorText(e)));
  if (r.kvs.length > 0) {
    exitWithError(ExitCode.InvalidInput, `prefix ${goQuote(prefix)} has keys. Delete with etcdctl del --prefix ${prefix} first`);
  }
}

/** cleanUp deletes the prefix, then compacts and defragments as asked (etcdctl's compact and defrag helpers). */
async function cleanUp(io: Io, cmd: Command, c: Client, prefix: string, timeoutMs: number | undefined): Promise<void> {
  const key = Buffer.from(prefix);
  const d = await c
    .deleteRange({ key, rangeEnd: prefixEnd(key) }, timeoutMs !== undefined ? { timeoutMs } : {})
    .catch((e: unknown) => exitWithError(ExitCode.Error, errorText(e)));
  if (cmd.flag("auto-compact").value === true) {
    const rev = d.header?.revision ?? 0n;
    io.out(`Compacting with revision ${rev}\n`);
    await c.compact({ revision: rev, physical: true }, { timeoutMs: 30_000 }).catch((e: unknown) => exitWithError(ExitCode.Error, errorText(e)));
    io.out(`Compacted with revision ${rev}\n`);
  }
  if (cmd.flag("auto-defrag").value === true) {
    for (const ep of c.endpoints()) {
      io.out(`Defragmenting ${goQuote(ep)}\n`);
      await c.maintenance.defragment(ep, { timeoutMs: 30_000 }).catch((e: unknown) => exitWithError(ExitCode.Error, errorText(e)));
      io.out(`Defragmented ${goQuote(ep)}\n`);
    }
  }
}

function reportErrors(io: Io, errors: Map<string, number>): void {
  io.out("FAIL: too many errors\n");
  for (const [k, v] of errors) io.out(`FAIL: ERROR(${k}) -> ${v}\n`);
}

function model(cmd: Command): string {
  const load = cmd.flag("load").value as string;
  const m = LOAD_ALIASES[load];
  if (m === undefined) return exitWithError(ExitCode.BadFeature, `unknown load option ${load}`);
  return m;
}

/** f6 is Go's %f: six decimals. */
const f6 = (x: number): string => x.toFixed(6);

/**
 * checkPerfCommand is `etcdctl check perf`: for 60 s, puts of 256-byte random keys and 1 KiB
 * values under --prefix at the model's rate from its number of clients, then PASS or FAIL on
 * throughput (over 90% of the rate), the slowest request (at most 0.5 s) and the standard
 * deviation (at most 0.1 s), as etcdctl 3.4 judges them; the keys are deleted afterwards.
 */
export function checkPerfCommand(io: Io): CommandSpec {
  return {
    use: "perf [options]",
    short: "Check the performance of the etcd cluster",
    flags: flags("/etcdctl-check-perf/", "performance"),
    run: async (cmd: Command) => {
      const cfg = PERF_LOADS[model(cmd)] as (typeof PERF_LOADS)["s"];
      const prefix = cmd.flag("prefix").value as string;
      const cc = await clientConfig(cmd, io);
      const clients = await clientsFor(io, cc, cfg.clients);
      const first = clients[0] as Client;
      try {
        await ensureEmpty(first, prefix, cfg.duration * 1000);
        const bar = new ProgressBar(io, cfg.duration);
        bar.begin();
        const ticks = setInterval(() => bar.add(), 1000);
        const load = new Load(clients, cfg.clients);
        const value = Buffer.alloc(1024);
        const pfx = Buffer.from(prefix);
        let i = 0;
        // A token bucket of one at `limit` per second: request n is due at start + n/limit.
        const start = performance.now();
        const end = start + cfg.duration * 1000;
        for (;;) {
          const due = start + (i * 1000) / cfg.limit;
          if (due >= end) break;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
          const c = clients[i % clients.length] as Client;
          i++;
          await load.push(() => c.put({ key: randomKey(pfx, 256), value }));
        }
        const s = await load.finish();
        clearInterval(ticks);
        bar.add(cfg.duration);
        bar.end();
        await cleanUp(io, cmd, first, prefix, 30_000);
        let ok = true;
        if (s.errors.size !== 0) {
          reportErrors(io, s.errors);
          ok = false;
        }
        if (s.rps / cfg.limit <= 0.9) {
          io.out(`FAIL: Throughput too low: ${Math.trunc(s.rps) + 1} writes/s\n`);
          ok = false;
        } else {
          io.out(`PASS: Throughput is ${Math.trunc(s.rps) + 1} writes/s\n`);
        }
        if (s.slowest > 0.5) {
          io.out(`Slowest request took too long: ${f6(s.slowest)}s\n`);
          ok = false;
        } else {
          io.out(`PASS: Slowest request took ${f6(s.slowest)}s\n`);
        }
        if (s.stddev > 0.1) {
          io.out(`Stddev too high: ${f6(s.stddev)}s\n`);
          ok = false;
        } else {
          io.out(`PASS: Stddev is ${f6(s.stddev)}s\n`);
        }
        io.out(ok ? "PASS\n" : "FAIL\n");
        if (!ok) throw new ExitError(ExitCode.Error, null);
      } finally {
        for (const c of clients) c.close();
      }
    },
  };
}

/**
 * fetchResidentMemory reads process_resident_memory_bytes from the endpoint's /metrics (as
 * etcdctl: http:// unless the endpoint says https://, then with --cert/--key), printing why
 * and answering 0 when it cannot.
 */
async function fetchResidentMemory(io: Io, endpoint: string, cc: ClientConfig): Promise<number> {
  const key = "process_resident_memory_bytes";
  const host = endpoint.startsWith("http://") || endpoint.startsWith("https://") ? endpoint : `http://${endpoint}`;
  const url = `${host}/metrics`;
  let body: string;
  try {
    body = await new Promise<string>((resolve, reject) => {
      const secure = url.startsWith("https://");
      const opts = secure
        ? {
            cert: cc.secure.cert !== "" ? readFileSync(cc.secure.cert) : undefined,
            key: cc.secure.key !== "" ? readFileSync(cc.secure.key) : undefined,
            ca: cc.secure.cacert !== "" ? readFileSync(cc.secure.cacert) : undefined,
            rejectUnauthorized: !cc.secure.insecureSkipVerify,
          }
        : {};
      const req = (secure ? httpsRequest : httpRequest)(url, opts, (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (data += d));
        res.on("end", () => resolve(data));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  } catch (e) {
    io.out(`fetch error: ${(e as Error).message}\n`);
    return 0;
  }
  const line = body.split("\n").find((l) => l.startsWith(key));
  if (line === undefined) {
    io.out(`could not find: ${key}\n`);
    return 0;
  }
  const v = Number(line.slice(key.length).trim());
  if (!Number.isFinite(v)) {
    io.out(`parse error: ${line}\n`);
    return 0;
  }
  return v;
}

/**
 * checkDatascaleCommand is `etcdctl check datascale`: the model's number of puts of 512-byte
 * random keys and 512-byte values under --prefix, and the change of the first endpoint's
 * resident memory (its /metrics) across them; the keys are deleted afterwards.
 */
export function checkDatascaleCommand(io: Io): CommandSpec {
  return {
    use: "datascale [options]",
    short: "Check the memory usage of holding data for different workloads on a given server endpoint.",
    long: "If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.",
    flags: flags("/etcdctl-check-datascale/", "datascale"),
    run: async (cmd: Command) => {
      const cfg = DATASCALE_LOADS[model(cmd)] as (typeof DATASCALE_LOADS)["s"];
      const prefix = cmd.flag("prefix").value as string;
      const cc = await clientConfig(cmd, io);
      const clients = await clientsFor(io, cc, cfg.clients);
      const first = clients[0] as Client;
      try {
        await ensureEmpty(first, prefix, undefined);
        const ep = cc.endpoints[0] ?? "127.0.0.1:2379";
        const before = await fetchResidentMemory(io, ep, cc);
        if (before === 0) {
          io.out("FAIL: Could not read process_resident_memory_bytes before the put operations.\n");
          throw new ExitError(ExitCode.Error, null);
        }
        io.out(`Start data scale check for work load [${cfg.limit} key-value pairs, ${cfg.kvSize} bytes per key-value, ${cfg.clients} concurrent clients].\n`);
        const bar = new ProgressBar(io, cfg.limit);
        bar.begin();
        const load = new Load(clients, cfg.clients, () => bar.add());
        const value = Buffer.alloc(512);
        const pfx = Buffer.from(prefix);
        for (let i = 0; i < cfg.limit; i++) {
          const c = clients[i % clients.length] as Client;
          await load.push(() => c.put({ key: randomKey(pfx, 512), value }));
        }
        const s = await load.finish();
        bar.end();
        const after = await fetchResidentMemory(io, ep, cc);
        if (after === 0) {
          io.out("FAIL: Could not read process_resident_memory_bytes after the put operations.\n");
          throw new ExitError(ExitCode.Error, null);
        }
        await cleanUp(io, cmd, first, prefix, undefined);
        if (s.errors.size !== 0) {
          reportErrors(io, s.errors);
          throw new ExitError(ExitCode.Error, null);
        }
        io.out(`PASS: Approximate system memory used : ${((after - before) / (1024 * 1024)).toFixed(2)} MB.\n`);
      } finally {
        for (const c of clients) c.close();
      }
    },
  };
}
