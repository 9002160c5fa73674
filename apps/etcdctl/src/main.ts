import { spawn } from "node:child_process";
import { Command, find, stripFlags, suggestionsFor } from "./cli/command.js";
import { FlagError, HelpRequested } from "./cli/flags.js";
import { renderUsage } from "./cli/usage.js";
import { NOT_IMPLEMENTED, rootSpec } from "./commands/root.js";
import { ExitCode, ExitError, streamLineReader, type Io } from "./ctl/io.js";
import { GoPanic } from "./ctl/txnparse.js";
import { goQuote } from "./printer/goformat.js";
import { mainV2 } from "./v2/app.js";

/** GO_PANIC_EXIT_CODE is the status a Go program exits with when it panics. */
const GO_PANIC_EXIT_CODE = 2;

/** buildRoot assembles etcdctl's command tree bound to io. */
export function buildRoot(io: Io): Command {
  let root: Command | undefined;
  const help = {
    use: "help [command]",
    short: "Help about any command",
    run: async (_cmd: Command, args: string[]): Promise<void> => {
      const r = root as Command;
      const { cmd } = find(r, args);
      const words = stripFlags(args, cmd);
      if (cmd === r && words.length > 0) {
        io.err(`Unknown help topic [${args.map((a) => "`" + a + "`").join(" ")}]\n`);
        io.out(renderUsage(r, false));
        return;
      }
      io.out(renderUsage(cmd));
    },
  };
  root = new Command(rootSpec(io, help));
  return root;
}

/**
 * execute runs one etcdctl command line like cobra's Execute: find the command, parse its
 * flags, then run it or print its help.
 */
export async function execute(root: Command, argv: string[], io: Io): Promise<void> {
  const { cmd, args } = find(root, argv);
  if (cmd === root) {
    const words = stripFlags(args, cmd);
    if (words.length > 0) {
      const word = words[0] as string;
      const sugg = suggestionsFor(root, word);
      let msg = `unknown command ${goQuote(word)} for "${root.name}"`;
      if (sugg.length > 0) msg += "\n\nDid you mean this?\n" + sugg.map((s) => `\t${s}\n`).join("");
      io.err(`Error: ${msg}\n`);
      io.err(`Run '${root.name} --help' for usage.\n`);
      throw new ExitError(ExitCode.Error, msg);
    }
  }
  if ((cmd.spec as { [NOT_IMPLEMENTED]?: boolean })[NOT_IMPLEMENTED] === true) {
    await cmd.spec.run?.(cmd, args);
    return;
  }
  let positional: string[];
  try {
    positional = cmd.flags().parse(args);
  } catch (e) {
    if (e instanceof HelpRequested) {
      io.out(renderUsage(cmd));
      return;
    }
    if (e instanceof FlagError) {
      io.err(`Error: ${e.message}\n`);
      io.out(renderUsage(cmd));
      io.err("\n");
      throw new ExitError(ExitCode.Error, e.message);
    }
    throw e;
  }
  if (cmd.flag("help").value === true || cmd.spec.run === undefined) {
    io.out(renderUsage(cmd));
    return;
  }
  await cmd.spec.run(cmd, positional);
}

/** main runs etcdctl-ts with argv (without node and script) and returns the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const api = io.env.find(([k]) => k === "ETCDCTL_API")?.[1] ?? "";
  // etcdctl unsets ETCDCTL_API before reading the other variables.
  const env = io.env.filter(([k]) => k !== "ETCDCTL_API");
  const runIo: Io = { ...io, env, argv: io.argv ?? argv };
  if (api === "2") return mainV2(argv, runIo);
  if (api !== "" && api !== "3") {
    io.err(`unsupported API version ${api}\n`);
    return ExitCode.Error;
  }
  try {
    await execute(buildRoot(runIo), argv, runIo);
    return ExitCode.Success;
  } catch (e) {
    if (e instanceof ExitError) {
      if (e.exitMessage !== null) io.err(`Error: ${e.exitMessage}\n`);
      return e.code;
    }
    if (e instanceof GoPanic) {
      io.err(`panic: ${e.message}\n`);
      return GO_PANIC_EXIT_CODE;
    }
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    return ExitCode.Error;
  }
}

/** processIo is the Io of the running process. */
export function processIo(): Io {
  return {
    out: (d) => void process.stdout.write(d),
    err: (d) => void process.stderr.write(d),
    stdin: streamLineReader(process.stdin),
    env: Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
    now: () => new Date(),
    inheritStdio: true,
    onSignal: (handler) => {
      process.on("SIGINT", handler);
      process.on("SIGTERM", handler);
      return () => {
        process.off("SIGINT", handler);
        process.off("SIGTERM", handler);
      };
    },
    setEcho: stty,
  };
}

/**
 * stty runs /bin/stty echo or -echo on the process's own stdin, stdout and stderr, as
 * etcdctl's password prompt does; it rejects with the errno text when stty cannot be started.
 */
function stty(on: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/stty", [on ? "echo" : "-echo"], { argv0: "stty", stdio: "inherit" });
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === "ENOENT" ? "no such file or directory" : e.code === "EACCES" ? "permission denied" : e.message)),
    );
    child.on("close", () => resolve());
  });
}

/** run is the etcdctl-ts entry point: it runs main on the process and exits with its code. */
export async function run(): Promise<void> {
  // Node warns once when TLS is dialed by IP address (no SNI); etcdctl prints no such line.
  process.noDeprecation = true;
  const code = await main(process.argv.slice(2), processIo());
  process.exitCode = code;
  // gRPC channels and stdin may keep the loop alive; output to pipes and files is synchronous.
  process.stdout.write("", () => process.exit(code));
}
