import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { ETCD_TS_BIN, REAL_ETCD } from "./paths.js";

/** ServerKind is which server a test runs: etcd-ts or the real etcd. */
export type ServerKind = "etcd-ts" | "etcd";

/** serverCommand is the command line that starts a server of a kind, before its flags. */
export function serverCommand(kind: ServerKind): string[] {
  return kind === "etcd" ? [REAL_ETCD] : [process.execPath, ETCD_TS_BIN];
}

/** SpawnOptions: more environment, a working directory, and a log file that gets stdout and stderr (else they are dropped). */
export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile?: string;
}

/** Spawned is a started server process and the promise of its exit code. */
export interface Spawned {
  proc: ChildProcess;
  exited: Promise<number | null>;
}

/** spawnServer starts command (a binary and leading arguments) with args. */
export function spawnServer(command: readonly string[], args: readonly string[], opts: SpawnOptions = {}): Spawned {
  const [bin, ...pre] = command;
  if (bin === undefined) throw new Error("test-kit: empty server command");
  const env = { ...process.env, ...opts.env };
  const cwd = opts.cwd ?? process.cwd();
  const logFile = opts.logFile;
  if (logFile === undefined) {
    const proc = spawn(bin, [...pre, ...args], { env, cwd, stdio: "ignore" });
    return { proc, exited: new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code))) };
  }
  const proc = spawn(bin, [...pre, ...args], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  const log = createWriteStream(logFile, { flags: "a" });
  log.on("error", () => undefined);
  // Both pipes feed one file, so neither may end it; it ends once the process's output is
  // all read ("close"), and `exited` resolves after that, so a test reading the log after
  // `exited` sees the last lines (a bare "exit" can come before them).
  proc.stdout?.pipe(log, { end: false });
  proc.stderr?.pipe(log, { end: false });
  const closed = new Promise<void>((resolve) => proc.on("close", () => resolve()));
  const exited = new Promise<number | null>((resolve) =>
    proc.on("exit", (code) => {
      // A descendant that inherited the pipes can keep them open: wait at most 2 s for them.
      const limit = new Promise<void>((r) => setTimeout(r, 2000).unref());
      void Promise.race([closed, limit]).then(() => log.end(() => resolve(code)));
    }),
  );
  return { proc, exited };
}

/** isRunning tells whether a process has neither exited nor been ended by a signal. */
export function isRunning(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

/** stopProcess sends a signal (SIGKILL by default) to a running process and waits for its exit. */
export async function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (!isRunning(proc)) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill(signal);
  await exited;
}

/** RunResult is a finished command's output and exit code. */
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** RunOptions: stdin, more environment, a working directory, and the hard timeout (default 30 s). */
export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** run executes a command with optional stdin and a hard timeout; it never throws on exit codes. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd ?? process.cwd(), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(t);
      resolve({ stdout, stderr, code });
    });
    // A command that exits without reading its input must not fail the run with EPIPE.
    p.stdin.on("error", () => {});
    p.stdin.end(opts.input ?? "");
  });
}
