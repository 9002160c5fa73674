import type { RunReport } from "./run.js";

/** formatRun is one line per run, plus the witness and the kept directory when it failed. */
export function formatRun(r: RunReport, i: number, n: number): string {
  const s = r.stats;
  const line =
    `run ${i}/${n} seed=${r.seed} ${r.kind} ${r.elections.length || "?"} members fault=${r.fault} (${r.faults.length} injected): ` +
    `${s.ok} ok, ${s.unknown} unknown, ${s.failedReads} failed reads, ${s.notSent} not sent, longest write gap ${r.longestWriteGapMs} ms, ` +
    `elections [${r.elections.join(",")}], kv ${r.kvVerdict}, watch ${r.watchViolations.length === 0 ? "ok" : `${r.watchViolations.length} violation(s)`}`;
  if (r.failure === undefined) return line;
  return `${line}\n  FAILED: ${r.failure}\n  kept: ${r.dir}${r.witness !== undefined ? `\n  smallest failing history:\n${indent(r.witness)}` : ""}`;
}

function indent(s: string): string {
  return s.split("\n").map((l) => `    ${l}`).join("\n");
}

/** formatAvailability prints the availability comparison: each server's counts and etcd-ts's ratios to etcd. */
export function formatAvailability(rs: RunReport[]): string {
  const rows = rs.map((r) => [r.kind, String(r.stats.ok), String(r.stats.unknown), String(r.stats.failedReads), String(r.stats.notSent), String(r.longestWriteGapMs), `[${r.elections.join(",")}]`, r.kvVerdict]);
  const head = ["server", "ops ok", "unknown", "failed reads", "not sent", "longest write gap ms", "elections/member", "linearizable"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cols: string[]): string => cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  const etcd = rs.find((r) => r.kind === "etcd");
  const ts = rs.find((r) => r.kind === "etcd-ts");
  const ratio = etcd !== undefined && ts !== undefined && etcd.stats.ok > 0 ? (ts.stats.ok / etcd.stats.ok).toFixed(2) : "n/a";
  const faults = ts?.faults.map((f) => `${f.member}@${(f.at / 1000).toFixed(1)}s`).join(" ") ?? "";
  return [fmt(head), ...rows.map(fmt), "", `etcd-ts/etcd operations: ${ratio}x`, `etcd-ts faults: ${faults}`, ...rs.filter((r) => r.failure !== undefined).map((r) => `${r.kind} FAILED: ${r.failure}`), ""].join("\n");
}
