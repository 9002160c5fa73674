import { appendFileSync } from "node:fs";

/** Level is a zap log level. */
export type Level = "debug" | "info" | "warn" | "error" | "panic" | "fatal";
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3, panic: 4, fatal: 5 };

/** Fields are the structured key/values of one log line; bigints print as JSON numbers. */
export type Fields = Record<string, unknown>;

/**
 * Logger writes one JSON object per line, shaped like etcd's zap logger:
 * {"level":"info","ts":"2006-01-02T15:04:05.000Z","caller":"server/etcd_server.ts:245","msg":"...",...}.
 * `caller` is the source file and line that logged (see callerOf). It is for milestones and
 * errors only; hot paths never log.
 */
export class Logger {
  private readonly min: number;
  constructor(
    level: Level,
    private readonly outputs: readonly string[] = ["default"],
  ) {
    this.min = RANK[level];
  }

  debug(msg: string, fields?: Fields): void {
    if (RANK.debug >= this.min) this.write("debug", callerOf(this.debug), msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    if (RANK.info >= this.min) this.write("info", callerOf(this.info), msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    if (RANK.warn >= this.min) this.write("warn", callerOf(this.warn), msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    if (RANK.error >= this.min) this.write("error", callerOf(this.error), msg, fields);
  }

  /** write emits one line; subclasses (tests) may capture it instead. */
  protected write(level: Level, caller: string, msg: string, fields?: Fields): void {
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

/**
 * callerOf names the code that called `fn` (a Logger method) as zap does, package directory
 * and file with the line: "server/etcd_server.ts:245". With source maps enabled (the etcd-ts
 * bin enables them) the file and line are the TypeScript source's; otherwise the built
 * file's line is shown under the source file's name.
 */
export function callerOf(fn: (...args: never[]) => unknown): string {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 1;
  Error.captureStackTrace(holder, fn);
  Error.stackTraceLimit = limit;
  const frame = holder.stack?.split("\n")[1]?.trim() ?? "";
  const m = /\(?([^()\s]+):(\d+):\d+\)?$/.exec(frame);
  if (m === null) return "unknown";
  let path = (m[1] as string).replace(/^file:\/\//, "");
  // In the workspace: .../apps/server/src/x.ts; installed from the packed bundle, whose source
  // map names the sources relative to it: .../node_modules/@etcd-ts/server/src/x.ts.
  const root = Math.max(path.lastIndexOf("/apps/"), path.lastIndexOf("/packages/"), path.lastIndexOf("/@etcd-ts/"));
  if (root >= 0) path = path.slice(path.indexOf("/", root + 1) + 1);
  path = path.replace(/\/(?:src|dist)\//, "/").replace(/\.js$/, ".ts");
  return `${path}:${m[2] as string}`;
}

function encode(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `__big__${x}` : x)).replace(
    /"__big__(-?\d+)"/g,
    "$1",
  );
}
