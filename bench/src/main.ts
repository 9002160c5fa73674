/**
 * main.ts is `npm run bench`: it parses the flags, runs every server through every
 * workload, prints the table on stdout (progress on stderr), and writes the JSON report.
 * Server processes are killed and their data directories removed on any exit, on SIGINT
 * and SIGTERM, and when the watchdog fires.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs, USAGE } from "./args.js";
import { BENCH_DIR, planSeconds, runBench } from "./bench.js";
import { formatReport } from "./report.js";
import { killAllSync } from "./servers.js";

async function main(): Promise<number> {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  process.on("exit", killAllSync);
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n[bench] ${sig}: stopping servers\n`);
      killAllSync();
      process.exit(code);
    });
  }
  const limitSec = Math.ceil(planSeconds(o));
  setTimeout(() => {
    process.stderr.write(`[bench] watchdog: still running after ${limitSec} s, giving up\n`);
    killAllSync();
    process.exit(3);
  }, limitSec * 1000).unref();

  const report = await runBench(o, (line) => process.stderr.write(`[bench] ${line}\n`));
  process.stdout.write(`\n${formatReport(report)}\n`);
  const out = o.out !== undefined ? resolve(o.out) : join(BENCH_DIR, "results", "latest.json");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`[bench] results written to ${out}\n`);
  return report.servers.some((s) => s.available) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    killAllSync();
    process.exit(1);
  },
);
