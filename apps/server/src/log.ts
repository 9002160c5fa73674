import { appendFileSync } from "node:fs";

/** Level is a zap log level. */
export type Level = "debug" | "info" | "warn" | "error" | "panic" | "fatal";
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3, panic: 4, fatal: 5 };

/** Fields are the structured key/values of one log line; bigints print as JSON numbers. */
export type Fields = Record<string, unknown>;

/**
 * Logger writes one JSON object per line, shaped like etcd's zap logger:
 * {"level":"info","ts":"2006-01-02T15:04:05.000Z","caller":"etcdserver/server.ts","msg":"...",...}.
 * It is for milestones and errors only; hot paths never log.
 */
export class Logger {
  private readonly min: number;
  constructor(
    level: Level,
    private readonly outputs: readonly string[] = ["default"],
  ) {
    this.min = RANK[level];
  }

  debug(caller: string, msg: string, fields?: Fields): void {
    this.write("debug", caller, msg, fields);
  }
  info(caller: string, msg: string, fields?: Fields): void {
    this.write("info", caller, msg, fields);
  }
  warn(caller: string, msg: string, fields?: Fields): void {
    this.write("warn", caller, msg, fields);
  }
  error(caller: string, msg: string, fields?: Fields): void {
    this.write("error", caller, msg, fields);
  }

  private write(level: Level, caller: string, msg: string, fields?: Fields): void {
    if (RANK[level] < this.min) return;
    let line = `{"level":"${level}","ts":"${new Date().toISOString()}","caller":${JSON.stringify(caller)},"msg":${JSON.stringify(msg)}`;
    if (fields !== undefined) {
      for (const [k, v] of Object.entries(fields)) line += `,${JSON.stringify(k)}:${encode(v)}`;
    }
    line += "}\n";
    for (const out of this.outputs) {
      if (out === "default" || out === "stderr") process.stderr.write(line);
      else if (out === "stdout") process.stdout.write(line);
      else appendFileSync(out, line);
    }
  }
}

function encode(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `__big__${x}` : x)).replace(
    /"__big__(-?\d+)"/g,
    "$1",
  );
}
