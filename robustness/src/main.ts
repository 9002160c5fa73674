/**
 * main.ts is `npm run robustness`: randomized fault runs with checked histories, or the
 * availability comparison against the real etcd. Server processes are killed on any exit.
 */
import { mkdirSync } from "node:fs";
import { parseArgs, USAGE } from "./args.js";
import { planAvailability, planRun } from "./plan.js";
import { formatAvailability, formatRun } from "./report.js";
import { runOnce, type RunReport } from "./run.js";

async function main(): Promise<number> {
  let a;
  try {
    a = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  mkdirSync(a.dir, { recursive: true });
  const log = (s: string): void => void process.stderr.write(`[robustness] ${s}\n`);
  if (a.availability) {
    const reports: RunReport[] = [];
    for (const kind of ["etcd", "etcd-ts"] as const) {
      const o = planAvailability(a, kind);
      log(`availability: ${kind}, seed ${o.seed}, ${o.schedule.kind} for ${o.durationMs / 1000} s`);
      reports.push(await runOnce(o, log));
    }
    process.stdout.write(formatAvailability(reports));
    return reports.some((r) => r.failure !== undefined) ? 1 : 0;
  }
  let failures = 0;
  log(`seed ${a.seed}, ${a.runs} run(s)`);
  for (let i = 0; i < a.runs; i++) {
    for (const kind of a.servers) {
      const o = planRun(a, i, kind);
      const r = await runOnce(o, log);
      process.stdout.write(`${formatRun(r, i + 1, a.runs)}\n`);
      if (r.failure !== undefined) failures++;
    }
  }
  process.stdout.write(`${failures === 0 ? "PASS" : "FAIL"}: ${a.runs * a.servers.length} run(s), ${failures} failed (first seed ${a.seed})\n`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`robustness: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
