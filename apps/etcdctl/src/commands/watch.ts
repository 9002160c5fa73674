import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { WatchCanceledError, type Client, type WatchResponse } from "@etcd-ts/client";
import type { Command, CommandSpec } from "../cli/command.js";
import { Flag, FlagError, FlagSet, HelpRequested, type FlagDef } from "../cli/flags.js";
import { clientConfig, newClient } from "../ctl/global.js";
import { errorText } from "../ctl/grpcerr.js";
import { envObject, goQuoteList, runProgram } from "../ctl/exec.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { argify, GoPanic } from "../ctl/txnparse.js";
import { goQuote } from "../printer/goformat.js";
import type { Printer } from "../printer/printer.js";

export const WATCH_USE = "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]";

export const WATCH_FLAGS: FlagDef[] = [
  { name: "interactive", shorthand: "i", kind: "bool", def: false, usage: "Interactive mode" },
  { name: "prefix", kind: "bool", def: false, usage: "Watch on a prefix if prefix is set" },
  { name: "rev", kind: "int64", def: 0n, usage: "Revision to start watching" },
  { name: "prev-kv", kind: "bool", def: false, usage: "get the previous key-value pair before the event happens" },
];

/** The watch-only variables etcdctl reads (and does not warn about). */
const DISCARD_ENV_FLAGS = ["watch-key", "watch-range-end"];

const ERR_BAD_ARGS_NUM = "bad number of arguments";
const ERR_BAD_ARGS_NUM_CONFLICT_ENV = "bad number of arguments (found conflicting environment key)";
const ERR_BAD_ARGS_NUM_SEPARATOR = "bad number of arguments (found separator --, but no commands)";
const ERR_BAD_ARGS_INTERACTIVE_WATCH = "args[0] must be 'watch' for interactive calls";

/** WatchFlags are etcdctl's package-level watchPrefix, watchRev and watchPrevKey. */
interface WatchFlags {
  prefix: boolean;
  rev: bigint;
  prevKv: boolean;
}

/** WatchArgsError is a failure of parseWatchArgs, with the message etcdctl prints. */
class WatchArgsError extends Error {}

/** rangeIndex is where Go's `for i = range s { if s[i] == x { break } }` leaves i. */
function rangeIndex(s: readonly string[], x: string): { idx: number; found: boolean } {
  for (let i = 0; i < s.length; i++) if (s[i] === x) return { idx: i, found: true };
  return { idx: s.length > 0 ? s.length - 1 : 0, found: false };
}

/** watchFlagSet is NewWatchCommand().Flags(): the four watch flags, without help. */
function watchFlagSet(): FlagSet {
  const fs = new FlagSet();
  for (const d of WATCH_FLAGS) fs.add(new Flag(d));
  return fs;
}

/** parseFlags is pflag's Parse on a fresh watch flag set: the positional args, or pflag's error. */
function parseFlags(fs: FlagSet, args: string[]): string[] {
  try {
    return fs.parse(args);
  } catch (e) {
    if (e instanceof HelpRequested) throw new WatchArgsError("pflag: help requested");
    if (e instanceof FlagError) throw new WatchArgsError(e.message);
    throw e;
  }
}

/**
 * parseWatchArgs is etcdctl 3.4's parseWatchArgs, quirks included: osArgs is the raw command
 * line, commandArgs the positional args (the words of an interactive line). It splits them
 * into the watch arguments and the command to run per event; interactive lines also set the
 * watch flags in `flags`.
 */
export function parseWatchArgs(
  osArgs: readonly string[],
  commandArgs: readonly string[],
  envKey: string,
  envRange: string,
  interactive: boolean,
  flags: WatchFlags,
): { watchArgs: string[]; execArgs: string[] | undefined } {
  const reset = (): void => {
    flags.prefix = false;
    flags.rev = 0n;
    flags.prevKv = false;
  };
  let rawArgs = [...osArgs];
  let watchArgs = [...commandArgs];
  const w = rawArgs.indexOf("watch");
  if (w >= 0) rawArgs = rawArgs.slice(w + 1);
  if (interactive) {
    if (watchArgs[0] !== "watch") {
      reset();
      throw new WatchArgsError(ERR_BAD_ARGS_INTERACTIVE_WATCH);
    }
    watchArgs = watchArgs.slice(1);
  }
  if (!interactive) {
    const { idx: execIdx, found: execExist } = rangeIndex(rawArgs, "--");
    if (execExist && execIdx === rawArgs.length - 1) throw new WatchArgsError(ERR_BAD_ARGS_NUM_SEPARATOR);
    if (!execExist && rawArgs.length < 1 && envKey === "") throw new WatchArgsError(ERR_BAD_ARGS_NUM);
    if (execExist && envKey !== "") {
      let ridx = rawArgs.length - 1;
      for (let widx = watchArgs.length - 1; widx >= 0; widx--) {
        if (watchArgs[widx] === rawArgs[ridx]) {
          ridx--;
          continue;
        }
        if (ridx === execIdx) throw new WatchArgsError(ERR_BAD_ARGS_NUM_CONFLICT_ENV);
      }
    }
    if (!execExist && watchArgs.length > 0 && envKey !== "") throw new WatchArgsError(ERR_BAD_ARGS_NUM_CONFLICT_ENV);
  } else {
    const { idx: execIdx, found: execExist } = rangeIndex(watchArgs, "--");
    if (execExist && execIdx === watchArgs.length - 1) {
      reset();
      throw new WatchArgsError(ERR_BAD_ARGS_NUM_SEPARATOR);
    }
    let pArgs: string[];
    try {
      pArgs = parseFlags(watchFlagSet(), watchArgs);
    } catch (e) {
      reset();
      throw e;
    }
    if (!execExist && envKey === "" && pArgs.length < 1) {
      reset();
      throw new WatchArgsError(ERR_BAD_ARGS_NUM);
    }
    if (!execExist && pArgs.length > 0 && envKey !== "") {
      reset();
      throw new WatchArgsError(ERR_BAD_ARGS_NUM_CONFLICT_ENV);
    }
  }

  const argsWithSep = interactive ? watchArgs : rawArgs;
  const { idx, found: foundSep } = rangeIndex(argsWithSep, "--");
  const execArgs = foundSep ? argsWithSep.slice(idx + 1) : undefined;

  if (interactive) {
    const fs = watchFlagSet();
    watchArgs = parseFlags(fs, argsWithSep);
    flags.prefix = fs.lookup("prefix")?.value === true;
    flags.rev = fs.lookup("rev")?.value as bigint;
    flags.prevKv = fs.lookup("prev-kv")?.value === true;
  }
  if (envKey !== "") {
    const ranges = [envKey];
    if (envRange !== "") ranges.push(envRange);
    watchArgs = [...ranges, ...watchArgs];
  }
  if (!foundSep) return { watchArgs, execArgs: undefined };
  let endIdx = watchArgs.length - 1;
  for (; endIdx >= 0; endIdx--) if (watchArgs[endIdx] === argsWithSep[idx + 1]) break;
  if (endIdx < 0) throw new GoPanic("runtime error: slice bounds out of range [:-1]");
  return { watchArgs: watchArgs.slice(0, endIdx), execArgs };
}

/** startWatch is etcdctl's getWatchChan: the watch for args and flags, or the error it prints. */
function startWatch(c: Client, args: string[], flags: WatchFlags): ReturnType<Client["watch"]> {
  if (args.length < 1) throw new WatchArgsError(ERR_BAD_ARGS_NUM);
  const key = args[0] as string;
  let rangeEnd: string | undefined;
  if (args.length === 2) {
    if (flags.prefix) throw new WatchArgsError("`range_end` and `--prefix` are mutually exclusive");
    rangeEnd = args[1];
  }
  return c.watch(key, {
    ...(rangeEnd !== undefined ? { rangeEnd } : {}),
    prefix: flags.prefix,
    prevKv: flags.prevKv,
    startRevision: flags.rev,
    // etcdctl watches with clientv3.WithRequireLeader.
    requireLeader: true,
  });
}

/** eventTypeName is mvccpb.Event_EventType's Go String(). */
function eventTypeName(t: mvccpb.Event_EventType): string {
  if (t === mvccpb.Event_EventType.PUT) return "PUT";
  if (t === mvccpb.Event_EventType.DELETE) return "DELETE";
  return String(t);
}

/**
 * printWatch is etcdctl's printWatchCh: print each response (progress notifications and the
 * cancel reason included) and run the exec command once per event. It returns when the watch
 * ends; a failing command exits 1.
 */
async function printWatch(
  io: Io,
  printer: Printer,
  watch: ReturnType<Client["watch"]>,
  execArgs: string[] | undefined,
  exiting: { done: boolean } = { done: false },
): Promise<void> {
  for (;;) {
    let resp: etcdserverpb.WatchResponse & { progressNotify?: boolean };
    let cancelErr: string | undefined;
    try {
      const r = await watch.next();
      if (r.done === true) return;
      resp = r.value;
    } catch (e) {
      if (e instanceof WatchCanceledError) {
        resp = e.response;
      } else {
        // The Go client closes the channel after an empty canceled response carrying the error.
        resp = { ...etcdserverpb.WatchResponse.fromPartial({ canceled: true }), header: etcdserverpb.ResponseHeader.create() };
      }
      cancelErr = errorText(e);
    }
    // etcdctl exits at once: nothing is printed for watches ended by the exit itself.
    if (exiting.done) return;
    if (resp.canceled) io.err(`watch was canceled (${cancelErr ?? "<nil>"})\n`);
    if ((resp as WatchResponse).progressNotify === true) io.out(`progress notify: ${resp.header?.revision ?? 0n}\n`);
    printer.watch(resp);
    if (execArgs !== undefined && execArgs.length > 0) {
      for (const ev of resp.events) {
        const env = envObject([
          ...io.env,
          ["ETCD_WATCH_REVISION", String(resp.header?.revision ?? 0n)],
          ["ETCD_WATCH_EVENT_TYPE", goQuote(eventTypeName(ev.type))],
          ["ETCD_WATCH_KEY", goQuote(ev.kv?.key ?? Buffer.alloc(0))],
          ["ETCD_WATCH_VALUE", goQuote(ev.kv?.value ?? Buffer.alloc(0))],
        ]);
        const err = await runProgram(io, execArgs, env);
        if (err !== undefined) {
          io.err(`command ${goQuoteList(execArgs)} error (${err})\n`);
          throw new ExitError(ExitCode.Error, null);
        }
      }
    }
    if (cancelErr !== undefined) return;
  }
}

function envValue(io: Io, key: string): string {
  return io.env.find(([k]) => k === key)?.[1] ?? "";
}

/** flagsOf reads the watch flags given on the command line. */
function flagsOf(cmd: Command): WatchFlags {
  return {
    prefix: cmd.flag("prefix").value === true,
    rev: cmd.flag("rev").value as bigint,
    prevKv: cmd.flag("prev-kv").value === true,
  };
}

async function interactiveWatch(cmd: Command, io: Io, osArgs: string[], envKey: string, envRange: string): Promise<void> {
  const cfg = await clientConfig(cmd, io, { discardEnvFlags: DISCARD_ENV_FLAGS });
  const c = await newClient(io, cfg);
  const flags = flagsOf(cmd);
  // A watcher's fatal error (a failing exec command, an unsupported format) ends the process.
  const exiting = { done: false };
  let fail!: (e: unknown) => void;
  const fatal = new Promise<never>((_, reject) => (fail = reject));
  const loop = async (): Promise<never> => {
    for (;;) {
      const { line: raw, eof } = await io.stdin.readLine();
      if (eof) exitWithError(ExitCode.InvalidInput, "Error reading watch request line: EOF");
      const l = raw.endsWith("\n") ? raw.slice(0, -1) : raw;
      const args = argify(l);
      if (args.length < 1) {
        io.err(`Invalid command: ${l} (watch and progress supported)\n`);
        continue;
      }
      switch (args[0]) {
        case "watch": {
          if (args.length < 2 && envKey === "") {
            io.err(`Invalid command ${l} (command type or key is not provided)\n`);
            continue;
          }
          let parsed: { watchArgs: string[]; execArgs: string[] | undefined };
          try {
            parsed = parseWatchArgs(osArgs, args, envKey, envRange, true, flags);
          } catch (e) {
            if (e instanceof WatchArgsError) exitWithError(ExitCode.BadArgs, e.message);
            throw e;
          }
          let w: ReturnType<Client["watch"]>;
          try {
            w = startWatch(c, parsed.watchArgs, flags);
          } catch (e) {
            if (e instanceof WatchArgsError) {
              io.err(`Invalid command ${l} (${e.message})\n`);
              continue;
            }
            throw e;
          }
          printWatch(io, cfg.printer, w, parsed.execArgs, exiting).catch(fail);
          break;
        }
        case "progress":
          await c.requestProgress({ requireLeader: true }).catch((e: unknown) => exitWithError(ExitCode.Error, errorText(e)));
          break;
        default:
          io.err(`Invalid command ${l} (only support watch)\n`);
      }
    }
  };
  try {
    await Promise.race([loop(), fatal]);
  } finally {
    exiting.done = true;
    c.close();
  }
}

export function watchCommand(io: Io): CommandSpec {
  return {
    use: WATCH_USE,
    short: "Watches events stream on keys or prefixes",
    flags: WATCH_FLAGS,
    run: async (cmd: Command, args: string[]) => {
      const envKey = envValue(io, "ETCDCTL_WATCH_KEY");
      const envRange = envValue(io, "ETCDCTL_WATCH_RANGE_END");
      if (envKey === "" && envRange !== "") {
        exitWithError(ExitCode.BadArgs, `ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${goQuote(envRange)}`);
      }
      const osArgs = ["etcdctl", ...(io.argv ?? [])];
      if (cmd.flag("interactive").value === true) {
        await interactiveWatch(cmd, io, osArgs, envKey, envRange);
        return;
      }
      const flags = flagsOf(cmd);
      let parsed: { watchArgs: string[]; execArgs: string[] | undefined };
      try {
        parsed = parseWatchArgs(osArgs, args, envKey, envRange, false, flags);
      } catch (e) {
        if (e instanceof WatchArgsError) exitWithError(ExitCode.BadArgs, e.message);
        throw e;
      }
      const cfg = await clientConfig(cmd, io, { discardEnvFlags: DISCARD_ENV_FLAGS });
      const c = await newClient(io, cfg);
      try {
        let w: ReturnType<Client["watch"]>;
        try {
          w = startWatch(c, parsed.watchArgs, flags);
        } catch (e) {
          if (e instanceof WatchArgsError) exitWithError(ExitCode.BadArgs, e.message);
          throw e;
        }
        await printWatch(io, cfg.printer, w, parsed.execArgs);
      } finally {
        c.close();
      }
      exitWithError(ExitCode.Interrupted, "watch is canceled by the server");
    },
  };
}
