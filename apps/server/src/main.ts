import { ConfigError } from "./config/parse.js";
import { loadConfig, usage } from "./config/config.js";
import { Etcd } from "./embed.js";
import { gatewayMain } from "./gateway/command.js";
import { SERVER_VERSION } from "./etcd_server.js";
import { Logger } from "./log.js";
import { debugOptionsFromEnv, type DebugOptions } from "./debug_switches.js";
import { setupFailpoints } from "./failpoint.js";

/** ETCD_TS_VERSION is this program's own version. */
const ETCD_TS_VERSION = "0.1.0";

/**
 * main is the etcd-ts entry point: parse the configuration, start the member, stop it
 * gracefully on SIGTERM/SIGINT. A fatal storage error stops the process with exit code 1.
 * When the member stops by itself (it was removed from the cluster), the process closes its
 * listeners and exits with code 0, as etcd 3.4 does.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  // `etcd-ts gateway ...` is etcd's L4 gateway, a command of its own (as `etcd gateway`).
  if (argv[0] === "gateway") process.exit(await gatewayMain(argv.slice(1)));
  let loaded;
  try {
    loaded = loadConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`etcd-ts: ${err.message}\n`);
      if (err.exitCode === 2) process.stderr.write("Try 'etcd-ts --help' for the list of flags.\n");
      process.exit(err.exitCode);
    }
    throw err;
  }
  if (loaded.kind === "help") {
    process.stdout.write(usage());
    return;
  }
  if (loaded.kind === "version") {
    process.stdout.write(`etcd-ts Version: ${ETCD_TS_VERSION}\netcd API Version: ${SERVER_VERSION}\nNode Version: ${process.version}\nOS/Arch: ${process.platform}/${process.arch}\n`);
    return;
  }
  const cfg = loaded.config;
  const logger = new Logger(cfg.logLevel === "panic" || cfg.logLevel === "fatal" ? "error" : cfg.logLevel, cfg.logOutputs);
  for (const w of cfg.warnings) logger.warn(w);
  // Fault injection and debug switches for tests: nothing happens unless their variables are set.
  let debug: DebugOptions;
  try {
    await setupFailpoints(env, logger);
    debug = debugOptionsFromEnv(env);
  } catch (err) {
    logger.error("failed to start etcd-ts", { error: (err as Error)?.message ?? String(err) });
    process.exit(1);
  }

  let etcd: Etcd | undefined;
  let stopping = false;
  const fatal = (err: unknown): void => {
    logger.error("fatal error, stopping the member", { error: String((err as Error)?.stack ?? err) });
    process.exit(1);
  };
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info("received signal; shutting down", { signal });
    const done = etcd === undefined ? Promise.resolve() : etcd.stop();
    done.then(
      () => process.exit(0),
      (err: unknown) => fatal(err),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  try {
    etcd = await Etcd.start(cfg, logger, fatal, debug);
  } catch (err) {
    logger.error("failed to start etcd-ts", { error: (err as Error)?.message ?? String(err) });
    process.exit(1);
  }
  if (stopping) {
    await etcd.stop();
    return;
  }
  const started = etcd;
  void started.server.stopNotify().then(() => {
    if (stopping) return;
    stopping = true;
    started.stop().then(
      () => process.exit(0),
      (err: unknown) => fatal(err),
    );
  });
}
