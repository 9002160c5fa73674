import { AUTH_PASSWORD, AUTH_ROLE, AUTH_USER } from "./auth.js";
import { DEFAULT_DEFRAG_MB, DEFAULT_DEFRAG_VALUE_SIZE } from "./defrag.js";
import { isNodeCommand, PROFILE_TOP } from "./profile.js";
import type { Transport } from "./protocol.js";
import { DEFAULT_RANGE_ALL_MB, DEFAULT_RANGE_ALL_VALUE_SIZE } from "./range_all.js";
import { DEFAULT_SNAPSHOT_MB, DEFAULT_SNAPSHOT_VALUE_SIZE } from "./snapshot.js";
import type { ServerEntry, ServerKind } from "./servers.js";
import { DEFAULT_MAX_CONNS, DEFAULT_WATCH_WRITERS, DEFAULT_WORKLOADS, LEASE_TTL_SECONDS } from "./workload.js";

/** BenchOptions is the parsed command line. Times are in seconds. */
export interface BenchOptions {
  help: boolean;
  /**
   * servers lists the servers to run, in order, each with or without authentication
   * ("etcd+auth"); the first of each auth setting is the baseline of the ratios.
   */
  servers: ServerEntry[];
  etcdBin: string;
  /** etcdTsCmd is the etcd-ts command (argv); undefined means node apps/server/bin/etcd-ts.js. */
  etcdTsCmd: string[] | undefined;
  workloads: string[];
  duration: number;
  warmup: number;
  quick: boolean;
  /** cluster is the number of members per server (1 or an odd number up to 7). */
  cluster: number;
  /** conns caps the gRPC connections per workload. */
  conns: number;
  /** watchWriters is the number of put clients feeding a watch workload. */
  watchWriters: number;
  /** workers is the number of load-generator threads. */
  workers: number;
  transport: Transport;
  /** rounds is how often each workload runs per server; the median-throughput round is reported. */
  rounds: number;
  /** order "interleaved" keeps all servers up and alternates them per workload; "sequential" runs one server at a time. */
  order: "interleaved" | "sequential";
  keySpace: number;
  keySize: number;
  valueSize: number;
  dataRoot: string | undefined;
  out: string | undefined;
  startTimeout: number;
  requestTimeout: number;
  /** maxRequests bounds the requests one workload sends. */
  maxRequests: number;
  seed: number;
  /** defragMb is how many MiB of values a defrag workload writes before its run (half are deleted). */
  defragMb: number;
  /** defragValueSize is the value size of a defrag workload's fill and load. */
  defragValueSize: number;
  /** snapshotMb is how many MiB of values a snapshot workload writes before its run (all kept). */
  snapshotMb: number;
  /** snapshotValueSize is the value size of a snapshot workload's fill. */
  snapshotValueSize: number;
  /** rangeAllMb is how many MiB of values a range-all workload writes before its run (all read by its Range). */
  rangeAllMb: number;
  /** rangeAllValueSize is the value size of a range-all workload's fill, in bytes. */
  rangeAllValueSize: number;
  /**
   * auth turns on authentication in every server (as if each --servers entry had "+auth")
   * and sends every request with a root token.
   */
  auth: boolean;
  /**
   * profile runs every etcd-ts entry under `node --cpu-prof` (one profile per member, over
   * the whole run) and reports a summary of each profile.
   */
  profile: boolean;
}

/** DEFAULTS are the options used when a flag is not given (duration/warmup before --quick). */
export const DEFAULTS: Readonly<BenchOptions> = {
  help: false,
  servers: [
    { kind: "etcd", auth: false },
    { kind: "etcd-ts", auth: false },
  ],
  etcdBin: "/usr/bin/etcd",
  etcdTsCmd: undefined,
  workloads: [...DEFAULT_WORKLOADS],
  duration: 6,
  warmup: 1,
  quick: false,
  cluster: 1,
  conns: DEFAULT_MAX_CONNS,
  watchWriters: DEFAULT_WATCH_WRITERS,
  workers: 1,
  transport: "h2",
  rounds: 1,
  order: "interleaved",
  keySpace: 10000,
  keySize: 8,
  valueSize: 256,
  dataRoot: undefined,
  out: undefined,
  startTimeout: 30,
  requestTimeout: 10,
  maxRequests: 5_000_000,
  seed: 42,
  defragMb: DEFAULT_DEFRAG_MB,
  defragValueSize: DEFAULT_DEFRAG_VALUE_SIZE,
  snapshotMb: DEFAULT_SNAPSHOT_MB,
  snapshotValueSize: DEFAULT_SNAPSHOT_VALUE_SIZE,
  rangeAllMb: DEFAULT_RANGE_ALL_MB,
  rangeAllValueSize: DEFAULT_RANGE_ALL_VALUE_SIZE,
  auth: false,
  profile: false,
};

/** AUTH_SUFFIX marks a --servers entry that runs with authentication on ("etcd+auth"). */
export const AUTH_SUFFIX = "+auth";

/** QUICK_DURATION and QUICK_WARMUP replace the defaults under --quick. */
export const QUICK_DURATION = 2;
export const QUICK_WARMUP = 0.5;

/** wrapList joins items with commas into lines of at most `width` characters, indented by `indent` spaces. */
export function wrapList(items: readonly string[], indent: number, width: number): string {
  const lines: string[] = [];
  let cur = "";
  items.forEach((item, i) => {
    const piece = item + (i < items.length - 1 ? "," : "");
    if (cur !== "" && cur.length + piece.length > width) {
      lines.push(cur);
      cur = "";
    }
    cur += piece;
  });
  if (cur !== "") lines.push(cur);
  return lines.map((l) => " ".repeat(indent) + l).join("\n");
}

/** USAGE is the --help text. */
export const USAGE = `usage: npm run bench -- [flags]

Benchmarks etcd-ts against the real etcd on this machine, side by side.

  --servers LIST        servers to run, in order: etcd, etcd-ts (default etcd,etcd-ts);
                        a kind may repeat (etcd,etcd measures run-to-run noise); with
                        the suffix ${AUTH_SUFFIX} a server runs with authentication on (as
                        under --auth, for that entry only): etcd,etcd+auth,etcd-ts,etcd-ts+auth
                        gives each kind's auth cost (throughput lost with auth on) in one
                        run; the first entry of each auth setting is the baseline of the
                        ratio rows of that setting (etcd-ts+auth/etcd+auth)
  --etcd-bin PATH       real etcd binary (default /usr/bin/etcd)
  --etcd-ts-cmd CMD     etcd-ts command, split on spaces
                        (default: node <repo>/apps/server/bin/etcd-ts.js)
  --workloads LIST      <op>-<clients>, op one of put, range, range-serializable,
                        lease-put, watch, defrag; or snapshot, range-all; default:
${wrapList(DEFAULT_WORKLOADS, 24, 60)}
                          put-N, range-N, range-serializable-N: N clients, one request each
                          lease-put-N: N clients; one op = LeaseGrant (TTL ${LEASE_TTL_SECONDS} s) then
                            a Put attached to that lease (leases revoked after the run)
                          watch-N: N watchers on one prefix over min(N, --conns) Watch
                            streams, fed by --watch-writers put clients; measures events
                            received per second and put-sent -> event-received latency;
                            lost or duplicated events count as errors
                          defrag-N: fills the store (--defrag-mb), deletes and compacts
                            half, then N/2 put and N/2 linearizable range clients run
                            while one Maintenance.Defragment runs (the measured window);
                            reports its duration and the worst write pause
                          snapshot (or snapshot-1): fills the store (--snapshot-mb, all
                            kept), then reads one Maintenance.Snapshot stream from the
                            first member (the measured part, no warm-up); ops/s is its
                            MiB/s (2^20 bytes), p50/p99 its duration; reports time to
                            the first message, duration, bytes and MiB/s
                          range-all (or range-all-1): fills the store (--range-all-mb,
                            distinct keys under one prefix), then sends one linearizable
                            KV.Range over that whole prefix to the first member (the
                            measured part, no warm-up); the response must hold every key
                            filled; ops/s is its MiB/s, p50/p99 its duration; reports
                            bytes, kvs, and the servers' extra memory while serving it
                            (peak RSS, VmHWM reset through /proc/<pid>/clear_refs just
                            before the call, minus the RSS then; summed over the members)
  --duration SEC        measured seconds per workload (default ${DEFAULTS.duration}; ${QUICK_DURATION} with --quick)
  --warmup SEC          unmeasured seconds before each workload (default ${DEFAULTS.warmup}; ${QUICK_WARMUP} with --quick)
  --quick               short run for a smoke test
  --cluster N           members per server: 1 or 3 (odd, up to 7) (default 1)
  --conns N             gRPC connections per workload, at most one per client (default ${DEFAULT_MAX_CONNS})
  --watch-writers N     put clients feeding each watch workload (default ${DEFAULT_WATCH_WRITERS})
  --workers N           load-generator threads (default 1)
  --transport T         h2 (the bench's lean HTTP/2 client, default) or grpc-js
  --rounds N            runs of each workload per server; the median is reported (default 1)
  --order O             interleaved (default: all servers up, alternating per workload)
                        or sequential (one server at a time)
  --key-space N         distinct keys (default ${DEFAULTS.keySpace})
  --key-size N          key bytes (default ${DEFAULTS.keySize})
  --value-size N        value bytes (default ${DEFAULTS.valueSize})
  --data-root DIR       where temporary data directories go (default: the OS temp dir)
  --out FILE            JSON results (default bench/results/latest.json)
  --start-timeout SEC   wait for a server to answer (default ${DEFAULTS.startTimeout})
  --request-timeout SEC deadline of each request (default ${DEFAULTS.requestTimeout})
  --max-requests N      bound on the requests one workload sends (default ${DEFAULTS.maxRequests})
  --seed N              key-choice seed, the same for every server (default ${DEFAULTS.seed})
  --defrag-mb N         MiB of values a defrag workload writes first (default ${DEFAULT_DEFRAG_MB})
  --defrag-value-size N value bytes of a defrag workload (default ${DEFAULT_DEFRAG_VALUE_SIZE})
  --snapshot-mb N       MiB of values a snapshot workload writes first, distinct keys,
                        none deleted (default ${DEFAULT_SNAPSHOT_MB}); once per server
  --snapshot-value-size N
                        value bytes of a snapshot workload's fill (default ${DEFAULT_SNAPSHOT_VALUE_SIZE})
  --range-all-mb N      MiB of values a range-all workload writes first and its Range
                        reads back whole (default ${DEFAULT_RANGE_ALL_MB}); once per server
  --range-all-value-size N
                        value bytes of a range-all workload's fill (default ${DEFAULT_RANGE_ALL_VALUE_SIZE})
  --auth                authentication on in every server (a ${AUTH_SUFFIX} on every --servers
                        entry): once a server is up, through its first member:
                        UserAdd ${AUTH_USER} (password "${AUTH_PASSWORD}"), UserGrantRole ${AUTH_USER} ${AUTH_ROLE},
                        AuthEnable; before each workload (and its fill or preparation)
                        Authenticate for a fresh simple token, which every request and
                        Watch stream then carries (header "token"). User root skips
                        etcd's key-range permission check (in both servers), so this
                        measures the token lookup and auth check each request pays
  --profile             run every etcd-ts under node --cpu-prof (flags inserted after
                        node, so --etcd-ts-cmd must start with node), one profile per
                        member over the whole run; once the servers have stopped, print
                        each member's top ${PROFILE_TOP} functions by self time and the totals
                        of (garbage collector), (idle) and (program); the profiles are
                        kept in bench/results/profiles/. Profiling slows etcd-ts: the
                        ratios of a profiled run are not comparable with an unprofiled one
  -h, --help            this text
`;

const SERVER_KINDS: readonly ServerKind[] = ["etcd", "etcd-ts"];

/**
 * parseServer parses one --servers entry: a kind, optionally followed by AUTH_SUFFIX.
 * Throws "bench: ..." on an unknown kind or suffix.
 */
export function parseServer(entry: string): ServerEntry {
  const plus = entry.indexOf("+");
  const name = plus >= 0 ? entry.slice(0, plus) : entry;
  const suffix = plus >= 0 ? entry.slice(plus) : "";
  const kind = SERVER_KINDS.find((k) => k === name);
  if (kind === undefined) throw new Error(`bench: unknown server "${name}" in "${entry}" (want ${SERVER_KINDS.join(" or ")})`);
  if (suffix !== "" && suffix !== AUTH_SUFFIX) {
    throw new Error(`bench: unknown suffix "${suffix}" in server "${entry}" (the only one is ${AUTH_SUFFIX}, as in ${kind}${AUTH_SUFFIX})`);
  }
  return { kind, auth: suffix === AUTH_SUFFIX };
}

/**
 * splitCommand splits a command line on whitespace; single or double quotes keep spaces
 * inside one argument. Throws on an unterminated quote.
 */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inArg = false;
  let quote: string | undefined;
  for (const ch of cmd) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inArg = true;
    } else if (/\s/.test(ch)) {
      if (inArg) out.push(cur);
      cur = "";
      inArg = false;
    } else {
      cur += ch;
      inArg = true;
    }
  }
  if (quote !== undefined) throw new Error(`bench: unterminated ${quote} in command "${cmd}"`);
  if (inArg) out.push(cur);
  return out;
}

function list(v: string): string[] {
  return v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function number(flag: string, v: string, min: number, max: number, integer: boolean): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new Error(`bench: ${flag} wants ${integer ? "an integer" : "a number"} in ${min}..${max}, got "${v}"`);
  }
  return n;
}

/**
 * parseArgs parses the bench's command line (flags as "--flag value" or "--flag=value").
 * Throws "bench: ..." on an unknown flag or a bad value.
 */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const o: BenchOptions = { ...DEFAULTS, servers: DEFAULTS.servers.map((e) => ({ ...e })), workloads: [...DEFAULTS.workloads] };
  let duration: number | undefined;
  let warmup: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-h" || arg === "--help") {
      o.help = true;
      continue;
    }
    if (arg === "--quick") {
      o.quick = true;
      continue;
    }
    if (arg === "--auth") {
      o.auth = true;
      continue;
    }
    if (arg === "--profile") {
      o.profile = true;
      continue;
    }
    if (!arg.startsWith("--")) throw new Error(`bench: unexpected argument "${arg}"`);
    const eq = arg.indexOf("=");
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new Error(`bench: ${flag} needs a value`);
      value = next;
      i++;
    }
    switch (flag) {
      case "--servers": {
        const entries = list(value);
        if (entries.length === 0) throw new Error("bench: --servers needs at least one server");
        o.servers = entries.map(parseServer);
        break;
      }
      case "--etcd-bin":
        o.etcdBin = value;
        break;
      case "--etcd-ts-cmd": {
        const argvTs = splitCommand(value);
        if (argvTs.length === 0) throw new Error("bench: --etcd-ts-cmd is empty");
        o.etcdTsCmd = argvTs;
        break;
      }
      case "--workloads":
        o.workloads = list(value);
        if (o.workloads.length === 0) throw new Error("bench: --workloads needs at least one workload");
        break;
      case "--duration":
        duration = number(flag, value, 0.1, 3600, false);
        break;
      case "--warmup":
        warmup = number(flag, value, 0, 600, false);
        break;
      case "--cluster":
        o.cluster = number(flag, value, 1, 7, true);
        if (o.cluster % 2 === 0) throw new Error("bench: --cluster wants an odd member count (1, 3, 5, 7)");
        break;
      case "--conns":
        o.conns = number(flag, value, 1, 1000, true);
        break;
      case "--watch-writers":
        o.watchWriters = number(flag, value, 1, 10000, true);
        break;
      case "--workers":
        o.workers = number(flag, value, 1, 64, true);
        break;
      case "--transport":
        if (value !== "h2" && value !== "grpc-js") throw new Error(`bench: --transport wants h2 or grpc-js, got "${value}"`);
        o.transport = value;
        break;
      case "--rounds":
        o.rounds = number(flag, value, 1, 100, true);
        break;
      case "--order":
        if (value !== "interleaved" && value !== "sequential") {
          throw new Error(`bench: --order wants interleaved or sequential, got "${value}"`);
        }
        o.order = value;
        break;
      case "--key-space":
        o.keySpace = number(flag, value, 1, 10_000_000, true);
        break;
      case "--key-size":
        o.keySize = number(flag, value, 1, 1024, true);
        break;
      case "--value-size":
        o.valueSize = number(flag, value, 0, 1024 * 1024, true);
        break;
      case "--data-root":
        o.dataRoot = value;
        break;
      case "--out":
        o.out = value;
        break;
      case "--start-timeout":
        o.startTimeout = number(flag, value, 1, 600, false);
        break;
      case "--request-timeout":
        o.requestTimeout = number(flag, value, 0.1, 600, false);
        break;
      case "--max-requests":
        o.maxRequests = number(flag, value, 1, 1e9, true);
        break;
      case "--seed":
        o.seed = number(flag, value, 0, 0xffffffff, true);
        break;
      case "--defrag-mb":
        o.defragMb = number(flag, value, 1, 8192, true);
        break;
      case "--defrag-value-size":
        o.defragValueSize = number(flag, value, 1, 1024 * 1024, true);
        break;
      case "--snapshot-mb":
        o.snapshotMb = number(flag, value, 1, 16384, true);
        break;
      case "--snapshot-value-size":
        o.snapshotValueSize = number(flag, value, 1, 1024 * 1024, true);
        break;
      case "--range-all-mb":
        o.rangeAllMb = number(flag, value, 1, 1024, true); // the response stays well under gRPC's 2 GiB
        break;
      case "--range-all-value-size":
        o.rangeAllValueSize = number(flag, value, 1, 1024 * 1024, true);
        break;
      default:
        throw new Error(`bench: unknown flag ${flag} (see --help)`);
    }
  }
  if (String(o.keySpace - 1).length > o.keySize) {
    throw new Error(`bench: --key-size ${o.keySize} is too small for --key-space ${o.keySpace}`);
  }
  if (o.auth) o.servers = o.servers.map((e) => ({ ...e, auth: true }));
  if (o.profile) {
    if (!o.servers.some((e) => e.kind === "etcd-ts")) {
      throw new Error("bench: --profile profiles etcd-ts, but --servers has no etcd-ts entry");
    }
    if (o.etcdTsCmd !== undefined && !isNodeCommand(o.etcdTsCmd)) {
      throw new Error(
        `bench: --profile runs etcd-ts under node --cpu-prof, so --etcd-ts-cmd must start with node ` +
          `(as "node <path>/etcd-ts.js ..."), not "${o.etcdTsCmd.join(" ")}"`,
      );
    }
  }
  o.duration = duration ?? (o.quick ? QUICK_DURATION : DEFAULTS.duration);
  o.warmup = warmup ?? (o.quick ? QUICK_WARMUP : DEFAULTS.warmup);
  return o;
}
