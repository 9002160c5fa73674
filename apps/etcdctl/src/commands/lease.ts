import type { Command, CommandSpec } from "../cli/command.js";
import { parseInt64 } from "../cli/flags.js";
import { clientConfig, commandTimeout, newClient } from "../ctl/global.js";
import { errorText, logAttemptFailure } from "../ctl/grpcerr.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { goHex016 } from "../printer/goformat.js";
import { SimplePrinter } from "../printer/simple.js";

/**
 * leaseFromArgs is etcdctl's leaseFromArgs: a lease ID in hex (strconv.ParseInt(arg, 16, 64)),
 * exit 128 otherwise.
 */
export function leaseFromArgs(arg: string): bigint {
  try {
    return parseInt64(arg, 16);
  } catch (e) {
    return exitWithError(ExitCode.BadArgs, `bad lease ID arg (${(e as Error).message}), expecting ID in Hex`);
  }
}

/** unaryFailed logs the Go client's retry warning and exits with code and etcdctl's text. */
function unaryFailed(io: Io, endpoints: string[], e: unknown, code: number, wrap: (s: string) => string): never {
  if (e instanceof ExitError) throw e;
  logAttemptFailure(io, { kind: "balanced", firstEndpoint: endpoints[0] ?? "" }, e);
  return exitWithError(code, wrap(errorText(e)));
}

function grantCommand(io: Io): CommandSpec {
  return {
    use: "grant <ttl>",
    short: "Creates leases",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "lease grant command needs TTL argument");
      let ttl: bigint;
      try {
        ttl = parseInt64(args[0] as string, 10);
      } catch (e) {
        return exitWithError(ExitCode.BadArgs, `bad TTL (${(e as Error).message})`);
      }
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.lease
          .grant(ttl, commandTimeout(cmd))
          .catch((e: unknown) => unaryFailed(io, cfg.endpoints, e, ExitCode.Error, (s) => `failed to grant lease (${s})`));
        cfg.printer.grant(resp);
      } finally {
        c.close();
      }
    },
  };
}

function revokeCommand(io: Io): CommandSpec {
  return {
    use: "revoke <leaseID>",
    short: "Revokes leases",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "lease revoke command needs 1 argument");
      const id = leaseFromArgs(args[0] as string);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.lease
          .revoke(id, commandTimeout(cmd))
          .catch((e: unknown) => unaryFailed(io, cfg.endpoints, e, ExitCode.Error, (s) => `failed to revoke lease (${s})`));
        cfg.printer.revoke(id, resp);
      } finally {
        c.close();
      }
    },
  };
}

function timeToLiveCommand(io: Io): CommandSpec {
  return {
    use: "timetolive <leaseID> [options]",
    short: "Get lease information",
    flags: [{ name: "keys", kind: "bool", def: false, usage: "Get keys attached to this lease" }],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "lease timetolive command needs lease ID as argument");
      const keys = cmd.flag("keys").value === true;
      // Go evaluates mustClientFromCmd(cmd).TimeToLive before its argument leaseFromArgs(...).
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const id = leaseFromArgs(args[0] as string);
        // etcdctl asks without a deadline (context.TODO) and exits 2 on failure.
        const resp = await c.lease
          .timeToLive(id, { keys })
          .catch((e: unknown) => unaryFailed(io, cfg.endpoints, e, ExitCode.BadConnection, (s) => s));
        cfg.printer.timeToLive(resp, keys);
      } finally {
        c.close();
      }
    },
  };
}

function listCommand(io: Io): CommandSpec {
  return {
    use: "list",
    short: "List all active leases",
    run: async (cmd: Command) => {
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.lease
          .leases()
          .catch((e: unknown) => unaryFailed(io, cfg.endpoints, e, ExitCode.BadConnection, (s) => s));
        cfg.printer.leases(resp);
      } finally {
        c.close();
      }
    },
  };
}

function keepAliveCommand(io: Io): CommandSpec {
  return {
    use: "keep-alive [options] <leaseID>",
    short: "Keeps leases alive (renew)",
    flags: [
      {
        name: "once", kind: "bool", def: false,
        usage: "Resets the keep-alive time to its original value and exits immediately",
      },
    ],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "lease keep-alive command needs lease ID as argument");
      const id = leaseFromArgs(args[0] as string);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        if (cmd.flag("once").value === true) {
          // A stream call: the Go client logs no retry warning for it.
          const resp = await c.lease
            .keepAliveOnce(id)
            .catch((e: unknown) => exitWithError(ExitCode.BadConnection, errorText(e)));
          cfg.printer.keepAlive(resp);
          return;
        }
        // Go's lessor waits DialTimeout+1s for the first answer (5s when that is just 1s).
        const first = cfg.dialTimeoutMs + 1000 === 1000 ? 5000 : cfg.dialTimeoutMs + 1000;
        for await (const resp of c.lease.keepAlive(id, { firstResponseTimeoutMs: first })) cfg.printer.keepAlive(resp);
        if (cfg.printer instanceof SimplePrinter) io.out(`lease ${goHex016(id)} expired or revoked.\n`);
      } finally {
        c.close();
      }
    },
  };
}

export function leaseCommand(io: Io): CommandSpec {
  return {
    use: "lease <subcommand>",
    short: "Lease related commands",
    children: [grantCommand(io), revokeCommand(io), timeToLiveCommand(io), listCommand(io), keepAliveCommand(io)],
  };
}
