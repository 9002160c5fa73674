import type { Command, CommandSpec } from "../cli/command.js";
import { ExitCode, exitWithError, type Io } from "../ctl/io.js";
import { GLOBAL_FLAGS } from "../ctl/global.js";
import { API_VERSION, VERSION } from "../cli/usage.js";
import { endpointCommand } from "./endpoint.js";
import { compactionCommand, delCommand, getCommand, putCommand } from "./kv.js";
import { leaseCommand } from "./lease.js";
import { electCommand, lockCommand } from "./lock.js";
import { makeMirrorCommand } from "./mirror.js";
import { watchCommand } from "./watch.js";
import { memberCommand } from "./member.js";
import { moveLeaderCommand } from "./moveleader.js";
import { txnCommand } from "./txn.js";
import { alarmCommand } from "./alarm.js";
import { checkLinearizabilityCommand } from "./check.js";
import { checkDatascaleCommand, checkPerfCommand } from "./check_perf.js";
import { defragCommand } from "./defrag.js";
import { authCommand } from "./auth.js";
import { roleCommand } from "./role.js";
import { userCommand } from "./user.js";
import { snapshotSaveCommand, snapshotStatusCommand } from "./snapshot.js";
import { snapshotRestoreCommand } from "./snapshot_restore.js";

/** NOT_IMPLEMENTED marks the etcdctl commands etcdctl-ts lists but cannot run yet. */
export const NOT_IMPLEMENTED = Symbol("not implemented");

const notImplemented = async (cmd: Command): Promise<void> =>
  exitWithError(ExitCode.Error, `etcdctl-ts: "${cmd.commandPath().replace(/^etcdctl /, "")}" is not implemented yet`);

function pending(use: string, short: string): CommandSpec & { [NOT_IMPLEMENTED]: true } {
  return { use, short, run: notImplemented, [NOT_IMPLEMENTED]: true };
}

function group(use: string, short: string, children: CommandSpec[]): CommandSpec {
  return { use, short, children };
}

function versionCommand(io: Io): CommandSpec {
  return {
    use: "version",
    short: "Prints the version of etcdctl",
    run: async () => {
      io.out(`etcdctl version: ${VERSION}\nAPI version: ${API_VERSION}\n`);
    },
  };
}

/** rootSpec is etcdctl 3.4's command tree; commands not implemented yet exit with an error. */
export function rootSpec(io: Io, help: CommandSpec): CommandSpec {
  return {
    use: "etcdctl",
    short: "A simple command line client for etcd3.",
    persistentFlags: GLOBAL_FLAGS,
    children: [
      getCommand(io),
      putCommand(io),
      delCommand(io),
      txnCommand(io),
      compactionCommand(io),
      alarmCommand(io),
      defragCommand(io),
      endpointCommand(io),
      moveLeaderCommand(io),
      watchCommand(io),
      versionCommand(io),
      leaseCommand(io),
      memberCommand(io),
      group("snapshot <subcommand>", "Manages etcd node snapshots", [
        snapshotSaveCommand(io),
        snapshotRestoreCommand(io),
        snapshotStatusCommand(io),
      ]),
      makeMirrorCommand(io),
      pending("migrate", "Migrates keys in a v2 store to a mvcc store"),
      lockCommand(io),
      electCommand(io),
      authCommand(io),
      userCommand(io),
      roleCommand(io),
      group("check <subcommand>", "commands for checking properties of the etcd cluster", [
        checkPerfCommand(io),
        checkDatascaleCommand(io),
        checkLinearizabilityCommand(io),
      ]),
      group("completion", "Generate the autocompletion script for the specified shell", [
        pending("bash", "Generate the autocompletion script for bash"),
        pending("fish", "Generate the autocompletion script for fish"),
        pending("powershell", "Generate the autocompletion script for powershell"),
        pending("zsh", "Generate the autocompletion script for zsh"),
      ]),
      help,
    ],
  };
}
