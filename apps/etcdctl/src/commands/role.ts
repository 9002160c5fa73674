import { permissionType } from "@etcd-ts/client";
import type { Command, CommandSpec } from "../cli/command.js";
import type { FlagDef } from "../cli/flags.js";
import { ExitCode, exitWithError, type Io } from "../ctl/io.js";
import { permRange } from "../ctl/permrange.js";
import { withAuthClient, type AuthRun } from "./user.js";

/** nameCommand is a role command taking exactly the role name (add, delete, get). */
function nameCommand(
  io: Io,
  use: string,
  short: string,
  what: string,
  run: (name: string) => AuthRun,
): CommandSpec {
  return {
    use,
    short,
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, `role ${what} command requires role name as its argument`);
      const name = args[0] as string;
      await withAuthClient(cmd, io, run(name));
    },
  };
}

function rangeFlags(verb: "grant" | "revoke"): FlagDef[] {
  return [
    { name: "prefix", kind: "bool", def: false, usage: `${verb} a prefix permission` },
    {
      name: "from-key", kind: "bool", def: false,
      usage: `${verb} a permission of keys that are greater than or equal to the given key using byte compare`,
    },
  ];
}

const flagSet = (cmd: Command, name: string): boolean => cmd.flag(name).value === true;

function grantPermissionCommand(io: Io): CommandSpec {
  return {
    use: "grant-permission [options] <role name> <permission type> <key> [endkey]",
    short: "Grants a key to a role",
    flags: rangeFlags("grant"),
    run: async (cmd: Command, args: string[]) => {
      if (args.length < 3) {
        exitWithError(
          ExitCode.BadArgs,
          "role grant command requires role name, permission type, and key [endkey] as its argument",
        );
      }
      const role = args[0] as string;
      const permType = permissionType(args[1] as string);
      if (permType === undefined) return exitWithError(ExitCode.BadArgs, `invalid permission type: ${args[1] as string}`);
      const { key, rangeEnd } = permRange(args.slice(2), flagSet(cmd, "prefix"), flagSet(cmd, "from-key"));
      await withAuthClient(cmd, io, async (c, p, fail) => {
        const resp = await c.auth.roleGrantPermission(role, { permType, key, rangeEnd }).catch(fail);
        p.roleGrantPermission(role, resp);
      });
    },
  };
}

function revokePermissionCommand(io: Io): CommandSpec {
  return {
    use: "revoke-permission <role name> <key> [endkey]",
    short: "Revokes a key from a role",
    flags: rangeFlags("revoke"),
    run: async (cmd: Command, args: string[]) => {
      if (args.length < 2) {
        exitWithError(ExitCode.BadArgs, "role revoke-permission command requires role name and key [endkey] as its argument");
      }
      const role = args[0] as string;
      const { key, rangeEnd } = permRange(args.slice(1), flagSet(cmd, "prefix"), flagSet(cmd, "from-key"));
      await withAuthClient(cmd, io, async (c, p, fail) => {
        const resp = await c.auth.roleRevokePermission(role, key, rangeEnd).catch(fail);
        p.roleRevokePermission(role, args[1] as string, rangeEnd, resp);
      });
    },
  };
}

function listCommand(io: Io): CommandSpec {
  return {
    use: "list",
    short: "Lists all roles",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 0) exitWithError(ExitCode.BadArgs, "role list command requires no arguments");
      await withAuthClient(cmd, io, async (c, p, fail) => {
        p.roleList(await c.auth.roleList().catch(fail));
      });
    },
  };
}

/** roleCommand is `etcdctl role`: add, delete, get, list, grant-permission, revoke-permission. */
export function roleCommand(io: Io): CommandSpec {
  return {
    use: "role <subcommand>",
    short: "Role related commands",
    children: [
      nameCommand(io, "add <role name>", "Adds a new role", "add", (name) => async (c, p, fail) => {
        p.roleAdd(name, await c.auth.roleAdd(name).catch(fail));
      }),
      nameCommand(io, "delete <role name>", "Deletes a role", "delete", (name) => async (c, p, fail) => {
        p.roleDelete(name, await c.auth.roleDelete(name).catch(fail));
      }),
      nameCommand(io, "get <role name>", "Gets detailed information of a role", "get", (name) => async (c, p, fail) => {
        p.roleGet(name, await c.auth.roleGet(name).catch(fail));
      }),
      listCommand(io),
      grantPermissionCommand(io),
      revokePermissionCommand(io),
    ],
  };
}
