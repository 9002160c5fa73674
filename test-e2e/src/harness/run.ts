import { spawn } from "node:child_process";

/** RunResult is a finished command's output and exit code. */
export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** run executes a command with optional stdin and a hard timeout; it never throws on exit codes. */
export function run(cmd: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
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
    p.stdin.end(opts.input ?? "");
  });
}
