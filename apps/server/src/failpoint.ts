import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "./log.js";

/**
 * Failpoints: named places in the server where a test can make the member crash or stall, as
 * etcd's gofail does. For fault-injection tests only (the robustness suite); nothing here is
 * active unless the environment asks for it:
 *
 * - ETCD_TS_FAILPOINTS="name=term;name2=term" arms failpoints at start (gofail's GOFAIL_FAILPOINTS).
 * - ETCD_TS_FAILPOINTS_HTTP=127.0.0.1:PORT serves gofail's HTTP API on that address only
 *   (GOFAIL_HTTP): `GET /` lists every failpoint as `name=term` lines (empty term: off),
 *   `GET /<name>` shows one term, `GET /<name>/count` how often its terms ran, `PUT /<name>`
 *   with the term as body arms it, `DELETE /<name>` disarms it.
 *
 * Terms follow gofail: `term ("->" term)*`, each `[mods] action [ "(" value ")" ]` where a mod
 * is `N*` (run at most N times) or `P%` (run with probability P percent), and the action is
 * `off` (do nothing), `panic` (crash: the process kills itself with SIGKILL after one log line,
 * no graceful shutdown and nothing flushed), `sleep(ms)` / `sleep("1.5s")` (stall), or `print`
 * (log that the failpoint was reached). Evaluating a chain runs the first term whose mods allow
 * it; e.g. `2*off->panic` crashes on the third hit, `1*sleep(500)` stalls once.
 *
 * A failpoint is either async or sync (see FP): at an async one `sleep` delays only the code
 * path awaiting it; at a sync one (reached from synchronous code) `sleep` blocks the whole
 * event loop, like a stalled process.
 *
 * Cost when unarmed: the call site reads one boolean (`if (FP.x.armed) ...`); nothing is
 * allocated or awaited.
 */

/** FailpointKind says how a failpoint sleeps: async (awaited at its site) or sync (blocks the event loop). */
export type FailpointKind = "async" | "sync";

type Action = "off" | "panic" | "sleep" | "print";

interface Mod {
  kind: "count" | "prob";
  /** count: runs left; prob: probability in [0, 1]. */
  n: number;
}

interface Term {
  desc: string;
  mods: Mod[];
  action: Action;
  /** sleepMs for sleep; message for panic (optional). */
  sleepMs: number;
  message: string | undefined;
}

/** FailpointError is a term that cannot be parsed or a failpoint that does not exist. */
export class FailpointError extends Error {
  constructor(
    message: string,
    readonly code: "parse" | "unknown",
  ) {
    super(message);
    this.name = "FailpointError";
  }
}

const ACTIONS: readonly Action[] = ["off", "panic", "sleep", "print"];

/** parseTerms parses a gofail term chain (see the module comment); it throws FailpointError on bad input. */
export function parseTerms(desc: string): Term[] {
  const chain: Term[] = [];
  let rest = desc.trim();
  if (rest === "") throw new FailpointError(`failpoint: empty term`, "parse");
  for (;;) {
    const t = parseTerm(rest, desc);
    chain.push(t);
    rest = rest.slice(t.desc.length).trimStart();
    if (rest === "") return chain;
    if (!rest.startsWith("->")) throw new FailpointError(`failpoint: could not parse ${JSON.stringify(desc)} past ${JSON.stringify(rest)}, expected "->"`, "parse");
    rest = rest.slice(2).trimStart();
  }
}

function parseTerm(s: string, whole: string): Term {
  const bad = (why: string): FailpointError => new FailpointError(`failpoint: could not parse ${JSON.stringify(whole)} at ${JSON.stringify(s)}: ${why}`, "parse");
  let i = 0;
  const mods: Mod[] = [];
  // mods: (<float> "%" | <int> "*")*
  for (;;) {
    const m = /^(\d+(?:\.\d*)?)([%*])/.exec(s.slice(i));
    if (m === null) break;
    const num = m[1] as string;
    if (m[2] === "*") {
      if (num.includes(".")) throw bad("a count must be a whole number");
      mods.push({ kind: "count", n: Number(num) });
    } else {
      const p = Number(num);
      if (p > 100) throw bad("a probability is at most 100%");
      mods.push({ kind: "prob", n: p / 100 });
    }
    i += m[0].length;
  }
  const action = ACTIONS.find((x) => s.startsWith(x, i) && !/^[A-Za-z0-9_]/.test(s.slice(i + x.length)));
  if (action === undefined) {
    const word = /^[A-Za-z_]*/.exec(s.slice(i))?.[0] ?? "";
    throw bad(word === "" ? "expected an action (off, panic, sleep, print)" : `unsupported action ${JSON.stringify(word)} (etcd-ts supports off, panic, sleep, print)`);
  }
  i += action.length;
  let value: string | undefined;
  if (s[i] === "(") {
    const close = s.indexOf(")", i);
    if (close < 0) throw bad("missing )");
    value = s.slice(i + 1, close).trim();
    i = close + 1;
  }
  let sleepMs = 0;
  let message: string | undefined;
  if (action === "sleep") {
    if (value === undefined || value === "") throw bad("sleep needs a duration: sleep(100) in milliseconds or sleep(\"1.5s\")");
    const ms = parseDuration(value);
    if (ms === undefined) throw bad(`bad sleep duration ${JSON.stringify(value)}`);
    sleepMs = ms;
  } else if (action === "panic") {
    if (value !== undefined && value !== "") message = unquote(value);
  } else if (value !== undefined && value !== "") {
    throw bad(`${action} takes no value`);
  }
  return { desc: s.slice(0, i), mods, action, sleepMs, message };
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    try {
      return JSON.parse(v) as string;
    } catch {
      return v.slice(1, -1);
    }
  }
  return v;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** parseDuration reads a sleep value: an integer (milliseconds, as gofail) or a Go duration ("1.5s", "100ms", "1m30s"), quoted or not. */
export function parseDuration(v: string): number | undefined {
  const s = unquote(v.trim());
  if (/^\d+$/.test(s)) return Number(s);
  if (s === "" || !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  return ms;
}

/** SLEEP_CELL is what a sync sleep waits on (Atomics.wait: nothing ever notifies it). */
const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));

/** Failpoint is one named place in the code; `armed` is what the call site checks. */
export class Failpoint {
  /** armed: terms are set (the site must call hit/hitSync). Read on hot paths: keep it a plain field. */
  armed = false;
  private chain: Term[] = [];
  private desc = "";
  private runs = 0;

  constructor(
    readonly name: string,
    readonly kind: FailpointKind,
    private readonly registry: FailpointRegistry,
  ) {}

  /** terms is the term string as given ("" when off). */
  get terms(): string {
    return this.desc;
  }

  /** count is how many times a term of this failpoint ran since it was armed. */
  get count(): number {
    return this.runs;
  }

  /** set arms the failpoint with a term chain (throws FailpointError on a bad one). */
  set(desc: string): void {
    const chain = parseTerms(desc);
    this.chain = chain;
    this.desc = desc.trim();
    this.runs = 0;
    this.armed = true;
  }

  /** clear disarms the failpoint. */
  clear(): void {
    this.armed = false;
    this.chain = [];
    this.desc = "";
  }

  /**
   * hit runs the terms at an async site: `if (FP.x.armed) await FP.x.hit();`. panic does not
   * return; sleep resolves after the delay without blocking the event loop.
   */
  hit(): Promise<void> {
    const t = this.next();
    if (t === undefined) return Promise.resolve();
    if (t.action === "sleep") return new Promise((r) => setTimeout(r, t.sleepMs));
    this.act(t);
    return Promise.resolve();
  }

  /** hitSync runs the terms at a sync site: `if (FP.x.armed) FP.x.hitSync();`. sleep blocks the whole event loop. */
  hitSync(): void {
    const t = this.next();
    if (t === undefined) return;
    if (t.action === "sleep") {
      Atomics.wait(SLEEP_CELL, 0, 0, t.sleepMs);
      return;
    }
    this.act(t);
  }

  /** next picks the term to run now (gofail: the first whose mods all allow it), counting it. */
  private next(): Term | undefined {
    if (!this.armed) return undefined;
    for (const t of this.chain) {
      if (this.allows(t)) {
        this.runs++;
        return t.action === "off" ? undefined : t;
      }
    }
    return undefined;
  }

  private allows(t: Term): boolean {
    for (const m of t.mods) {
      if (m.kind === "count") {
        if (m.n <= 0) return false;
        m.n--;
      } else if (!(this.registry.random() < m.n)) {
        return false;
      }
    }
    return true;
  }

  private act(t: Term): void {
    if (t.action === "print") {
      this.registry.logger?.warn("failpoint print", { failpoint: this.name });
    } else if (t.action === "panic") {
      this.registry.logger?.error(`failpoint panic: ${t.message ?? this.name}`, { failpoint: this.name, terms: this.desc });
      this.registry.crash(this.name);
    }
  }
}

/** RegistryOptions: how a panic crashes (tests replace it), the random source of P% terms, the logger. */
export interface RegistryOptions {
  crash?: (name: string) => void;
  random?: () => number;
}

/**
 * crashProcess ends this process at once, like a crash: SIGKILL to itself runs no exit
 * handlers, flushes no user-space buffer and closes nothing gracefully. What was handed to
 * the kernel (written files, sent bytes) survives, as after a real process crash.
 */
export function crashProcess(): void {
  process.kill(process.pid, "SIGKILL");
  // Not reached: the kernel delivers SIGKILL before kill(2) returns to this thread.
  process.abort();
}

/** FailpointRegistry holds the failpoints by name. */
export class FailpointRegistry {
  private readonly points = new Map<string, Failpoint>();
  readonly crash: (name: string) => void;
  readonly random: () => number;
  logger: Logger | undefined;

  constructor(o: RegistryOptions = {}) {
    this.crash = o.crash ?? crashProcess;
    this.random = o.random ?? Math.random;
  }

  /** declare adds a failpoint (once per name). */
  declare(name: string, kind: FailpointKind): Failpoint {
    if (this.points.has(name)) throw new Error(`failpoint ${name} declared twice`);
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`failpoint name ${JSON.stringify(name)} is not an identifier`);
    const fp = new Failpoint(name, kind, this);
    this.points.set(name, fp);
    return fp;
  }

  get(name: string): Failpoint | undefined {
    return this.points.get(name);
  }

  private must(name: string): Failpoint {
    const fp = this.points.get(name);
    if (fp === undefined) throw new FailpointError(`failpoint: no failpoint named ${JSON.stringify(name)} (known: ${this.names().join(", ")})`, "unknown");
    return fp;
  }

  /** enable arms `name` with terms. */
  enable(name: string, terms: string): void {
    this.must(name).set(terms);
  }

  /** disable disarms `name`. */
  disable(name: string): void {
    this.must(name).clear();
  }

  /** disableAll disarms every failpoint. */
  disableAll(): void {
    for (const fp of this.points.values()) fp.clear();
  }

  /** status is the terms of `name` ("" when off). */
  status(name: string): string {
    return this.must(name).terms;
  }

  /** names lists the failpoints, sorted. */
  names(): string[] {
    return [...this.points.keys()].sort();
  }

  /** list lists every failpoint with its terms, sorted by name. */
  list(): { name: string; kind: FailpointKind; terms: string }[] {
    return this.names().map((n) => {
      const fp = this.points.get(n) as Failpoint;
      return { name: n, kind: fp.kind, terms: fp.terms };
    });
  }

  /**
   * enableFromEnv arms the failpoints of an ETCD_TS_FAILPOINTS value: `name=term` items
   * separated by `;` (empty items ignored). Every item is checked before any is armed.
   */
  enableFromEnv(value: string): void {
    const items: [string, string][] = [];
    for (const raw of value.split(";")) {
      const item = raw.trim();
      if (item === "") continue;
      const eq = item.indexOf("=");
      if (eq <= 0) throw new FailpointError(`failpoint: ${JSON.stringify(item)} is not name=term`, "parse");
      const name = item.slice(0, eq).trim();
      const terms = item.slice(eq + 1);
      this.must(name);
      parseTerms(terms);
      items.push([name, terms]);
    }
    for (const [name, terms] of items) this.enable(name, terms);
  }

  /** handle serves gofail's HTTP API (see the module comment). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, body = ""): void => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
      res.end(body);
    };
    const url = req.url ?? "";
    if (!url.startsWith("/")) return reply(400, "malformed request URI\n");
    let key: string;
    try {
      key = decodeURIComponent(url.slice(1).split("?")[0] as string);
    } catch {
      return reply(400, "malformed request URI\n");
    }
    const known = (name: string): boolean => {
      if (this.points.has(name)) return true;
      reply(404, `failpoint: no failpoint named ${JSON.stringify(name)}\n`);
      return false;
    };
    switch (req.method) {
      case "GET": {
        if (key === "") {
          const lines = this.list().map((f) => `${f.name}=${f.terms}\n`);
          return reply(200, lines.join(""));
        }
        if (key.endsWith("/count")) {
          const name = key.slice(0, -"/count".length);
          if (!known(name)) return;
          return reply(200, `${(this.points.get(name) as Failpoint).count}\n`);
        }
        if (!known(key)) return;
        return reply(200, `${this.status(key)}\n`);
      }
      case "PUT": {
        if (!known(key)) return;
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          try {
            this.enable(key, Buffer.concat(chunks).toString("utf8"));
          } catch (err) {
            return reply(400, `failed to set failpoint ${key}: ${(err as Error).message}\n`);
          }
          this.logger?.warn("failpoint armed", { failpoint: key, terms: this.status(key) });
          // The reply is handed to the socket before any site can reach the failpoint (sites
          // run in later event-loop turns), so a panic does not swallow it.
          reply(204);
        });
        return;
      }
      case "DELETE": {
        if (!known(key)) return;
        this.disable(key);
        this.logger?.warn("failpoint disarmed", { failpoint: key });
        return reply(204);
      }
      default:
        res.setHeader("allow", "GET, PUT, DELETE");
        return reply(405, "method not allowed\n");
    }
  }
}

/** failpoints is the process's registry; FP below declares every failpoint in it. */
export const failpoints = new FailpointRegistry();

const a = (name: string): Failpoint => failpoints.declare(name, "async");
const s = (name: string): Failpoint => failpoints.declare(name, "sync");

/**
 * FP are the server's failpoints (names as etcd's where etcd has one). Async ones delay only
 * the raft Ready loop (which handles one Ready at a time) when they sleep; sync ones block the
 * event loop. Where each sits:
 */
export const FP = {
  /** raft_node: before a leader's messages are handed to the transport (the early send before its WAL write, or after it). */
  raftBeforeLeaderSend: a("raftBeforeLeaderSend"),
  /** raft_node: before a follower's or candidate's messages are handed to the transport (after its WAL write). */
  raftBeforeFollowerSend: a("raftBeforeFollowerSend"),
  /** raft_node: before a Ready's entries / hard state are written to the WAL (only when there is something to save). */
  raftBeforeSave: a("raftBeforeSave"),
  /** raft_node: after that WAL write and its fdatasync completed, before this Ready's entries reach raft storage, peers or the apply. */
  raftAfterSave: a("raftAfterSave"),
  /** raft_node: before a batch of committed entries is applied. */
  raftBeforeApply: a("raftBeforeApply"),
  /** raft_node: after a batch is applied and its backend batch committed (handed to the backend, maybe not yet written). */
  raftAfterApply: a("raftAfterApply"),
  /** etcd_server: before a snapshot marker is written to the WAL (a local snapshot, after the backend sync; or a leader's snapshot, once its stream is kept durably and before the backend is rewritten from it). */
  raftBeforeSaveSnap: a("raftBeforeSaveSnap"),
  /** etcd_server: after that snapshot marker is durable in the WAL. */
  raftAfterSaveSnap: a("raftAfterSaveSnap"),
  /** etcd_server: after a local snapshot released (and purged, as --max-wals allows) the WAL segments before it. */
  raftAfterWALRelease: a("raftAfterWALRelease"),
  /** etcd_server: before a snapshot received from the leader is installed (nothing local changed yet). */
  raftBeforeApplySnap: a("raftBeforeApplySnap"),
  /** snapshot_install: while the backend is rewritten from a snapshot received from the leader, after every old key was deleted and before the snapshot's keys are written (at start, too, when a pending snapshot is installed). */
  raftMidApplySnap: a("raftMidApplySnap"),
  /** etcd_server: after a snapshot received from the leader is installed (backend, WAL marker, raft storage). */
  raftAfterApplySnap: a("raftAfterApplySnap"),
  /** go_data_dir: converting a Go etcd data dir, once the etcd-ts member is built and before the marker saying it is complete. */
  goConvertBeforeMark: a("goConvertBeforeMark"),
  /** go_data_dir: converting a Go etcd data dir, after the Go originals were renamed aside and before the built member took their place. */
  goConvertMidSwap: a("goConvertMidSwap"),
  /** apply_loop (sync): before each normal entry above the consistent index is applied. */
  beforeApplyOneEntryNormal: s("beforeApplyOneEntryNormal"),
  /** apply_loop (sync): before each conf change above the consistent index is applied. */
  beforeApplyOneConfChange: s("beforeApplyOneConfChange"),
  /** apply_loop (sync): before an applied batch (with its consistent index) is committed to the backend batch transaction. */
  beforeCommit: s("beforeCommit"),
  /** apply_loop (sync): once that batch's backend write completed (written, not fsync'ed: backend writes are unsynced). */
  afterCommit: s("afterCommit"),
} as const;

/** FailpointEnv are the environment variables that turn failpoints on. */
export const ENV_FAILPOINTS = "ETCD_TS_FAILPOINTS";
export const ENV_FAILPOINTS_HTTP = "ETCD_TS_FAILPOINTS_HTTP";

/** FailpointServer is the started HTTP endpoint. */
export interface FailpointServer {
  /** address is "host:port" actually bound. */
  address: string;
  close(): Promise<void>;
}

/** parseHostPort reads "127.0.0.1:22381", "[::1]:22381" or "localhost:22381". */
export function parseHostPort(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v.trim());
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) throw new FailpointError(`${ENV_FAILPOINTS_HTTP}: ${JSON.stringify(v)} is not host:port`, "parse");
  return { host: (m[1] ?? m[2]) as string, port };
}

/** serveFailpoints starts the HTTP API of a registry on host:port (that address only). */
export function serveFailpoints(registry: FailpointRegistry, hostPort: string): Promise<FailpointServer> {
  const { host, port } = parseHostPort(hostPort);
  const server: Server = createServer((req, res) => registry.handle(req, res));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      // The endpoint never keeps the process alive by itself.
      server.unref();
      const addr = server.address() as AddressInfo;
      resolve({
        address: addr.family === "IPv6" ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * setupFailpoints reads ETCD_TS_FAILPOINTS and ETCD_TS_FAILPOINTS_HTTP. With neither set it
 * does nothing (every failpoint stays unarmed). Otherwise it logs a loud warning, arms the
 * listed failpoints and starts the HTTP endpoint. A bad value throws (the member must not
 * start with a fault plan it misread).
 */
export async function setupFailpoints(env: NodeJS.ProcessEnv, logger: Logger, registry: FailpointRegistry = failpoints): Promise<FailpointServer | undefined> {
  const terms = env[ENV_FAILPOINTS];
  const http = env[ENV_FAILPOINTS_HTTP];
  const haveTerms = terms !== undefined && terms.trim() !== "";
  const haveHttp = http !== undefined && http.trim() !== "";
  if (!haveTerms && !haveHttp) return undefined;
  registry.logger = logger;
  logger.warn("failpoints enabled; this member may crash on purpose", {
    [ENV_FAILPOINTS]: terms ?? "",
    [ENV_FAILPOINTS_HTTP]: http ?? "",
  });
  if (haveTerms) registry.enableFromEnv(terms);
  if (!haveHttp) return undefined;
  const srv = await serveFailpoints(registry, http);
  logger.warn("serving the failpoint HTTP endpoint", { address: srv.address });
  return srv;
}
