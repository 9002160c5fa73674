import { status as GrpcStatus } from "@grpc/grpc-js";
import { EtcdError } from "@etcd-ts/client";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, commandTimeout, newClient } from "../ctl/global.js";
import { parseHexID } from "../ctl/hexid.js";
import { ExitCode, exitWithError, type Io } from "../ctl/io.js";
import { goQuote } from "../printer/goformat.js";
import { SimplePrinter } from "../printer/simple.js";
import { callFailed } from "./kv.js";

/** memberCallFailed is callFailed, except that a peer URL the client refused logs no retry warning. */
function memberCallFailed(io: Io, endpoints: string[], e: unknown): never {
  if (e instanceof EtcdError && e.local && e.code === GrpcStatus.INVALID_ARGUMENT) {
    return exitWithError(ExitCode.Error, e.message);
  }
  return callFailed(io, endpoints, e);
}

/** memberIDArg is the one hex member ID argument of remove, update and promote. */
function memberIDArg(args: string[]): bigint {
  if (args.length !== 1) exitWithError(ExitCode.BadArgs, "member ID is not provided");
  try {
    return parseHexID(args[0] as string);
  } catch (e) {
    return exitWithError(ExitCode.BadArgs, `bad member ID arg (${(e as Error).message}), expecting ID in Hex`);
  }
}

function peerURLsFlag(cmd: Command): string[] {
  const v = cmd.flag("peer-urls").value as string;
  if (v === "") exitWithError(ExitCode.BadArgs, "member peer urls not provided");
  return v.split(",");
}

function addCommand(io: Io): CommandSpec {
  return {
    use: "add <memberName> [options]",
    short: "Adds a member into the cluster",
    flags: [
      { name: "peer-urls", kind: "string", def: "", usage: "comma separated peer URLs for the new member." },
      { name: "learner", kind: "bool", def: false, usage: "indicates if the new member is raft learner" },
    ],
    run: async (cmd: Command, args: string[]) => {
      if (args.length < 1) exitWithError(ExitCode.BadArgs, "member name not provided");
      if (args.length > 1) {
        let ev = "too many arguments";
        for (const a of args) if (a.toLowerCase().startsWith("http")) ev += `, did you mean --peer-urls=${a}`;
        exitWithError(ExitCode.BadArgs, ev);
      }
      const name = args[0] as string;
      const urls = peerURLsFlag(cmd);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c
          .memberAdd(urls, cmd.flag("learner").value === true, commandTimeout(cmd))
          .catch((e: unknown) => memberCallFailed(io, cfg.endpoints, e));
        cfg.printer.memberAdd(resp);
        if (cfg.printer instanceof SimplePrinter) {
          const newID = resp.member?.ID;
          const conf: string[] = [];
          for (const m of resp.members) {
            for (const u of m.peerURLs) conf.push(`${m.ID === newID ? name : m.name}=${u}`);
          }
          io.out(
            `\nETCD_NAME=${goQuote(name)}\nETCD_INITIAL_CLUSTER=${goQuote(conf.join(","))}\n` +
              `ETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(cmd.flag("peer-urls").value as string)}\n` +
              `ETCD_INITIAL_CLUSTER_STATE="existing"\n`,
          );
        }
      } finally {
        c.close();
      }
    },
  };
}

function removeCommand(io: Io): CommandSpec {
  return {
    use: "remove <memberID>",
    short: "Removes a member from the cluster",
    run: async (cmd: Command, args: string[]) => {
      const id = memberIDArg(args);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.memberRemove(id, commandTimeout(cmd)).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        cfg.printer.memberRemove(id, resp);
      } finally {
        c.close();
      }
    },
  };
}

function updateCommand(io: Io): CommandSpec {
  return {
    use: "update <memberID> [options]",
    short: "Updates a member in the cluster",
    flags: [{ name: "peer-urls", kind: "string", def: "", usage: "comma separated peer URLs for the updated member." }],
    run: async (cmd: Command, args: string[]) => {
      const id = memberIDArg(args);
      const urls = peerURLsFlag(cmd);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c
          .memberUpdate(id, urls, commandTimeout(cmd))
          .catch((e: unknown) => memberCallFailed(io, cfg.endpoints, e));
        cfg.printer.memberUpdate(id, resp);
      } finally {
        c.close();
      }
    },
  };
}

function listCommand(io: Io): CommandSpec {
  return {
    use: "list",
    short: "Lists all members in the cluster",
    long: `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
`,
    run: async (cmd: Command) => {
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.memberList(commandTimeout(cmd)).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        cfg.printer.memberList(resp);
      } finally {
        c.close();
      }
    },
  };
}

function promoteCommand(io: Io): CommandSpec {
  return {
    use: "promote <memberID>",
    short: "Promotes a non-voting member in the cluster",
    long: `Promotes a non-voting learner member to a voting one in the cluster.
`,
    run: async (cmd: Command, args: string[]) => {
      const id = memberIDArg(args);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.memberPromote(id, commandTimeout(cmd)).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        cfg.printer.memberPromote(id, resp);
      } finally {
        c.close();
      }
    },
  };
}

/** memberCommand is `etcdctl member`: add, remove, update, list, promote. */
export function memberCommand(io: Io): CommandSpec {
  return {
    use: "member <subcommand>",
    short: "Membership related commands",
    children: [addCommand(io), removeCommand(io), updateCommand(io), listCommand(io), promoteCommand(io)],
  };
}
