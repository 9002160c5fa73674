import type { etcdserverpb } from "@etcd-ts/proto";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, newClient } from "../ctl/global.js";
import { errorText, logAttemptFailure } from "../ctl/grpcerr.js";
import { parseHexID } from "../ctl/hexid.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { callFailed } from "./kv.js";

/**
 * moveLeaderCommand is `etcdctl move-leader`: ask each endpoint for its status, in order,
 * until one is the leader (any failure ends the command), then send MoveLeader to it. One
 * --command-timeout covers the whole search and the transfer, as in etcdctl.
 */
export function moveLeaderCommand(io: Io): CommandSpec {
  return {
    use: "move-leader <transferee-member-id>",
    short: "Transfers leadership to another etcd cluster member.",
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 1) exitWithError(ExitCode.BadArgs, "move-leader command needs 1 argument");
      let target: bigint;
      try {
        target = parseHexID(args[0] as string);
      } catch (e) {
        return exitWithError(ExitCode.BadArgs, (e as Error).message);
      }
      const cfg = await clientConfig(cmd, io);
      (await newClient(io, cfg)).close();
      const deadline = Date.now() + cfg.commandTimeoutMs;
      const left = (): { timeoutMs: number } => ({ timeoutMs: Math.max(deadline - Date.now(), 1) });
      let leaderEp: string | undefined;
      let leaderID = 0n;
      for (const ep of cfg.endpoints) {
        const c = await newClient(io, cfg, [ep]);
        let st: etcdserverpb.StatusResponse;
        try {
          st = await c.status(ep, left());
        } catch (e) {
          if (e instanceof ExitError) throw e;
          logAttemptFailure(io, { kind: "direct", endpoint: ep }, e);
          return exitWithError(ExitCode.Error, errorText(e));
        } finally {
          c.close();
        }
        if (st.header?.memberId === st.leader) {
          leaderEp = ep;
          leaderID = st.leader;
          break;
        }
      }
      if (leaderEp === undefined) {
        return exitWithError(ExitCode.BadArgs, `no leader endpoint given at [${cfg.endpoints.join(" ")}]`);
      }
      const c = await newClient(io, cfg, [leaderEp]);
      try {
        const resp = await c.maintenance
          .moveLeader(target, left(), leaderEp)
          .catch((e: unknown) => callFailed(io, [leaderEp], e));
        cfg.printer.moveLeader(leaderID, target, resp);
      } finally {
        c.close();
      }
    },
  };
}
