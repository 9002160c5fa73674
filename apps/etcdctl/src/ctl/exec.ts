import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { goQuote } from "../printer/goformat.js";
import type { Io } from "./io.js";

/** GO_SIGNAL_NAMES are Go's syscall.Signal strings on Linux, as "signal: <name>" errors print them. */
const GO_SIGNAL_NAMES: Record<string, string> = {
  SIGHUP: "hangup",
  SIGINT: "interrupt",
  SIGQUIT: "quit",
  SIGILL: "illegal instruction",
  SIGTRAP: "trace/breakpoint trap",
  SIGABRT: "aborted",
  SIGBUS: "bus error",
  SIGFPE: "floating point exception",
  SIGKILL: "killed",
  SIGUSR1: "user defined signal 1",
  SIGSEGV: "segmentation fault",
  SIGUSR2: "user defined signal 2",
  SIGPIPE: "broken pipe",
  SIGALRM: "alarm clock",
  SIGTERM: "terminated",
  SIGSTKFLT: "stack fault",
  SIGCHLD: "child exited",
  SIGCONT: "continued",
  SIGSTOP: "stopped (signal)",
  SIGTSTP: "stopped",
  SIGTTIN: "stopped (tty input)",
  SIGTTOU: "stopped (tty output)",
  SIGURG: "urgent I/O condition",
  SIGXCPU: "CPU time limit exceeded",
  SIGXFSZ: "file size limit exceeded",
  SIGVTALRM: "virtual timer expired",
  SIGPROF: "profiling timer expired",
  SIGWINCH: "window changed",
  SIGIO: "I/O possible",
  SIGPWR: "power failure",
  SIGSYS: "bad system call",
};

/** goQuoteList is Go's %q of a []string: ["a" "b"]. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map((s) => goQuote(s)).join(" ")}]`;
}

function isExecutableFile(p: string): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * lookPath is Go's exec.LookPath: a name with a slash is used as is; otherwise the first
 * executable file named so in $PATH (a relative directory does not count, as in Go >= 1.19).
 * It returns the path, or Go's error text.
 */
export function lookPath(name: string, path: string): { path: string } | { error: string } {
  if (name.includes("/")) return { path: name };
  for (const dir0 of path.split(":")) {
    const dir = dir0 === "" ? "." : dir0;
    const p = join(dir, name);
    if (isExecutableFile(p)) {
      if (!isAbsolute(dir)) return { error: `exec: ${goQuote(name)}: cannot run executable found relative to current directory` };
      return { path: dir === "." ? `./${name}` : p };
    }
  }
  return { error: `exec: ${goQuote(name)}: executable file not found in $PATH` };
}

/**
 * runProgram runs argv like Go's exec.Command(...).Run() with stdin from /dev/null and the
 * output going to the command's stdout and stderr. It resolves undefined on success, or the
 * text of Go's error ("exit status 3", "signal: terminated", "fork/exec ...: ...").
 */
export function runProgram(io: Io, argv: readonly string[], env: Record<string, string>): Promise<string | undefined> {
  const [name, ...args] = argv;
  if (name === undefined) return Promise.resolve("exec: no command");
  const found = lookPath(name, io.env.find(([k]) => k === "PATH")?.[1] ?? "");
  if ("error" in found) return Promise.resolve(found.error);
  return new Promise((resolve) => {
    const inherit = io.inheritStdio === true;
    const child = spawn(found.path, args, {
      argv0: name,
      env,
      stdio: ["ignore", inherit ? "inherit" : "pipe", inherit ? "inherit" : "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => io.out(d));
    child.stderr?.on("data", (d: Buffer) => io.err(d));
    child.on("error", (e: NodeJS.ErrnoException) => {
      const why =
        e.code === "ENOENT" ? "no such file or directory"
        : e.code === "EACCES" ? "permission denied"
        : e.code === "ENOEXEC" ? "exec format error"
        : e.message;
      resolve(`fork/exec ${found.path}: ${why}`);
    });
    child.on("close", (code, signal) => {
      if (signal !== null) resolve(`signal: ${GO_SIGNAL_NAMES[signal] ?? signal}`);
      else if (code !== 0) resolve(`exit status ${code}`);
      else resolve(undefined);
    });
  });
}

/** envObject turns the command's environment into spawn's form; later entries win, as in Go. */
export function envObject(entries: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of entries) out[k] = v;
  return out;
}
