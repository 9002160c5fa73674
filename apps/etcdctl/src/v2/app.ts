
import { discoverEndpoints } from "../ctl/discovery.js";
import type { Io } from "../ctl/io.js";
import { askPassword } from "../ctl/password.js";
import { ERR_NO_ENDPOINTS, ClusterError, V2Client } from "./client.js";
import { HELP_FLAG, UsageError, align, flagHelp, parseFlags, type CommandDef, type Context, type FlagDef, type Parsed } from "./cli.js";
import { V2Exit, V2Exited, handleError, v2Commands, type Env } from "./commands.js";

/** VERSION is the etcd version etcdctl-ts speaks for. */
const VERSION = "3.4.23";

/** GLOBAL_FLAGS are etcdctl 3.4's v2 global options. */
const GLOBAL_FLAGS: FlagDef[] = [
  { names: ["debug"], kind: "bool", usage: "output cURL commands which can be used to reproduce the request" },
  { names: ["no-sync"], kind: "bool", usage: "don't synchronize cluster information before sending request" },
  { names: ["output", "o"], kind: "string", def: "simple", usage: "output response in the given format (`simple`, `extended` or `json`)" },
  { names: ["discovery-srv", "D"], kind: "string", usage: "domain name to query for SRV records describing cluster endpoints" },
  { names: ["insecure-discovery"], kind: "bool", usage: "accept insecure SRV records describing cluster endpoints" },
  { names: ["peers", "C"], kind: "string", usage: 'DEPRECATED - "--endpoints" should be used instead' },
  { names: ["endpoint"], kind: "string", usage: 'DEPRECATED - "--endpoints" should be used instead' },
  { names: ["endpoints"], kind: "string", usage: 'a comma-delimited list of machine addresses in the cluster (default: "http://127.0.0.1:2379,http://127.0.0.1:4001")' },
  { names: ["cert-file"], kind: "string", usage: "identify HTTPS client using this SSL certificate file" },
  { names: ["key-file"], kind: "string", usage: "identify HTTPS client using this SSL key file" },
  { names: ["ca-file"], kind: "string", usage: "verify certificates of HTTPS-enabled servers using this CA bundle" },
  { names: ["username", "u"], kind: "string", usage: "provide username[:password] and prompt if password is not supplied." },
  { names: ["timeout"], kind: "duration", def: "2s", usage: "connection timeout per request" },
  { names: ["total-timeout"], kind: "duration", def: "5s", usage: "timeout for the command execution (except watch)" },
];

const VERSION_FLAG: FlagDef = { names: ["version", "v"], kind: "bool", usage: "print the version" };

/**
 * mainV2 is etcdctl 3.4 with ETCDCTL_API=2 (ctlv2 on urfave/cli v1): global options, then a
 * command with its options (allowed after its arguments) and arguments. It returns the exit
 * code: 0, 1 for bad arguments or usage, 2 when no endpoint could be reached, 3 for an unknown
 * command, 4 for a server error, 5 for an unhealthy cluster (cluster-health).
 */
export async function mainV2(argv: string[], io: Io): Promise<number> {
  const env = makeEnv(io);
  const commands = v2Commands(env);
  const app: CommandDef = { name: "etcdctl", usage: "A simple command line client for etcd.", subcommands: commands };
  let global: Parsed;
  try {
    global = parseFlags([...GLOBAL_FLAGS, HELP_FLAG, VERSION_FLAG], argv, false);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.out(`Incorrect Usage. ${err.message}\n\n${appHelp(commands)}`);
    io.err(`${err.message}\n`);
    return 1;
  }
  if (global.values.get("help") === true) {
    io.out(appHelp(commands));
    return 0;
  }
  if (global.values.get("version") === true) {
    io.out(`etcdctl version: ${VERSION}\nAPI version: 2\n`);
    return 0;
  }
  try {
    await dispatch(env, app, commands, global, global.args, ["etcdctl"]);
    return 0;
  } catch (err) {
    if (err instanceof V2Exited) return err.code;
    io.err(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** dispatch finds the command named by args[0] among cmds and runs it (or its subcommand, or help). */
async function dispatch(env: Env, parent: CommandDef, cmds: CommandDef[], global: Parsed, args: string[], path: string[]): Promise<void> {
  const io = env.io;
  const name = args[0];
  if (name === undefined) {
    io.out(path.length === 1 ? appHelp(cmds) : subcommandHelp(parent, path));
    return;
  }
  if (name === "help" || name === "h") {
    const topic = args[1];
    if (topic === undefined) {
      io.out(path.length === 1 ? appHelp(cmds) : subcommandHelp(parent, path));
      return;
    }
    const c = cmds.find((x) => x.name === topic || (x.aliases ?? []).includes(topic));
    if (c === undefined) {
      io.err(`No help topic for '${topic}'\n`);
      throw new V2Exited(3);
    }
    io.out(commandHelp(c, [...path, c.name]));
    return;
  }
  const cmd = cmds.find((x) => x.name === name || (x.aliases ?? []).includes(name));
  if (cmd === undefined) {
    io.err(`No help topic for '${name}'\n`);
    throw new V2Exited(3);
  }
  const here = [...path, cmd.name];
  if (cmd.subcommands !== undefined) {
    const sub = parseOrUsage(env, cmd, [HELP_FLAG], args.slice(1), here, false);
    if (sub.values.get("help") === true) {
      io.out(subcommandHelp(cmd, here));
      return;
    }
    await dispatch(env, cmd, cmd.subcommands, global, sub.args, here);
    return;
  }
  const parsed = parseOrUsage(env, cmd, [...(cmd.flags ?? []), HELP_FLAG], args.slice(1), here, true);
  if (parsed.values.get("help") === true) {
    io.out(commandHelp(cmd, here));
    return;
  }
  const ctx: Context = {
    args: parsed.args,
    flag: (n) => parsed.values.get(n) ?? false,
    global: (n) => global.values.get(n) ?? false,
    isSet: (n) => parsed.set.has(n),
  };
  await cmd.action?.(ctx);
}

function parseOrUsage(env: Env, cmd: CommandDef, flags: FlagDef[], args: string[], path: string[], reorder: boolean): Parsed {
  try {
    return parseFlags(flags, args, reorder);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    env.io.out(`Incorrect Usage: ${err.message}\n\n${cmd.subcommands !== undefined ? subcommandHelp(cmd, path) : commandHelp(cmd, path)}`);
    env.io.err(`${err.message}\n`);
    throw new V2Exited(1);
  }
}

// ---- help, as urfave/cli v1's templates render it ----

function appHelp(cmds: CommandDef[]): string {
  const commands = align([...cmds.map((c) => `${[c.name, ...(c.aliases ?? [])].join(", ")}\t${c.usage}`), "help, h\tShows a list of commands or help for one command"]);
  const flags = align([...GLOBAL_FLAGS, HELP_FLAG, VERSION_FLAG].map(flagHelp));
  return [
    "NAME:",
    "   etcdctl - A simple command line client for etcd.",
    "",
    "USAGE:",
    "   etcdctl [global options] command [command options] [arguments...]",
    "",
    "VERSION:",
    `   ${VERSION}`,
    "",
    "COMMANDS:",
    ...commands.map((l) => `   ${l}`),
    "",
    "GLOBAL OPTIONS:",
    ...flags.map((l) => `   ${l}`),
    "",
  ].join("\n");
}

function commandHelp(c: CommandDef, path: string[]): string {
  const flags = c.flags ?? [];
  const lines = ["NAME:", `   ${path.join(" ")} - ${c.usage}`, "", "USAGE:", `   ${path.join(" ")}${flags.length > 0 ? " [command options]" : ""} ${c.argsUsage ?? "[arguments...]"}`];
  if (c.description !== undefined) lines.push("", "DESCRIPTION:", `   ${c.description}`);
  if (flags.length > 0) lines.push("", "OPTIONS:", ...align(flags.map(flagHelp)).map((l) => `   ${l}`), "   ");
  return `${lines.join("\n")}\n`;
}

function subcommandHelp(c: CommandDef, path: string[]): string {
  const subs = align([...(c.subcommands ?? []).map((s) => `${s.name}\t${s.usage}`)]);
  return [
    "NAME:",
    `   ${path.join(" ")} - ${c.description ?? c.usage}`,
    "",
    "USAGE:",
    `   ${path.join(" ")} command [command options] ${c.argsUsage ?? "[arguments...]"}`,
    "",
    "COMMANDS:",
    ...subs.map((l) => `   ${l}`),
    "",
    "OPTIONS:",
    ...align([flagHelp(HELP_FLAG)]).map((l) => `   ${l}`),
    "   ",
    "",
  ].join("\n");
}

// ---- the environment: endpoints, TLS, credentials ----

function makeEnv(io: Io): Env {
  const getenv = (k: string): string => io.env.find(([n]) => n === k)?.[1] ?? "";
  const env: Env = {
    io,
    output: (ctx) => ctx.global("output") as string,
    totalTimeout: (ctx) => AbortSignal.timeout(ctx.global("total-timeout") as number),
    stdinAll: async () => (await io.stdin.readAll()).toString(),
    client: async (ctx, sync) => {
      const str = (n: string): string => ctx.global(n) as string;
      let endpoints: string[] = [];
      const domain = str("discovery-srv") || getenv("ETCDCTL_DISCOVERY_SRV");
      const insecure = ctx.global("insecure-discovery") === true || getenv("ETCDCTL_INSECURE_DISCOVERY") !== "";
      if (domain !== "") {
        try {
          endpoints = await discoverEndpoints(domain, getenv("ETCDCTL_DISCOVERY_SRV_NAME"));
        } catch (err) {
          io.err(`${(err as Error).message}\n`);
          throw new V2Exited(1);
        }
        if (!insecure) {
          endpoints = endpoints.filter((ep) => {
            if (!ep.startsWith("http://")) return true;
            io.err(`ignoring discovered insecure endpoint ${JSON.stringify(ep)}\n`);
            return false;
          });
        }
      }
      if (endpoints.length === 0) {
        const peers =
          str("endpoints") || getenv("ETCDCTL_ENDPOINTS") || str("endpoint") || getenv("ETCDCTL_ENDPOINT") || str("peers") || getenv("ETCDCTL_PEERS") || "http://127.0.0.1:2379,http://127.0.0.1:4001";
        endpoints = peers.split(",");
      }
      endpoints = endpoints.map((e) => (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(e) ? e : `http://${e}`));
      let username: string | undefined;
      let password: string | undefined;
      const u = str("username") || getenv("ETCDCTL_USERNAME");
      if (u !== "") {
        const colon = u.indexOf(":");
        if (colon < 0) {
          username = u;
          password = await askPassword(io, "Password: ");
        } else {
          username = u.slice(0, colon);
          password = u.slice(colon + 1);
        }
      }
      const c = new V2Client({
        endpoints: shuffle(endpoints),
        headerTimeoutMs: ctx.global("timeout") as number,
        ...(str("ca-file") || getenv("ETCDCTL_CA_FILE") ? { caFile: str("ca-file") || getenv("ETCDCTL_CA_FILE") } : {}),
        ...(str("cert-file") || getenv("ETCDCTL_CERT_FILE") ? { certFile: str("cert-file") || getenv("ETCDCTL_CERT_FILE") } : {}),
        ...(str("key-file") || getenv("ETCDCTL_KEY_FILE") ? { keyFile: str("key-file") || getenv("ETCDCTL_KEY_FILE") } : {}),
        ...(domain !== "" && !insecure ? { serverName: domain } : {}),
        ...(username !== undefined ? { username, password: password ?? "" } : {}),
      });
      if (sync && ctx.global("no-sync") !== true) {
        try {
          await c.sync(env.totalTimeout(ctx));
        } catch (err) {
          if ((err as Error).message === ERR_NO_ENDPOINTS) {
            io.err("etcd cluster has no published client endpoints.\n");
            io.err(`Try '--no-sync' if you want to access non-published client endpoints(${c.endpointList.join(",")}).\n`);
            handleError(env, ctx, V2Exit.ServerError, err);
          }
          if (err instanceof ClusterError && err.connection) handleError(env, ctx, V2Exit.BadConnection, err);
        }
      }
      return c;
    },
  };
  return env;
}

/** shuffle orders the endpoints at random, as the Go client's default selection mode does. */
function shuffle(a: string[]): string[] {
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as string, out[i] as string];
  }
  return out;
}


