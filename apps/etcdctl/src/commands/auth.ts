import { EtcdError, type CallOptions } from "@etcd-ts/client";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, newClient } from "../ctl/global.js";
import { logAttemptFailure } from "../ctl/grpcerr.js";
import { ExitCode, exitWithError, type Io } from "../ctl/io.js";
import { callFailed } from "./kv.js";

/** ERR_ROOT_ROLE_NOT_EXIST is etcd's refusal to enable auth while root lacks the root role. */
const ERR_ROOT_ROLE_NOT_EXIST = "etcdserver: root user does not have root role";

/**
 * commandDeadline is etcdctl's commandCtx for auth enable and disable: --command-timeout as
 * given on the command line (read before ETCDCTL_* variables apply), counted from now, so
 * that asking for a password and authenticating use it up too.
 */
function commandDeadline(cmd: Command): () => CallOptions {
  const end = Date.now() + (cmd.flag("command-timeout").value as number) / 1e6;
  return () => ({ timeoutMs: Math.max(0, end - Date.now()) });
}

function enableCommand(io: Io): CommandSpec {
  return {
    use: "enable",
    short: "Enables authentication",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 0) exitWithError(ExitCode.BadArgs, "auth enable command does not accept any arguments");
      const left = commandDeadline(cmd);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        // As etcdctl: when root lacks the root role, create the role, grant it and try again.
        for (;;) {
          const err = await c.auth.authEnable(left()).then(
            () => undefined,
            (e: unknown) => e,
          );
          if (err === undefined) break;
          if (!(err instanceof EtcdError) || err.local || err.details !== ERR_ROOT_ROLE_NOT_EXIST) {
            callFailed(io, cfg.endpoints, err);
          }
          logAttemptFailure(io, { kind: "balanced", firstEndpoint: cfg.endpoints[0] ?? "" }, err);
          await c.auth.roleAdd("root", left()).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
          await c.auth.userGrantRole("root", "root", left()).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        }
      } finally {
        c.close();
      }
      io.out("Authentication Enabled\n");
    },
  };
}

function disableCommand(io: Io): CommandSpec {
  return {
    use: "disable",
    short: "Disables authentication",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 0) exitWithError(ExitCode.BadArgs, "auth disable command does not accept any arguments");
      const left = commandDeadline(cmd);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        await c.auth.authDisable(left()).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
      } finally {
        c.close();
      }
      io.out("Authentication Disabled\n");
    },
  };
}

/** authCommand is `etcdctl auth`: enable and disable (etcdctl 3.4 has no `auth status`). */
export function authCommand(io: Io): CommandSpec {
  return {
    use: "auth <enable or disable>",
    short: "Enable or disable authentication",
    children: [enableCommand(io), disableCommand(io)],
  };
}
