import { etcdserverpb } from "@etcd-ts/proto";
import type { Command, CommandSpec } from "../cli/command.js";
import { clientConfig, commandTimeout, newClient } from "../ctl/global.js";
import { ExitCode, exitWithError, type Io } from "../ctl/io.js";
import { callFailed } from "./kv.js";

const Action = etcdserverpb.AlarmRequest_AlarmAction;

/**
 * alarmCommand is `etcdctl alarm`: `list` prints the cluster's alarms, `disarm` disarms
 * every alarm (AlarmRequest DEACTIVATE for member 0 and NONE, as etcdctl's empty AlarmMember)
 * and prints the alarms it disarmed.
 */
export function alarmCommand(io: Io): CommandSpec {
  const sub = (use: string, short: string, action: etcdserverpb.AlarmRequest_AlarmAction): CommandSpec => ({
    use,
    short,
    run: async (cmd: Command, args: string[]) => {
      if (args.length !== 0) exitWithError(ExitCode.BadArgs, `alarm ${use} command accepts no arguments`);
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      try {
        const resp = await c.maintenance.alarm(action, 0n, etcdserverpb.AlarmType.NONE, commandTimeout(cmd)).catch((e: unknown) => callFailed(io, cfg.endpoints, e));
        cfg.printer.alarm(resp);
      } finally {
        c.close();
      }
    },
  });
  return {
    use: "alarm <subcommand>",
    short: "Alarm related commands",
    children: [sub("disarm", "Disarms all alarms", Action.DEACTIVATE), sub("list", "Lists all alarms", Action.GET)],
  };
}
