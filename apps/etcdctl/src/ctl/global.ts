import { status as GrpcStatus } from "@grpc/grpc-js";
import { Client, ERR_AUTH_NOT_ENABLED, EtcdError, type CallOptions, type ClientOptions } from "@etcd-ts/client";
import type { Command } from "../cli/command.js";
import type { FlagDef } from "../cli/flags.js";
import { goQuote } from "../printer/goformat.js";
import { newPrinter, type Printer } from "../printer/printer.js";
import { errorText, logAttemptFailure } from "./grpcerr.js";
import { endpointsFromCmd } from "./discovery.js";
import { ExitCode, ExitError, exitWithError, type Io } from "./io.js";
import { askPassword } from "./password.js";
import { clientTLS, TLSConfigError, type SecureCfg } from "./tls.js";

const SECOND = 1e9;

/** MIN_KEEPALIVE_TIME_MS is grpc-go's floor for the client keepalive interval. */
const MIN_KEEPALIVE_TIME_MS = 10_000;

/** GLOBAL_FLAGS are etcdctl's persistent root flags with its defaults. */
export const GLOBAL_FLAGS: FlagDef[] = [
  { name: "endpoints", kind: "stringSlice", def: ["127.0.0.1:2379"], usage: "gRPC endpoints" },
  { name: "debug", kind: "bool", def: false, usage: "enable client-side debug logging" },
  {
    name: "write-out", shorthand: "w", kind: "string", def: "simple",
    usage: "set the output format (fields, json, protobuf, simple, table)",
  },
  { name: "hex", kind: "bool", def: false, usage: "print byte strings as hex encoded strings" },
  { name: "dial-timeout", kind: "duration", def: 2 * SECOND, usage: "dial timeout for client connections" },
  {
    name: "command-timeout", kind: "duration", def: 5 * SECOND,
    usage: "timeout for short running command (excluding dial timeout)",
  },
  { name: "keepalive-time", kind: "duration", def: 2 * SECOND, usage: "keepalive time for client connections" },
  { name: "keepalive-timeout", kind: "duration", def: 6 * SECOND, usage: "keepalive timeout for client connections" },
  { name: "insecure-transport", kind: "bool", def: true, usage: "disable transport security for client connections" },
  {
    name: "insecure-discovery", kind: "bool", def: true,
    usage: "accept insecure SRV records describing cluster endpoints",
  },
  {
    name: "insecure-skip-tls-verify", kind: "bool", def: false,
    usage: "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)",
  },
  { name: "cert", kind: "string", def: "", usage: "identify secure client using this TLS certificate file" },
  { name: "key", kind: "string", def: "", usage: "identify secure client using this TLS key file" },
  { name: "cacert", kind: "string", def: "", usage: "verify certificates of TLS-enabled secure servers using this CA bundle" },
  { name: "user", kind: "string", def: "", usage: "username[:password] for authentication (prompt if password is not supplied)" },
  {
    name: "password", kind: "string", def: "",
    usage: "password for authentication (if this option is used, --user option shouldn't include password)",
  },
  {
    name: "discovery-srv", shorthand: "d", kind: "string", def: "",
    usage: "domain name to query for SRV records describing cluster endpoints",
  },
  { name: "discovery-srv-name", kind: "string", def: "", usage: "service name to query when using DNS discovery" },
];

/** envKey is pkg/flags' FlagToEnv: "dial-timeout" -> "ETCDCTL_DIAL_TIMEOUT". */
export function envKey(flagName: string): string {
  return "ETCDCTL_" + flagName.replace(/-/g, "_").toUpperCase();
}

/** capnslogTime formats t as capnslog does ("2006-01-02 15:04:05.000000", local time). */
function capnslogTime(t: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return (
    `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}:` +
    `${p(t.getSeconds())}.${p(t.getMilliseconds() * 1000, 6)}`
  );
}

/**
 * applyEnv is pkg/flags.SetPflagsFromEnv over the command's inherited (global) flags: an
 * ETCDCTL_* variable sets its flag unless the flag was given, in which case etcdctl stops
 * with a "conflicting environment variable" error; unknown ETCDCTL_* variables are warned
 * about. Bad values are ignored, as etcdctl ignores them.
 */
export function applyEnv(cmd: Command, io: Io, discard: readonly string[] = []): void {
  const fs = cmd.inheritedFlags();
  const alreadySet = new Set<string>();
  const used = new Set<string>();
  const env = new Map(io.env);
  // Flags that only exist so their variables count as known (etcdctl's discardValue).
  for (const name of discard) if ((env.get(envKey(name)) ?? "") !== "") used.add(envKey(name));
  for (const f of fs.sorted()) {
    const key = envKey(f.name);
    if (f.changed) {
      alreadySet.add(key);
      continue;
    }
    const val = env.get(key) ?? "";
    if (val !== "") {
      used.add(key);
      try {
        f.set(val);
      } catch {
        // etcdctl drops the error of SetPflagsFromEnv.
      }
    }
  }
  for (const [k, v] of io.env) {
    if (used.has(k)) continue;
    if (alreadySet.has(k)) {
      io.err(
        `${capnslogTime(io.now())} C | pkg/flags: conflicting environment variable ${goQuote(k)} is shadowed by ` +
          "corresponding command-line flag (either unset environment variable or disable flag)\n",
      );
      throw new ExitError(ExitCode.Error, null);
    }
    if (k.startsWith("ETCDCTL_")) {
      io.err(`${capnslogTime(io.now())} W | pkg/flags: unrecognized environment variable ${k}=${v}\n`);
    }
  }
}

/** AuthCfg is what --user and --password resolve to (etcdctl's authCfg). */
export interface AuthCfg {
  username: string;
  password: string;
}

/** ClientConfig is what the global flags resolve to for a command that talks to etcd. */
export interface ClientConfig {
  endpoints: string[];
  dialTimeoutMs: number;
  commandTimeoutMs: number;
  keepAliveTimeMs: number;
  keepAliveTimeoutMs: number;
  secure: SecureCfg;
  /** auth is set when --user is given. */
  auth?: AuthCfg | undefined;
  printer: Printer;
}

const stringFlag = (cmd: Command, name: string): string => cmd.flag(name).value as string;
const boolFlag = (cmd: Command, name: string): boolean => cmd.flag(name).value as boolean;
const nsFlag = (cmd: Command, name: string): number => cmd.flag(name).value as number;

/** commandTimeout is the per-call deadline from --command-timeout. */
export function commandTimeout(cmd: Command): CallOptions {
  return { timeoutMs: nsFlag(cmd, "command-timeout") / 1e6 };
}

/** initDisplay picks the printer for -w/--hex (exit 4 on an unknown format). */
export function initDisplay(cmd: Command, io: Io): Printer {
  const p = newPrinter(stringFlag(cmd, "write-out"), boolFlag(cmd, "hex"), io);
  if (p === undefined) exitWithError(ExitCode.BadFeature, "unsupported output format");
  return p;
}

/**
 * secureCfg is etcdctl's secureCfgFromCmd (an empty --cert, --key or --cacert exits 128).
 * With --discovery-srv and --insecure-discovery=false the domain is the TLS server name.
 */
export function secureCfg(cmd: Command): SecureCfg {
  for (const name of ["cert", "key", "cacert"]) {
    const f = cmd.flag(name);
    if (f.changed && f.value === "") exitWithError(ExitCode.BadArgs, `empty string is passed to --${name} option`);
  }
  return {
    serverName: boolFlag(cmd, "insecure-discovery") ? "" : stringFlag(cmd, "discovery-srv"),
    cert: stringFlag(cmd, "cert"),
    key: stringFlag(cmd, "key"),
    cacert: stringFlag(cmd, "cacert"),
    insecureTransport: boolFlag(cmd, "insecure-transport"),
    insecureSkipVerify: boolFlag(cmd, "insecure-skip-tls-verify"),
  };
}

/**
 * authCfg is etcdctl's authCfgFromCmd: nothing without --user; else --user "name:password",
 * or --user name with --password. A name alone makes etcdctl ask for the password
 * ("Password: ", on stdin with echo off).
 */
export async function authCfg(cmd: Command, io: Io): Promise<AuthCfg | undefined> {
  const user = stringFlag(cmd, "user");
  const password = stringFlag(cmd, "password");
  if (user === "") return undefined;
  if (password !== "") return { username: user, password };
  const i = user.indexOf(":");
  if (i >= 0) return { username: user.slice(0, i), password: user.slice(i + 1) };
  try {
    return { username: user, password: await askPassword(io, "Password: ") };
  } catch (e) {
    if (e instanceof ExitError) throw e;
    return exitWithError(ExitCode.Error, (e as Error).message);
  }
}

/**
 * clientConfig is etcdctl's clientConfigFromCmd: apply ETCDCTL_* variables, print them with
 * --debug, resolve endpoints, timeouts and credentials (asking for a password), and pick the
 * printer.
 */
export async function clientConfig(
  cmd: Command,
  io: Io,
  opts: { discardEnvFlags?: readonly string[] } = {},
): Promise<ClientConfig> {
  const discard = opts.discardEnvFlags ?? [];
  applyEnv(cmd, io, discard);
  if (boolFlag(cmd, "debug")) {
    const lines = cmd.inheritedFlags().sorted().map((f) => [f.name, `${envKey(f.name)}=${f.toString()}`] as const);
    for (const name of discard) lines.push([name, `${envKey(name)}=`]);
    lines.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [, line] of lines) io.err(line + "\n");
  }
  const endpoints = await endpointsFromCmd(cmd, io);
  const secure = secureCfg(cmd);
  const auth = await authCfg(cmd, io);
  const printer = initDisplay(cmd, io);
  return {
    endpoints,
    dialTimeoutMs: nsFlag(cmd, "dial-timeout") / 1e6,
    commandTimeoutMs: nsFlag(cmd, "command-timeout") / 1e6,
    keepAliveTimeMs: nsFlag(cmd, "keepalive-time") / 1e6,
    keepAliveTimeoutMs: nsFlag(cmd, "keepalive-timeout") / 1e6,
    secure,
    auth,
    printer,
  };
}

/**
 * newClient connects like etcdctl's mustClient (newClientCfg + clientv3.New): TLS files that
 * cannot be used exit with tlsErrorCode (128, as mustClient does), bad endpoints exit 2.
 * With credentials it authenticates within the dial timeout, as clientv3.New does: a refusal
 * (or no answer) exits 2 after the Go client's warning; a server with authentication
 * disabled is only warned about. Otherwise it does not block, so an unreachable endpoint
 * surfaces as the command deadline passing.
 */
export async function newClient(
  io: Io,
  cfg: Omit<ClientConfig, "printer">,
  endpoints: string[] = cfg.endpoints,
  tlsErrorCode: number = ExitCode.BadArgs,
): Promise<Client> {
  const opts: ClientOptions = {
    endpoints,
    // clientv3 3.4 keeps trying to connect until the call's deadline.
    dialTimeoutMs: Math.max(cfg.dialTimeoutMs, cfg.commandTimeoutMs),
    // grpc-go raises keepalive pings to at least every 10s; faster ones make etcd close the connection.
    keepAliveTimeMs: Math.max(cfg.keepAliveTimeMs, MIN_KEEPALIVE_TIME_MS),
    keepAliveTimeoutMs: cfg.keepAliveTimeoutMs,
  };
  try {
    const tls = clientTLS(cfg.secure);
    if (tls !== undefined) opts.tls = tls;
  } catch (e) {
    if (e instanceof TLSConfigError) exitWithError(tlsErrorCode, e.message);
    throw e;
  }
  if (cfg.auth !== undefined) {
    opts.username = cfg.auth.username;
    opts.password = cfg.auth.password;
  }
  let c: Client;
  try {
    c = new Client(opts);
  } catch (e) {
    return exitWithError(ExitCode.BadConnection, (e as Error).message);
  }
  const target = { kind: "balanced", firstEndpoint: endpoints[0] ?? "" } as const;
  try {
    const state = await c.authenticate({ timeoutMs: cfg.dialTimeoutMs });
    if (state === "disabled") {
      logAttemptFailure(io, target, new EtcdError(GrpcStatus.FAILED_PRECONDITION, ERR_AUTH_NOT_ENABLED, false));
    }
  } catch (e) {
    c.close();
    logAttemptFailure(io, target, e);
    return exitWithError(ExitCode.BadConnection, errorText(e));
  }
  return c;
}
