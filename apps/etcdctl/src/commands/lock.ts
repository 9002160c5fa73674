import { Election, Mutex, Session, type Client } from "@etcd-ts/client";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, newClient } from "../ctl/global.js";
import { errorText, logAttemptFailure } from "../ctl/grpcerr.js";
import { envObject, runProgram } from "../ctl/exec.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import type { Printer } from "../printer/printer.js";

/**
 * Signals is what lock and elect do on SIGINT/SIGTERM, as their signal.Notify goroutines: abort
 * the pending wait (`signal`) and resolve `received`.
 */
interface Signals {
  signal: AbortSignal;
  received: Promise<void>;
  dispose(): void;
}

function watchSignals(io: Io): Signals {
  const ac = new AbortController();
  let resolve!: () => void;
  const received = new Promise<void>((r) => (resolve = r));
  const off = io.onSignal?.(() => {
    ac.abort();
    resolve();
  });
  return { signal: ac.signal, received, dispose: () => off?.() };
}

/** CommandError carries an error etcdctl returns from its lock or elect function (exit 1). */
class CommandError extends Error {}

/** unary runs a unary call of the command, logging the Go client's retry warning when it fails. */
async function unary<T>(io: Io, endpoints: string[], p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (!(e instanceof ExitError)) logAttemptFailure(io, { kind: "balanced", firstEndpoint: endpoints[0] ?? "" }, e);
    throw e;
  }
}

/** lockUntilSignal is etcdctl's lockUntilSignal; it throws what etcdctl's would return. */
async function lockUntilSignal(
  io: Io,
  c: Client,
  endpoints: string[],
  printer: Printer,
  ttl: number,
  name: string,
  cmdArgs: string[],
): Promise<void> {
  const s = await unary(io, endpoints, Session.create(c, { ttl }));
  const m = new Mutex(s, name);
  const sig = watchSignals(io);
  try {
    await m.lock(sig.signal);
    if (cmdArgs.length > 0) {
      // The lock's variables come first: the process's own environment wins a clash, as in Go.
      const env = envObject([
        ["ETCD_LOCK_KEY", m.key.toString()],
        ["ETCD_LOCK_REV", String(m.header?.revision ?? 0n)],
        ...io.env,
      ]);
      const err = await runProgram(io, cmdArgs, env);
      let unlockErr: unknown;
      await m.unlock().catch((e: unknown) => (unlockErr = e));
      if (err !== undefined) throw new CommandError(err);
      if (unlockErr !== undefined) throw unlockErr;
      return;
    }
    const k = await unary(io, endpoints, c.range({ key: m.key }, { signal: sig.signal }));
    if (k.kvs.length === 0) throw new CommandError("lock lost on init");
    printer.get(k);
    const which = await Promise.race([sig.received.then(() => "signal" as const), s.done.then(() => "done" as const)]);
    if (which === "signal") {
      await m.unlock();
      return;
    }
    throw new CommandError("session expired");
  } finally {
    sig.dispose();
  }
}

export function lockCommand(io: Io): CommandSpec {
  return {
    use: "lock <lockname> [exec-command arg1 arg2 ...]",
    short: "Acquires a named lock",
    flags: [{ name: "ttl", kind: "int64", def: 10n, usage: "timeout for session" }],
    run: async (cmd: Command, args: string[]) => {
      if (args.length === 0) {
        exitWithError(ExitCode.BadArgs, "lock takes a lock name argument and an optional command to execute");
      }
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        await lockUntilSignal(io, c, cfg.endpoints, cfg.printer, Number(cmd.flag("ttl").value as bigint), args[0] as string, args.slice(1));
      } catch (e) {
        if (e instanceof ExitError) throw e;
        exitWithError(ExitCode.Error, e instanceof CommandError ? e.message : errorText(e));
      } finally {
        c.close();
      }
    },
  };
}

/** observe is etcdctl's observe: print the leader on every change until a signal comes. */
async function observe(io: Io, c: Client, endpoints: string[], printer: Printer, election: string): Promise<void> {
  const s = await unary(io, endpoints, Session.create(c));
  const e = new Election(s, election);
  const sig = watchSignals(io);
  try {
    for await (const resp of e.observe(sig.signal)) printer.get(resp);
    if (!sig.signal.aborted) throw new CommandError("elect: observer lost");
  } finally {
    sig.dispose();
  }
}

/** campaign is etcdctl's campaign: win the election, print the key, and resign on a signal. */
async function campaign(io: Io, c: Client, endpoints: string[], printer: Printer, election: string, prop: string): Promise<void> {
  const s = await unary(io, endpoints, Session.create(c));
  const e = new Election(s, election);
  const sig = watchSignals(io);
  try {
    await e.campaign(prop, sig.signal);
    const resp = await unary(io, endpoints, c.range({ key: e.key }, { signal: sig.signal }));
    printer.get(resp);
    const which = await Promise.race([sig.received.then(() => "signal" as const), s.done.then(() => "done" as const)]);
    if (which === "done") throw new CommandError("elect: session expired");
    await e.resign();
  } finally {
    sig.dispose();
  }
}

export function electCommand(io: Io): CommandSpec {
  return {
    use: "elect <election-name> [proposal]",
    short: "Observes and participates in leader election",
    flags: [{ name: "listen", shorthand: "l", kind: "bool", def: false, usage: "observation mode" }],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1 && args.length !== 2) {
        exitWithError(ExitCode.BadArgs, "elect takes one election name argument and an optional proposal argument");
      }
      const listen = cmd.flag("listen").value === true;
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        if (args.length === 1) {
          if (!listen) exitWithError(ExitCode.BadArgs, "no proposal argument but -l not set");
          await observe(io, c, cfg.endpoints, cfg.printer, args[0] as string);
        } else {
          if (listen) exitWithError(ExitCode.BadArgs, "proposal given but -l is set");
          await campaign(io, c, cfg.endpoints, cfg.printer, args[0] as string, args[1] as string);
        }
      } catch (e) {
        if (e instanceof ExitError) throw e;
        exitWithError(ExitCode.Error, e instanceof CommandError ? e.message : errorText(e));
      } finally {
        c.close();
      }
    },
  };
}
