import type { WorkloadRun } from "./generator.js";
import type { MemberProfile } from "./profile.js";
import { rangeAllNote } from "./range_all.js";
import { snapshotNote } from "./snapshot.js";
import type { Op } from "./workload.js";

/** WorkloadResult is one workload's outcome on one server; when ok is false only error is meaningful. */
export interface WorkloadResult extends WorkloadRun {
  workload: string;
  op: Op;
  clients: number;
  conns: number;
  ok: boolean;
  error: string | undefined;
  /** rounds holds every measured round; the fields above are the median-throughput round's. */
  rounds: WorkloadRun[];
}

/** ServerResult is everything measured for one server entry. */
export interface ServerResult {
  label: string;
  kind: string;
  /** auth is true when the server ran with authentication on (a +auth entry, or --auth). */
  auth: boolean;
  /** command is member 0's full command line (or the configured command if it never started). */
  command: string;
  members: number;
  available: boolean;
  /** reason says why the server is not available. */
  reason: string | undefined;
  /** version is what the server's /version endpoint reported ("" if unknown). */
  version: string;
  workloads: WorkloadResult[];
  /**
   * rssAfterBytes is the server's resident set size (VmRSS summed over the members), in
   * bytes, after its last workload, just before it was stopped; absent when unreadable.
   */
  rssAfterBytes?: number;
  /** profile holds one CPU profile summary per member under --profile (etcd-ts only). */
  profile?: MemberProfile[];
}

/**
 * Ratio compares one server with its baseline (the first server with the same auth
 * setting) on one workload: server value / baseline value, so throughput > 1 is faster and
 * latency > 1 is slower.
 */
export interface Ratio {
  workload: string;
  server: string;
  baseline: string;
  throughput: number | null;
  p50: number | null;
  p99: number | null;
  /**
   * serverCpuPer1k compares server CPU seconds per 1,000 operations (above 1x the server
   * spends more CPU per operation); rss compares the RSS after the measured window (above
   * 1x the server holds more memory). null when a side has none.
   */
  serverCpuPer1k: number | null;
  rss: number | null;
  /** defragMs and worstWritePause compare a defrag run's Defragment duration and worst write pause. */
  defragMs?: number | null;
  worstWritePause?: number | null;
  /**
   * snapshotThroughput, snapshotDuration and snapshotFirstByte compare a snapshot run's
   * MiB/s (above 1x faster), call duration and time to the first message (above 1x slower).
   */
  snapshotThroughput?: number | null;
  snapshotDuration?: number | null;
  snapshotFirstByte?: number | null;
  /**
   * rangeAllDuration compares a range-all run's Range duration (above 1x slower),
   * rangeAllExtraMemory the servers' extra memory while serving it (above 1x more; null
   * when a side's is unknown or the baseline's is not above 0).
   */
  rangeAllDuration?: number | null;
  rangeAllExtraMemory?: number | null;
}

/** BenchReport is what `npm run bench` prints and writes as JSON. */
export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  host: { cpus: number; node: string; platform: string };
  settings: {
    members: number;
    durationSec: number;
    warmupSec: number;
    keySpace: number;
    keySize: number;
    valueSize: number;
    workers: number;
    transport: string;
    rounds: number;
    order: string;
    maxConns: number;
    watchWriters: number;
    /** defragMb and defragValueSize size a defrag workload's fill. */
    defragMb?: number;
    defragValueSize?: number;
    /** snapshotMb and snapshotValueSize size a snapshot workload's fill. */
    snapshotMb?: number;
    snapshotValueSize?: number;
    /** rangeAllMb and rangeAllValueSize size a range-all workload's fill. */
    rangeAllMb?: number;
    rangeAllValueSize?: number;
    /**
     * auth is true when every server had authentication on (--auth, or +auth on every
     * entry): every request carried a simple token of user root; each server's own auth
     * says which had it. Absent in reports written before the flag existed.
     */
    auth?: boolean;
    /**
     * profile is true when etcd-ts ran under node --cpu-prof (--profile): it was slowed by
     * the profiler, so the ratios are not comparable with an unprofiled run.
     */
    profile?: boolean;
  };
  servers: ServerResult[];
  ratios: Ratio[];
  /** authCosts holds one entry per workload and kind that ran both with and without auth. */
  authCosts: AuthCost[];
}

/**
 * AuthCost is what authentication cost one server kind on one workload: the first server
 * of that kind without auth ("etcd") against the first with it ("etcd+auth"), each at its
 * reported (median-throughput) round.
 */
export interface AuthCost {
  workload: string;
  kind: string;
  /** server and withAuth are the labels of the two servers compared. */
  server: string;
  withAuth: string;
  /**
   * throughputLost is 1 - throughput(withAuth) / throughput(server): 0.2 means 20% fewer
   * ops/s with auth on; below 0 the run with auth was faster (noise). null when server's
   * throughput is 0.
   */
  throughputLost: number | null;
}

function ratio(a: number, b: number): number | null {
  return b > 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : null;
}

/**
 * computeRatios compares like with like: every server with the first server of the same
 * auth setting (etcd-ts with etcd, etcd-ts+auth with etcd+auth), on each workload that
 * succeeded on both. A server whose baseline is not available gets no ratios.
 */
export function computeRatios(servers: readonly ServerResult[]): Ratio[] {
  const out: Ratio[] = [];
  for (const s of servers) {
    const base = servers.find((x) => x.auth === s.auth);
    if (base === undefined || base === s || !base.available || !s.available) continue;
    for (const w of s.workloads) {
      const b = base.workloads.find((x) => x.workload === w.workload);
      if (b === undefined || !b.ok || !w.ok) continue;
      const q: Ratio = {
        workload: w.workload,
        server: s.label,
        baseline: base.label,
        throughput: ratio(w.throughput, b.throughput),
        p50: ratio(w.p50Ms, b.p50Ms),
        p99: ratio(w.p99Ms, b.p99Ms),
        serverCpuPer1k: ratio(w.serverCpuSecondsPer1k, b.serverCpuSecondsPer1k),
        rss: w.rssBytes !== undefined && b.rssBytes !== undefined ? ratio(w.rssBytes, b.rssBytes) : null,
      };
      if (w.defrag !== undefined && b.defrag !== undefined) {
        q.defragMs = ratio(w.defrag.defragMs, b.defrag.defragMs);
        q.worstWritePause = ratio(w.defrag.worstWritePauseMs, b.defrag.worstWritePauseMs);
      }
      if (w.snapshot !== undefined && b.snapshot !== undefined) {
        q.snapshotThroughput = ratio(w.snapshot.mibPerSec, b.snapshot.mibPerSec);
        q.snapshotDuration = ratio(w.snapshot.durationMs, b.snapshot.durationMs);
        q.snapshotFirstByte = ratio(w.snapshot.firstByteMs, b.snapshot.firstByteMs);
      }
      if (w.rangeAll !== undefined && b.rangeAll !== undefined) {
        q.rangeAllDuration = ratio(w.rangeAll.durationMs, b.rangeAll.durationMs);
        const extra = w.rangeAll.extraBytes;
        const baseExtra = b.rangeAll.extraBytes;
        q.rangeAllExtraMemory = extra !== null && baseExtra !== null ? ratio(extra, baseExtra) : null;
      }
      out.push(q);
    }
  }
  return out;
}

/** fmtMs formats a latency in milliseconds with precision suited to its size. */
export function fmtMs(ms: number): string {
  if (ms < 1) return ms.toFixed(3);
  if (ms < 100) return ms.toFixed(2);
  return ms.toFixed(0);
}

function fmtRatio(r: number | null): string {
  return r === null ? "-" : `${r.toFixed(2)}x`;
}

/**
 * computeAuthCosts gives, for each server kind run both without and with auth, and each
 * workload that succeeded on both, the throughput lost with auth on (see AuthCost), by
 * workload and then kind in the order they were run.
 */
export function computeAuthCosts(servers: readonly ServerResult[]): AuthCost[] {
  const pairs: { kind: string; plain: ServerResult; authed: ServerResult }[] = [];
  for (const s of servers) {
    if (pairs.some((p) => p.kind === s.kind)) continue;
    const plain = servers.find((x) => x.kind === s.kind && !x.auth);
    const authed = servers.find((x) => x.kind === s.kind && x.auth);
    if (plain === undefined || authed === undefined || !plain.available || !authed.available) continue;
    pairs.push({ kind: s.kind, plain, authed });
  }
  const out: AuthCost[] = [];
  for (const name of workloadNames(servers)) {
    for (const { kind, plain, authed } of pairs) {
      const p = plain.workloads.find((x) => x.workload === name);
      const a = authed.workloads.find((x) => x.workload === name);
      if (p === undefined || a === undefined || !p.ok || !a.ok) continue;
      const r = ratio(a.throughput, p.throughput);
      out.push({ workload: name, kind, server: plain.label, withAuth: authed.label, throughputLost: r === null ? null : 1 - r });
    }
  }
  return out;
}

/** fmtPercent formats a fraction as a percentage with one decimal ("21.3%"); null is "-". */
export function fmtPercent(f: number | null): string {
  return f === null ? "-" : `${(f * 100).toFixed(1)}%`;
}

/**
 * authCostLines is the auth cost section of the table output: a heading, then one line
 * per workload with each kind's throughput lost with auth on; nothing without auth costs.
 */
export function authCostLines(costs: readonly AuthCost[]): string[] {
  if (costs.length === 0) return [];
  const out = ["auth cost (throughput lost with auth on):"];
  const names: string[] = [];
  for (const c of costs) if (!names.includes(c.workload)) names.push(c.workload);
  for (const name of names) {
    const parts = costs.filter((c) => c.workload === name).map((c) => `${c.kind} ${fmtPercent(c.throughputLost)}`);
    out.push(`  ${name}: ${parts.join(", ")}`);
  }
  return out;
}

/** workloadNames lists the workloads of the servers' results, in the order they first appear. */
function workloadNames(servers: readonly ServerResult[]): string[] {
  const names: string[] = [];
  for (const sv of servers) for (const w of sv.workloads) if (!names.includes(w.workload)) names.push(w.workload);
  return names;
}

/** authLine says which servers ran with authentication on. */
function authLine(servers: readonly ServerResult[]): string {
  const on = servers.filter((sv) => sv.auth).map((sv) => sv.label);
  const off = servers.filter((sv) => !sv.auth).map((sv) => sv.label);
  const what = "carried a simple token of user root (role root, so no key-range permission check)";
  if (on.length === 0) return "auth: off";
  if (off.length === 0) return `auth: on in every server: every request and Watch stream ${what}`;
  return `auth: on in ${on.join(", ")}: every request and Watch stream to them ${what}; off in ${off.join(", ")}`;
}

/**
 * alignColumns renders rows as a plain-text table: columns separated by two spaces, the
 * columns listed in rightAligned padded on the left, the others on the right.
 */
export function alignColumns(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/**
 * workloadNotes gives one line per watch, lease-put, defrag or snapshot result (by
 * workload, then server): what its op adds to the row; defrag and snapshot add a ratio line.
 */
export function workloadNotes(r: BenchReport): string[] {
  const out: string[] = [];
  for (const name of workloadNames(r.servers)) {
    for (const sv of r.servers) {
      const w = sv.workloads.find((x) => x.workload === name);
      if (w === undefined || !w.ok) continue;
      const d = w.watch;
      if (d !== undefined) {
        out.push(
          `${w.workload} ${sv.label}: ${d.watchers} watchers on ${d.streams} streams; ${d.writers} put clients made ` +
            `${d.putThroughput.toFixed(0)} puts/s (p50 ${fmtMs(d.putP50Ms)} ms, p99 ${fmtMs(d.putP99Ms)} ms); ` +
            `${d.deliveredEvents} of ${d.expectedEvents} events delivered, ${d.lostEvents} lost, ` +
            `${d.duplicatedEvents} duplicated, ${d.unexpectedEvents} unexpected` +
            (d.drainMs >= 0 ? `; caught up ${d.drainMs.toFixed(0)} ms after the puts stopped` : "; never caught up"),
        );
      }
      const l = w.lease;
      if (l !== undefined) {
        out.push(
          `${w.workload} ${sv.label}: ${l.granted} leases granted, ${l.revoked} revoked after the run ` +
            `(${(l.revokeMs / 1000).toFixed(1)} s${l.revokeErrors > 0 ? `, ${l.revokeErrors} failed` : ""})`,
        );
      }
      const f = w.defrag;
      if (f !== undefined) {
        out.push(
          `${w.workload} ${sv.label}: Defragment took ${fmtMs(f.defragMs)} ms (db ${mib(f.dbSizeBefore)} -> ${mib(f.dbSizeAfter)}); ` +
            `worst write pause ${fmtMs(f.worstWritePauseMs)} ms; ${f.putsDuringDefrag} puts completed during it; ` +
            `${f.putThroughput.toFixed(0)} puts/s (p99 ${fmtMs(f.putP99Ms)} ms), ${f.rangeThroughput.toFixed(0)} ranges/s ` +
            `(p99 ${fmtMs(f.rangeP99Ms)} ms); before it: ${f.keys} keys of ${f.valueSize} B written, ` +
            `${f.keys - f.keptKeys} deleted, compacted in ${(f.compactMs / 1000).toFixed(1)} s`,
        );
      }
      if (w.snapshot !== undefined) out.push(snapshotNote(w.workload, sv.label, w.snapshot));
      if (w.rangeAll !== undefined) out.push(rangeAllNote(w.workload, sv.label, w.rangeAll));
    }
    for (const q of r.ratios) {
      if (q.workload !== name || (q.defragMs === undefined && q.worstWritePause === undefined)) continue;
      out.push(
        `${name} ${q.server}/${q.baseline}: Defragment duration ${fmtRatio(q.defragMs ?? null)}, ` +
          `worst write pause ${fmtRatio(q.worstWritePause ?? null)}`,
      );
    }
    for (const q of r.ratios) {
      if (q.workload !== name || q.snapshotThroughput === undefined) continue;
      out.push(snapshotRatioLine(name, q));
    }
    for (const q of r.ratios) {
      if (q.workload !== name || q.rangeAllDuration === undefined) continue;
      out.push(rangeAllRatioLine(name, q));
    }
  }
  return out;
}

/**
 * rangeAllRatioLine is a range-all workload's ratio line: the Range's duration (above 1x
 * the server is slower) and the servers' extra memory while serving it (above 1x more;
 * "-" when a side's is unknown).
 */
export function rangeAllRatioLine(name: string, q: Ratio): string {
  return (
    `${name} ${q.server}/${q.baseline}: duration ${fmtRatio(q.rangeAllDuration ?? null)} (>1x slower), ` +
    `extra memory while serving it ${fmtRatio(q.rangeAllExtraMemory ?? null)} (>1x more)`
  );
}

/**
 * snapshotRatioLine is a snapshot workload's ratio line: throughput (MiB/s, above 1x the
 * server is faster), call duration and time to the first message (above 1x slower).
 */
export function snapshotRatioLine(name: string, q: Ratio): string {
  return (
    `${name} ${q.server}/${q.baseline}: throughput ${fmtRatio(q.snapshotThroughput ?? null)} (MiB/s, >1x faster), ` +
    `duration ${fmtRatio(q.snapshotDuration ?? null)}, first message ${fmtRatio(q.snapshotFirstByte ?? null)}`
  );
}

/** fmtMB formats a byte count in MB (10^6 bytes) without decimals; undefined is "-". */
export function fmtMB(bytes: number | undefined): string {
  return bytes === undefined ? "-" : (bytes / 1e6).toFixed(0);
}

/**
 * rssAfterLine says each server's RSS after the bench (after its last workload) in MB, and
 * each non-baseline server's ratio to its baseline (the first server with the same auth
 * setting); "" when no server has one.
 */
export function rssAfterLine(servers: readonly ServerResult[]): string {
  const have = servers.filter((sv) => sv.rssAfterBytes !== undefined);
  if (have.length === 0) return "";
  const values = have.map((sv) => `${sv.label} ${fmtMB(sv.rssAfterBytes)} MB`);
  const ratios: string[] = [];
  for (const sv of have) {
    const base = servers.find((x) => x.auth === sv.auth);
    if (base === undefined || base === sv || base.rssAfterBytes === undefined) continue;
    ratios.push(`${sv.label}/${base.label} ${fmtRatio(ratio(sv.rssAfterBytes!, base.rssAfterBytes))}`);
  }
  return `rss after the bench (VmRSS, all members): ${values.join(", ")}${ratios.length > 0 ? `; ${ratios.join(", ")}` : ""}`;
}

/** PROFILE_NAME_WIDTH is the longest function name profileLines prints whole, in characters. */
const PROFILE_NAME_WIDTH = 48;

/**
 * profileLines renders one member's CPU profile summary: a line with its samples, span,
 * file and the (garbage collector), (idle) and (program) totals, then its top functions
 * (self time as a share of the sampled time and of the time not idle, self ms, name,
 * file:line); or one line saying why there is none.
 */
export function profileLines(server: string, p: MemberProfile): string[] {
  const s = p.summary;
  if (s === undefined) return [`${server} ${p.member}: no profile (${p.error ?? "unknown"})`];
  const pct = (x: number): string => `${x.toFixed(1)}%`;
  const out = [
    `${server} ${p.member}: ${s.samples} samples over ${(s.durationMs / 1000).toFixed(1)} s` +
      `${p.file !== undefined ? ` (${p.file})` : ""}; (garbage collector) ${pct(s.garbageCollector.percent)}, ` +
      `(idle) ${pct(s.idle.percent)}, (program) ${pct(s.program.percent)}`,
  ];
  const rows: string[][] = [["self %", "busy %", "self ms", "function", "file:line"]];
  for (const f of s.top) {
    const name = f.name.length > PROFILE_NAME_WIDTH ? `${f.name.slice(0, PROFILE_NAME_WIDTH - 3)}...` : f.name;
    rows.push([pct(f.percent), pct(f.busyPercent), f.selfMs.toFixed(0), name, f.location === "" ? "(native)" : f.location]);
  }
  out.push(...alignColumns(rows, new Set([0, 1, 2])).split("\n").map((l) => `  ${l}`));
  return out;
}

/**
 * profileSection is the --profile part of the table output: a heading saying what the
 * profiles cover and that the run's ratios are not comparable, then profileLines for every
 * member of every profiled server; nothing without profiles.
 */
export function profileSection(servers: readonly ServerResult[]): string[] {
  const profiled = servers.filter((sv) => sv.profile !== undefined);
  if (profiled.length === 0) return [];
  const out = [
    "CPU profile (--profile: node --cpu-prof over the whole run, not per workload: every workload with its warm-up, " +
      "the fills, and the time spent waiting while other servers ran; self %: share of the sampled time, busy %: " +
      "share of the time not (idle)). The profiler slows etcd-ts: the ratios of this run are not comparable with an unprofiled run.",
  ];
  for (const sv of profiled) for (const p of sv.profile ?? []) out.push(...profileLines(sv.label, p));
  return out;
}

/**
 * formatReport renders the report as the plain-text table `npm run bench` prints: one row
 * per workload and server, then one ratio row per non-baseline server; then, when a kind
 * ran both with and without auth, the auth cost section.
 */
export function formatReport(r: BenchReport): string {
  const s = r.settings;
  const lines: string[] = [];
  lines.push(
    `${s.members} member${s.members === 1 ? "" : "s"} per server; ${s.durationSec} s measured per workload ` +
      `after ${s.warmupSec} s warm-up${s.rounds > 1 ? `, median of ${s.rounds} rounds` : ""}, servers ${s.order}; ` +
      `${s.keySize}-byte keys from ${s.keySpace}, ${s.valueSize}-byte values; ` +
      `${s.workers} generator thread${s.workers === 1 ? "" : "s"} (${s.transport}); ${r.host.cpus} CPUs`,
  );
  for (const sv of r.servers) {
    const what = sv.available ? `${sv.version !== "" ? `version ${sv.version}: ` : ""}${sv.command}` : `not available (${sv.reason ?? "unknown"})`;
    lines.push(`  ${sv.label}: ${what}`);
  }
  lines.push(authLine(r.servers));
  if (s.profile === true) {
    lines.push(
      "profile: etcd-ts ran under node --cpu-prof (--profile), which slows it: the ratios of this run are not comparable " +
        "with an unprofiled run; the profile summary follows the table",
    );
  }
  lines.push("");
  const header = [
    "workload",
    "conns",
    "server",
    "ops/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "srv cpu",
    "cpu s/1k",
    "gen cpu",
    "other cpu",
    "rss MB",
  ];
  const rows: string[][] = [header];
  for (const name of workloadNames(r.servers)) {
    let first = true;
    for (const sv of r.servers) {
      const w = sv.workloads.find((x) => x.workload === name);
      const lead = first ? [name, w !== undefined ? String(w.conns) : ""] : ["", ""];
      if (w === undefined) continue;
      first = false;
      if (!w.ok) {
        rows.push([...lead, sv.label, `failed: ${w.error ?? "unknown"}`]);
        continue;
      }
      rows.push([
        ...lead,
        sv.label,
        w.snapshot !== undefined || w.rangeAll !== undefined ? w.throughput.toFixed(1) : w.throughput.toFixed(0),
        fmtMs(w.p50Ms),
        fmtMs(w.p99Ms),
        String(w.errors),
        w.serverCpuCores.toFixed(2),
        w.serverCpuSecondsPer1k.toFixed(3),
        w.generatorCpuCores.toFixed(2),
        w.otherCpuCores.toFixed(2),
        fmtMB(w.rssBytes),
      ]);
    }
    for (const q of r.ratios.filter((x) => x.workload === name)) {
      rows.push([
        "",
        "",
        `${q.server}/${q.baseline}`,
        fmtRatio(q.throughput),
        fmtRatio(q.p50),
        fmtRatio(q.p99),
        "",
        "",
        fmtRatio(q.serverCpuPer1k),
        "",
        "",
        fmtRatio(q.rss),
      ]);
    }
  }
  // A failure message is one long cell: keep it out of the column widths.
  const table = alignColumns(
    rows.map((row) => (row[3]?.startsWith("failed: ") === true ? row.slice(0, 3) : row)),
    new Set([1, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
  ).split("\n");
  rows.forEach((row, i) => {
    if (row[3]?.startsWith("failed: ") === true) table[i] = `${table[i]}  ${row[3]}`;
  });
  lines.push(...table);
  const rssAfter = rssAfterLine(r.servers);
  if (rssAfter !== "") lines.push("", rssAfter);
  const costs = authCostLines(r.authCosts);
  if (costs.length > 0) lines.push("", ...costs);
  const notes = workloadNotes(r);
  if (notes.length > 0) lines.push("", ...notes);
  const profile = profileSection(r.servers);
  if (profile.length > 0) lines.push("", ...profile);
  lines.push("");
  lines.push(
    "ops/s: successful requests per second (lease-put: LeaseGrant+Put pairs; watch: events received, summed " +
      "over the watchers); p50/p99: their latency (watch: put sent -> event received); cpu columns: CPU time / " +
      "wall time (1.00 = one core busy) of the server (all members), the load generator (this process) and " +
      "everything else on the machine (high 'other' means the run was disturbed); cpu s/1k: server CPU seconds per " +
      "1,000 of the operations ops/s counts (srv cpu / ops/s x 1000: per 1,000 requests; watch: per 1,000 events " +
      "received; snapshot, range-all: per 1,000 MiB); rss MB: the server's resident set size (VmRSS, summed over its members) " +
      "right after the measured window, MB = 10^6 bytes.",
  );
  if (r.servers.some((sv) => sv.workloads.some((w) => w.watch !== undefined))) {
    lines.push("watch errors: failed puts plus every lost, duplicated or unexpected event of the run.");
  }
  if (r.servers.some((sv) => sv.workloads.some((w) => w.defrag !== undefined))) {
    lines.push(
      "defrag: the measured window is one Maintenance.Defragment call; ops/s and latency cover the puts and " +
        "linearizable ranges sent until it returned; worst write pause: the longest time in it with no put completing.",
    );
  }
  if (r.servers.some((sv) => sv.workloads.some((w) => w.snapshot !== undefined))) {
    lines.push(
      "snapshot: one Maintenance.Snapshot stream read whole from the first member; ops/s is its throughput in MiB/s " +
        "(blob bytes received / call duration, MiB = 2^20 bytes), p50/p99 the call's duration.",
    );
  }
  if (r.servers.some((sv) => sv.workloads.some((w) => w.rangeAll !== undefined))) {
    lines.push(
      "range-all: one linearizable KV.Range over every key of a prefix filled before, sent to the first member; ops/s " +
        "is its throughput in MiB/s (response bytes / call duration, MiB = 2^20 bytes), p50/p99 the call's duration, " +
        "rss MB the RSS after it; extra memory: the servers' peak RSS during the call (VmHWM, reset just before it) " +
        "minus their RSS just before it, summed over the members.",
    );
  }
  if (r.ratios.length > 0) {
    lines.push(
      "ratio rows: server / baseline (the first server with the same auth setting); above 1x is more throughput but " +
        "more latency, more CPU per operation (cpu s/1k: lower is better) and more memory (rss).",
    );
  }
  if (r.authCosts.length > 0) {
    lines.push(
      "auth cost: 1 - ops/s of <kind>+auth / ops/s of <kind>, the reported (median) rounds; below 0% the run with auth was faster (noise).",
    );
  }
  return lines.join("\n");
}
