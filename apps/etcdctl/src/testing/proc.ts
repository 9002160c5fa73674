import { spawn, type ChildProcess } from "node:child_process";

/** Exit is how a process ended: its exit code, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * CtlProc is a running CLI (etcdctl or etcdctl-ts) for the commands that do not end by
 * themselves (watch, lock, elect, lease keep-alive, make-mirror): its output so far, its
 * stdin, and ways to wait for output or stop it. Every wait has a deadline.
 */
export interface CtlProc {
  proc: ChildProcess;
  stdout(): Buffer;
  stderr(): Buffer;
  write(s: string): void;
  endStdin(): void;
  /** waitFor resolves once stdout (as latin1 text) satisfies pred, and rejects after ms. */
  waitFor(pred: (out: string) => boolean, ms?: number, what?: string): Promise<void>;
  /**
   * waitQuiet resolves once the output has not changed for quietMs after the first output, or
   * when nothing was printed within firstMs, or the process ended; at most maxMs.
   */
  waitQuiet(quietMs?: number, maxMs?: number, firstMs?: number): Promise<void>;
  exited: Promise<Exit>;
  /** exitedWithin resolves how the process ended, or rejects when it is still running after ms. */
  exitedWithin(ms?: number): Promise<Exit>;
  /** stop sends signal (if still running) and waits for the exit; SIGKILL after 10 s. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

/** spawnCtl starts cli with args and a clean environment plus env (as runCtl does). */
export function spawnCtl(cli: string[], args: string[], env: Record<string, string>): CtlProc {
  const [bin, ...pre] = cli;
  const p = spawn(bin as string, [...pre, ...args], {
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: process.env["HOME"] ?? "/tmp", TZ: "UTC", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let lastChange = Date.now();
  let ended: Exit | undefined;
  p.stdout.on("data", (d: Buffer) => {
    out.push(d);
    lastChange = Date.now();
  });
  p.stderr.on("data", (d: Buffer) => {
    err.push(d);
    lastChange = Date.now();
  });
  p.stdin.on("error", () => {});
  const exited = new Promise<Exit>((resolve) =>
    p.on("close", (code, signal) => {
      ended = { code, signal };
      resolve(ended);
    }),
  );
  const stdout = (): Buffer => Buffer.concat(out);
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  return {
    proc: p,
    stdout,
    stderr: () => Buffer.concat(err),
    write: (s) => void p.stdin.write(s),
    endStdin: () => p.stdin.end(),
    async waitFor(pred, ms = 15_000, what = "expected output") {
      const end = Date.now() + ms;
      for (;;) {
        if (pred(stdout().toString("latin1"))) return;
        if (ended !== undefined) {
          throw new Error(`process exited (${JSON.stringify(ended)}) before ${what}; stdout=${JSON.stringify(stdout().toString())} stderr=${JSON.stringify(Buffer.concat(err).toString())}`);
        }
        if (Date.now() > end) {
          throw new Error(`no ${what} within ${ms}ms; stdout=${JSON.stringify(stdout().toString())} stderr=${JSON.stringify(Buffer.concat(err).toString())}`);
        }
        await sleep(20);
      }
    },
    async waitQuiet(quietMs = 700, maxMs = 10_000, firstMs = 4000) {
      const start = Date.now();
      const end = start + maxMs;
      while (ended === undefined && Date.now() < end) {
        const printed = out.length > 0 || err.length > 0;
        if (!printed && Date.now() - start >= firstMs) return;
        if (printed && Date.now() - lastChange >= quietMs) return;
        await sleep(20);
      }
    },
    exited,
    async exitedWithin(ms = 15_000) {
      let t: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          exited,
          new Promise<never>((_, reject) => {
            t = setTimeout(
              () => reject(new Error(`still running after ${ms}ms; stdout=${JSON.stringify(stdout().toString())} stderr=${JSON.stringify(Buffer.concat(err).toString())}`)),
              ms,
            );
          }),
        ]);
      } finally {
        clearTimeout(t);
      }
    },
    async stop(signal = "SIGTERM") {
      if (ended !== undefined) return ended;
      p.kill(signal);
      const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
}

/** afterDelay resolves after ms. */
export function afterDelay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
