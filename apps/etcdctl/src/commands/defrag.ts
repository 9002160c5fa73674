import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, commandTimeout, newClient } from "../ctl/global.js";
import { errorText } from "../ctl/grpcerr.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { endpointsFromCluster } from "./endpoint.js";

/**
 * defragCommand is `etcdctl defrag`: Maintenance.Defragment on each endpoint in turn (with
 * --cluster every member's client URLs), "Finished defragmenting etcd member[ep]" for each
 * that succeeded, "Failed to defragment etcd member[ep] (err)" on stderr for the others, and
 * exit 1 if any failed. --data-dir (etcdctl's offline defragmentation of a stopped member's
 * bbolt file) is refused: an etcd-ts member's backend is RocksDB, defragmented online.
 */
export function defragCommand(io: Io): CommandSpec {
  return {
    use: "defrag",
    short: "Defragments the storage of the etcd members with given endpoints",
    persistentFlags: [{ name: "cluster", kind: "bool", def: false, usage: "use all endpoints from the cluster member list" }],
    flags: [{ name: "data-dir", kind: "string", def: "", usage: "Optional. If present, defragments a data directory not in use by etcd." }],
    run: async (cmd: Command) => {
      const dataDir = cmd.flag("data-dir").value as string;
      if (dataDir !== "") {
        io.err(`Failed to defragment etcd data[${dataDir}] (etcdctl-ts: offline defragmentation (--data-dir) is not supported; defragment the running member instead)\n`);
        throw new ExitError(ExitCode.Error, null);
      }
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      let failures = 0;
      try {
        for (const ep of await endpointsFromCluster(cmd, io, cfg)) {
          try {
            await c.maintenance.defragment(ep, commandTimeout(cmd));
            io.out(`Finished defragmenting etcd member[${ep}]\n`);
          } catch (e) {
            if (e instanceof ExitError) throw e;
            io.err(`Failed to defragment etcd member[${ep}] (${errorText(e)})\n`);
            failures++;
          }
        }
      } finally {
        c.close();
      }
      if (failures !== 0) throw new ExitError(ExitCode.Error, null);
    },
  };
}
