import type { Command, CommandSpec } from "../cli/command.js";
import { applyEnv, authCfg, clientConfig, commandTimeout, initDisplay, newClient, secureCfg, type ClientConfig } from "../ctl/global.js";
import { endpointsFromCmd } from "../ctl/discovery.js";
import { errorText, logAttemptFailure } from "../ctl/grpcerr.js";
import { ExitCode, ExitError, exitWithError, type Io } from "../ctl/io.js";
import { formatDuration } from "../printer/goformat.js";
import type { EpHashKV, EpHealth, EpStatus } from "../printer/printer.js";

/**
 * endpointsFromCluster is the endpoint list: --endpoints as given (etcdctl ignores DNS
 * discovery here), or with --cluster the client URLs of the members listed by the endpoints
 * it finds (--discovery-srv, else --endpoints).
 */
export async function endpointsFromCluster(cmd: Command, io: Io, cfg: ClientConfig): Promise<string[]> {
  if (cmd.flag("cluster").value !== true) return cmd.flag("endpoints").value as string[];
  const eps = await endpointsFromCmd(cmd, io);
  // As etcdctl: without credentials (MemberList needs none, so no password is asked for).
  const c = await newClient(io, { ...cfg, auth: undefined }, eps, ExitCode.Error);
  try {
    const m = await c.memberList(commandTimeout(cmd)).catch((e: unknown) => {
      logAttemptFailure(io, { kind: "balanced", firstEndpoint: eps[0] ?? "" }, e);
      return exitWithError(ExitCode.Error, `failed to fetch endpoints from etcd cluster member list: ${errorText(e)}`);
    });
    return m.members.flatMap((x) => x.clientURLs);
  } finally {
    c.close();
  }
}

function statusCommand(io: Io): CommandSpec {
  return {
    use: "status",
    short: "Prints out the status of endpoints specified in `--endpoints` flag",
    long: `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.
`,
    run: async (cmd: Command) => {
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      const list: EpStatus[] = [];
      let failed = false;
      try {
        for (const ep of await endpointsFromCluster(cmd, io, cfg)) {
          try {
            list.push({ ep, resp: await c.status(ep, commandTimeout(cmd)) });
          } catch (e) {
            if (e instanceof ExitError) throw e;
            failed = true;
            logAttemptFailure(io, { kind: "direct", endpoint: ep }, e);
            io.err(`Failed to get the status of endpoint ${ep} (${errorText(e)})\n`);
          }
        }
      } finally {
        c.close();
      }
      cfg.printer.endpointStatus(list);
      if (failed) throw new ExitError(ExitCode.Error, null);
    },
  };
}

function hashKVCommand(io: Io): CommandSpec {
  return {
    use: "hashkv",
    short: "Prints the KV history hash for each endpoint in --endpoints",
    persistentFlags: [
      { name: "rev", kind: "int64", def: 0n, usage: "maximum revision to hash (default: all revisions)" },
    ],
    run: async (cmd: Command) => {
      const cfg = await clientConfig(cmd, io);
      const c = await newClient(io, cfg);
      const list: EpHashKV[] = [];
      let lastErr: unknown;
      try {
        for (const ep of await endpointsFromCluster(cmd, io, cfg)) {
          try {
            list.push({ ep, resp: await c.hashKV(ep, cmd.flag("rev").value as bigint, commandTimeout(cmd)) });
          } catch (e) {
            if (e instanceof ExitError) throw e;
            lastErr = e;
            logAttemptFailure(io, { kind: "direct", endpoint: ep }, e);
            io.err(`Failed to get the hash of endpoint ${ep} (${errorText(e)})\n`);
          }
        }
      } finally {
        c.close();
      }
      cfg.printer.endpointHashKV(list);
      if (lastErr !== undefined) exitWithError(ExitCode.Error, errorText(lastErr));
    },
  };
}

function healthCommand(io: Io): CommandSpec {
  return {
    use: "health",
    short: "Checks the healthiness of endpoints specified in `--endpoints` flag",
    run: async (cmd: Command) => {
      applyEnv(cmd, io);
      const printer = initDisplay(cmd, io);
      const secure = secureCfg(cmd);
      const auth = await authCfg(cmd, io);
      const base: ClientConfig = {
        endpoints: cmd.flag("endpoints").value as string[],
        dialTimeoutMs: (cmd.flag("dial-timeout").value as number) / 1e6,
        commandTimeoutMs: (cmd.flag("command-timeout").value as number) / 1e6,
        keepAliveTimeMs: (cmd.flag("keepalive-time").value as number) / 1e6,
        keepAliveTimeoutMs: (cmd.flag("keepalive-timeout").value as number) / 1e6,
        secure,
        auth,
        printer,
      };
      const eps = await endpointsFromCluster(cmd, io, base);
      // etcdctl builds every endpoint's config (loading the TLS files) before dialing any.
      if (eps.length > 0) (await newClient(io, { ...base, auth: undefined }, eps)).close();
      const results: EpHealth[] = [];
      await Promise.all(
        eps.map(async (ep) => {
          let c;
          try {
            c = await newClient(io, base, [ep]);
          } catch (e) {
            results.push({ ep, health: false, took: "", error: e instanceof ExitError ? e.message : String(e) });
            return;
          }
          const start = process.hrtime.bigint();
          try {
            await c.range({ key: Buffer.from("health") }, commandTimeout(cmd));
            results.push({ ep, health: true, took: formatDuration(process.hrtime.bigint() - start), error: "" });
          } catch (e) {
            const took = formatDuration(process.hrtime.bigint() - start);
            logAttemptFailure(io, { kind: "balanced", firstEndpoint: ep }, e);
            const text = errorText(e);
            // permission denied still proves the request went through consensus
            if (text === "etcdserver: permission denied") results.push({ ep, health: true, took, error: "" });
            else results.push({ ep, health: false, took, error: text });
          } finally {
            c.close();
          }
        }),
      );
      printer.endpointHealth(results);
      if (results.some((h) => h.error !== "")) exitWithError(ExitCode.Error, "unhealthy cluster");
    },
  };
}

export function endpointCommand(io: Io): CommandSpec {
  return {
    use: "endpoint <subcommand>",
    short: "Endpoint related commands",
    persistentFlags: [
      { name: "cluster", kind: "bool", def: false, usage: "use all endpoints from the cluster member list" },
    ],
    children: [healthCommand(io), statusCommand(io), hashKVCommand(io)],
  };
}
