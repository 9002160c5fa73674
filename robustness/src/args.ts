import { parseArgs as parse } from "node:util";
import { FAULT_KINDS, type FaultKind } from "./faults.js";

/** Args are `npm run robustness`'s flags. Durations are milliseconds. */
export interface Args {
  help: boolean;
  runs: number;
  seed: number;
  servers: ("etcd-ts" | "etcd")[];
  members: number[];
  faults: FaultKind[];
  durationMs: number;
  clients: number;
  watchers: number;
  keys: number;
  opTimeoutMs: number;
  heartbeatMs: number;
  electionMs: number;
  snapshotCount: number | undefined;
  availability: boolean;
  staleReads: boolean;
  keep: boolean;
  dir: string;
  extraArgs: string[];
}

export const USAGE = `usage: npm run robustness -- [flags]

Randomized fault runs: a cluster on loopback, recording clients (put, range, delete, txn,
leases) and watchers, one kind of fault injected again and again, then the history is checked
for linearizability and etcd's watch guarantees. Every run prints its seed; --seed reproduces it.

  --runs N              runs to do (default 1); run i uses seed S+i
  --seed S              first seed (default: random, printed)
  --server NAME         etcd-ts (default) or etcd (the real etcd at /usr/bin/etcd); repeatable
  --members LIST        cluster sizes to draw from, e.g. 3 or 1,3,5 (default 3)
  --fault LIST          fault kinds to draw from (default: all): ${FAULT_KINDS.join(", ")}
  --duration D          fault schedule length per run, e.g. 10s (default 10s)
  --clients N           recording clients (default 6)
  --watchers N          recording watchers (default 2)
  --keys N              distinct keys (default 8)
  --op-timeout D        per-call deadline; a write past it has an unknown outcome (default 1s)
  --heartbeat-interval MS, --election-timeout MS   raft timing (default 100, 1000)
  --snapshot-count N    --snapshot-count for the members (default: drawn per run, the
                        server's default or 100, so lagging members get snapshots)
  --availability        the availability comparison: etcd and etcd-ts in turn under one
                        schedule (default: blackhole-in, 4 s every 3-5 s, 45 s, 8 clients,
                        puts and linearizable gets on 4 keys); prints both and the ratio
  --planted-stale-reads start etcd-ts with ETCD_TS_UNSAFE_STALE_READS=1 (the checker must fail)
  --keep                keep every run's directory (failed runs are always kept)
  --dir PATH            where runs live (default /tmp/etcd-ts-robustness)
  --server-arg ARG      extra flag for every member (repeatable)
`;

/** duration parses "10s", "500ms", "2m" or plain milliseconds. */
export function duration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (m === null) throw new Error(`robustness: bad duration ${JSON.stringify(s)}`);
  const n = Number(m[1]);
  return Math.round(m[2] === "s" ? n * 1000 : m[2] === "m" ? n * 60_000 : n);
}

function int(name: string, s: string | undefined, dflt: number): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new Error(`robustness: --${name} wants a non-negative integer, got ${JSON.stringify(s)}`);
  return n;
}

export function parseArgs(argv: string[]): Args {
  const { values: v } = parse({
    args: argv,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      runs: { type: "string" },
      seed: { type: "string" },
      server: { type: "string", multiple: true },
      members: { type: "string" },
      fault: { type: "string" },
      duration: { type: "string" },
      clients: { type: "string" },
      watchers: { type: "string" },
      keys: { type: "string" },
      "op-timeout": { type: "string" },
      "heartbeat-interval": { type: "string" },
      "election-timeout": { type: "string" },
      "snapshot-count": { type: "string" },
      availability: { type: "boolean" },
      "planted-stale-reads": { type: "boolean" },
      keep: { type: "boolean" },
      dir: { type: "string" },
      "server-arg": { type: "string", multiple: true },
    },
  });
  const servers = (v.server ?? ["etcd-ts"]).map((s) => {
    if (s !== "etcd-ts" && s !== "etcd") throw new Error(`robustness: --server is etcd-ts or etcd, got ${JSON.stringify(s)}`);
    return s;
  });
  const faults = (v.fault ?? FAULT_KINDS.join(",")).split(",").map((f) => {
    if (!FAULT_KINDS.includes(f as FaultKind)) throw new Error(`robustness: unknown fault ${JSON.stringify(f)}; known: ${FAULT_KINDS.join(", ")}`);
    return f as FaultKind;
  });
  const members = (v.members ?? "3").split(",").map((s) => {
    const n = int("members", s, 3);
    if (n < 1 || n > 7) throw new Error("robustness: --members takes sizes from 1 to 7");
    return n;
  });
  return {
    help: v.help ?? false,
    runs: int("runs", v.runs, 1),
    seed: int("seed", v.seed, Math.floor(Math.random() * 1_000_000)),
    servers,
    members,
    faults,
    durationMs: duration(v.duration ?? (v.availability === true ? "45s" : "10s")),
    clients: int("clients", v.clients, v.availability === true ? 8 : 6),
    watchers: int("watchers", v.watchers, 2),
    keys: int("keys", v.keys, v.availability === true ? 4 : 8),
    opTimeoutMs: duration(v["op-timeout"] ?? "1s"),
    heartbeatMs: int("heartbeat-interval", v["heartbeat-interval"], 100),
    electionMs: int("election-timeout", v["election-timeout"], 1000),
    snapshotCount: v["snapshot-count"] === undefined ? undefined : int("snapshot-count", v["snapshot-count"], 0),
    availability: v.availability ?? false,
    staleReads: v["planted-stale-reads"] ?? false,
    keep: v.keep ?? false,
    dir: v.dir ?? "/tmp/etcd-ts-robustness",
    extraArgs: v["server-arg"] ?? [],
  };
}
