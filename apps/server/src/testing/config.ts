import { loadConfig, type ServerConfig } from "../config/config.js";
import { ConfigError } from "../config/parse.js";

/** runConfig loads a configuration that must be one to run with. */
export function runConfig(argv: string[], env: NodeJS.ProcessEnv = {}): ServerConfig {
  const r = loadConfig(argv, env);
  if (r.kind !== "run") throw new Error(`expected run, got ${r.kind}`);
  return r.config;
}

/** configFails returns the ConfigError loading argv/env must end with. */
export function configFails(argv: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${argv.join(" ")}`);
}
