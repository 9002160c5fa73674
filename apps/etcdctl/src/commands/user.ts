import type { Client } from "@etcd-ts/client";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, newClient, type ClientConfig } from "../ctl/global.js";
import { ExitCode, exitWithError, type Io } from "../ctl/io.js";
import { readPasswordInteractive, scanWord } from "../ctl/password.js";
import { newAuthPrinter, type AuthPrinter } from "../printer/auth.js";
import { callFailed } from "./kv.js";

/** AuthRun is the body of a user or role command: the client, the printer, and the exit for a failed call. */
export type AuthRun = (c: Client, p: AuthPrinter, fail: (e: unknown) => never) => Promise<void>;

/**
 * withAuthClient connects as etcdctl's mustClientFromCmd does and runs f with the client and
 * the auth printer of -w; a failed call logs the Go client's warning and exits 1. etcdctl's
 * user and role calls have no deadline: an answer is awaited as long as it takes, but (as for
 * etcdctl-ts's other calls without one) connecting gives up after the dial timeout.
 */
export async function withAuthClient(
  cmd: Command,
  io: Io,
  f: AuthRun,
): Promise<void> {
  const cfg: ClientConfig = await clientConfig(cmd, io);
  const p = newAuthPrinter(cmd.flag("write-out").value as string, io);
  if (p === undefined) return exitWithError(ExitCode.BadFeature, "unsupported output format");
  const c = await newClient(io, cfg);
  try {
    await f(c, p, (e) => callFailed(io, cfg.endpoints, e));
  } finally {
    c.close();
  }
}

/** newPassword reads a password as user add and passwd do: twice with echo off, or one word (--interactive=false). */
function newPassword(cmd: Command, io: Io, name: string): Promise<string> {
  return cmd.flag("interactive").value === true ? readPasswordInteractive(io, name) : scanWord(io);
}

function addCommand(io: Io): CommandSpec {
  return {
    use: "add <user name or user:password> [options]",
    short: "Adds a new user",
    flags: [
      { name: "interactive", kind: "bool", def: true, usage: "Read password from stdin instead of interactive terminal" },
      { name: "new-user-password", kind: "string", def: "", usage: "Supply password from the command line flag" },
      { name: "no-password", kind: "bool", def: false, usage: "Create a user without password (CN based auth only)" },
    ],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "user add command requires user name as its argument");
      const arg = args[0] as string;
      const noPassword = cmd.flag("no-password").value === true;
      const fromFlag = cmd.flag("new-user-password").value as string;
      let user = arg;
      let password = "";
      if (!noPassword) {
        const i = arg.indexOf(":");
        if (fromFlag !== "") {
          password = fromFlag;
        } else if (i < 0) {
          password = await newPassword(cmd, io, arg);
        } else {
          user = arg.slice(0, i);
          password = arg.slice(i + 1);
          if (user === "") exitWithError(ExitCode.BadArgs, "empty user name is not allowed");
        }
      }
      await withAuthClient(cmd, io, async (c, p, fail) => {
        p.userAdd(user, await c.auth.userAdd(user, password, { noPassword }).catch(fail));
      });
    },
  };
}

function deleteCommand(io: Io): CommandSpec {
  return {
    use: "delete <user name>",
    short: "Deletes a user",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "user delete command requires user name as its argument");
      const name = args[0] as string;
      await withAuthClient(cmd, io, async (c, p, fail) => {
        p.userDelete(name, await c.auth.userDelete(name).catch(fail));
      });
    },
  };
}

function getCommand(io: Io): CommandSpec {
  return {
    use: "get <user name> [options]",
    short: "Gets detailed information of a user",
    flags: [{ name: "detail", kind: "bool", def: false, usage: "Show permissions of roles granted to the user" }],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "user get command requires user name as its argument");
      const name = args[0] as string;
      await withAuthClient(cmd, io, async (c, p, fail) => {
        const resp = await c.auth.userGet(name).catch(fail);
        if (cmd.flag("detail").value !== true) {
          p.userGet(name, resp);
          return;
        }
        // etcdctl prints this part itself, in every output format.
        io.out(`User: ${name}\n`);
        for (const role of resp.roles) {
          io.out("\n");
          p.roleGet(role, await c.auth.roleGet(role).catch(fail));
        }
      });
    },
  };
}

function listCommand(io: Io): CommandSpec {
  return {
    use: "list",
    short: "Lists all users",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 0) exitWithError(ExitCode.BadArgs, "user list command requires no arguments");
      await withAuthClient(cmd, io, async (c, p, fail) => {
        p.userList(await c.auth.userList().catch(fail));
      });
    },
  };
}

function passwdCommand(io: Io): CommandSpec {
  return {
    use: "passwd <user name> [options]",
    short: "Changes password of user",
    flags: [
      {
        name: "interactive", kind: "bool", def: true,
        usage: "If true, read password from stdin instead of interactive terminal",
      },
    ],
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "user passwd command requires user name as its argument");
      const name = args[0] as string;
      const password = await newPassword(cmd, io, name);
      await withAuthClient(cmd, io, async (c, p, fail) => {
        p.userChangePassword(await c.auth.userChangePassword(name, password).catch(fail));
      });
    },
  };
}

function grantRoleCommand(io: Io): CommandSpec {
  return {
    use: "grant-role <user name> <role name>",
    short: "Grants a role to a user",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 2) {
        exitWithError(ExitCode.BadArgs, "user grant command requires user name and role name as its argument");
      }
      const [user, role] = args as [string, string];
      await withAuthClient(cmd, io, async (c, p, fail) => {
        p.userGrantRole(user, role, await c.auth.userGrantRole(user, role).catch(fail));
      });
    },
  };
}

function revokeRoleCommand(io: Io): CommandSpec {
  return {
    use: "revoke-role <user name> <role name>",
    short: "Revokes a role from a user",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 2) {
        exitWithError(ExitCode.BadArgs, "user revoke-role requires user name and role name as its argument");
      }
      const [user, role] = args as [string, string];
      await withAuthClient(cmd, io, async (c, p, fail) => {
        p.userRevokeRole(user, role, await c.auth.userRevokeRole(user, role).catch(fail));
      });
    },
  };
}

/** userCommand is `etcdctl user`: add, delete, get, list, passwd, grant-role, revoke-role. */
export function userCommand(io: Io): CommandSpec {
  return {
    use: "user <subcommand>",
    short: "User related commands",
    children: [
      addCommand(io),
      deleteCommand(io),
      getCommand(io),
      listCommand(io),
      passwdCommand(io),
      grantRoleCommand(io),
      revokeRoleCommand(io),
    ],
  };
}
