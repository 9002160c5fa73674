import type { WorkloadRun } from "./generator.js";
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
  /** command is member 0's full command line (or the configured command if it never started). */
  command: string;
  members: number;
  available: boolean;
  /** reason says why the server is not available. */
  reason: string | undefined;
  /** version is what the server's /version endpoint reported ("" if unknown). */
  version: string;
  workloads: WorkloadResult[];
}

/**
 * Ratio compares one server with the baseline (the first server) on one workload:
 * server value / baseline value, so throughput > 1 is faster and latency > 1 is slower.
 */
export interface Ratio {
  workload: string;
  server: string;
  baseline: string;
  throughput: number | null;
  p50: number | null;
  p99: number | null;
  /** defragMs and worstWritePause compare a defrag run's Defragment duration and worst write pause. */
  defragMs?: number | null;
  worstWritePause?: number | null;
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
    /**
     * auth is true when the run had authentication on (--auth): every request carried a
     * simple token of user root. Absent in reports written before the flag existed.
     */
    auth?: boolean;
  };
  servers: ServerResult[];
  ratios: Ratio[];
}

function ratio(a: number, b: number): number | null {
  return b > 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : null;
}

/**
 * computeRatios compares every server after the first with the first, on each workload
 * that succeeded on both.
 */
export function computeRatios(servers: readonly ServerResult[]): Ratio[] {
  const base = servers[0];
  if (base === undefined || !base.available) return [];
  const out: Ratio[] = [];
  for (const s of servers.slice(1)) {
    if (!s.available) continue;
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
      };
      if (w.defrag !== undefined && b.defrag !== undefined) {
        q.defragMs = ratio(w.defrag.defragMs, b.defrag.defragMs);
        q.worstWritePause = ratio(w.defrag.worstWritePauseMs, b.defrag.worstWritePauseMs);
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

/** workloadNotes gives one line per watch, lease-put or defrag result (by workload, then server): what its op adds to the row; defrag adds a ratio line. */
export function workloadNotes(r: BenchReport): string[] {
  const out: string[] = [];
  const names: string[] = [];
  for (const sv of r.servers) for (const w of sv.workloads) if (!names.includes(w.workload)) names.push(w.workload);
  for (const name of names) {
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
    }
    for (const q of r.ratios) {
      if (q.workload !== name || (q.defragMs === undefined && q.worstWritePause === undefined)) continue;
      out.push(
        `${name} ${q.server}/${q.baseline}: Defragment duration ${fmtRatio(q.defragMs ?? null)}, ` +
          `worst write pause ${fmtRatio(q.worstWritePause ?? null)}`,
      );
    }
  }
  return out;
}

/**
 * formatReport renders the report as the plain-text table `npm run bench` prints: one row
 * per workload and server, then one ratio row per non-baseline server.
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
  lines.push(
    s.auth === true
      ? "auth: on (--auth): every request and Watch stream carried a simple token of user root (role root, so no key-range permission check)"
      : "auth: off",
  );
  lines.push("");
  const header = ["workload", "conns", "server", "ops/s", "p50 ms", "p99 ms", "errors", "srv cpu", "gen cpu", "other cpu"];
  const rows: string[][] = [header];
  const names: string[] = [];
  for (const sv of r.servers) for (const w of sv.workloads) if (!names.includes(w.workload)) names.push(w.workload);
  for (const name of names) {
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
        w.throughput.toFixed(0),
        fmtMs(w.p50Ms),
        fmtMs(w.p99Ms),
        String(w.errors),
        w.serverCpuCores.toFixed(2),
        w.generatorCpuCores.toFixed(2),
        w.otherCpuCores.toFixed(2),
      ]);
    }
    for (const q of r.ratios.filter((x) => x.workload === name)) {
      rows.push(["", "", `${q.server}/${q.baseline}`, fmtRatio(q.throughput), fmtRatio(q.p50), fmtRatio(q.p99)]);
    }
  }
  // A failure message is one long cell: keep it out of the column widths.
  const table = alignColumns(
    rows.map((row) => (row[3]?.startsWith("failed: ") === true ? row.slice(0, 3) : row)),
    new Set([1, 3, 4, 5, 6, 7, 8, 9]),
  ).split("\n");
  rows.forEach((row, i) => {
    if (row[3]?.startsWith("failed: ") === true) table[i] = `${table[i]}  ${row[3]}`;
  });
  lines.push(...table);
  const notes = workloadNotes(r);
  if (notes.length > 0) lines.push("", ...notes);
  lines.push("");
  lines.push(
    "ops/s: successful requests per second (lease-put: LeaseGrant+Put pairs; watch: events received, summed " +
      "over the watchers); p50/p99: their latency (watch: put sent -> event received); cpu columns: CPU time / " +
      "wall time (1.00 = one core busy) of the server (all members), the load generator (this process) and " +
      "everything else on the machine (high 'other' means the run was disturbed).",
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
  if (r.ratios.length > 0) {
    lines.push("ratio rows: server / baseline; above 1x is more throughput but more latency.");
  }
  return lines.join("\n");
}
