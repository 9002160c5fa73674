import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { parseCors } from "./access.js";
import { FLAG_BY_NAME, type FlagSpec } from "./flags.js";

/** ConfigError is a configuration mistake; main prints its message and exits with `exitCode`. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/** RawConfig holds flag values as text, keyed by flag name, plus where each came from. */
export interface RawConfig {
  values: Map<string, string>;
  source: Map<string, "flag" | "env" | "config-file">;
  showVersion: boolean;
  showHelp: boolean;
  configFile: string | undefined;
  /** warnings are printed through the logger once it exists (etcd logs them too). */
  warnings: string[];
}

/**
 * parseArgs reads Go-flag-style arguments: `-name v`, `--name v`, `--name=v`, and booleans as
 * `--flag` or `--flag=true|false`. Positional arguments are refused, like etcd does.
 */
export function parseArgs(argv: readonly string[]): RawConfig {
  const raw: RawConfig = {
    values: new Map(),
    source: new Map(),
    showVersion: false,
    showHelp: false,
    configFile: undefined,
    warnings: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      if (i + 1 < argv.length) throw new ConfigError(`'${argv[i + 1]}' is not a valid flag`, 2);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") throw new ConfigError(`'${arg}' is not a valid flag`, 2);
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (name === "h" || name === "help") {
      raw.showHelp = true;
      continue;
    }
    if (name === "version") {
      raw.showVersion = value === undefined ? true : parseBool("version", value);
      continue;
    }
    const spec = name === "config-file" ? undefined : FLAG_BY_NAME.get(name);
    if (name !== "config-file" && spec === undefined) {
      throw new ConfigError(`flag provided but not defined: -${name}`, 2);
    }
    if (value === undefined) {
      if (spec?.type === "bool") {
        value = "true";
      } else {
        const next = argv[i + 1];
        if (next === undefined) throw new ConfigError(`flag needs an argument: -${name}`, 2);
        value = next;
        i++;
      }
    }
    if (name === "config-file") {
      raw.configFile = value;
      continue;
    }
    checkValue(spec as FlagSpec, value);
    raw.values.set(name, value);
    raw.source.set(name, "flag");
  }
  return raw;
}

/**
 * applyEnv adds ETCD_* variables for flags not given on the command line. A variable that
 * shadows a command-line flag is an error, as in etcd 3.4; an empty variable is otherwise
 * ignored, as etcd ignores it; an ETCD_* variable that names no flag is reported as a warning,
 * except etcd-ts's own ETCD_TS_* testing switches (failpoints, the planted stale reads).
 */
export function applyEnv(raw: RawConfig, env: NodeJS.ProcessEnv): void {
  for (const [key, value] of Object.entries(env)) {
    // ETCD_TS_* are etcd-ts's own testing switches (failpoints, ...), read where they act.
    if (!key.startsWith("ETCD_") || key.startsWith("ETCD_TS_") || value === undefined) continue;
    const name = key.slice(5).toLowerCase().replace(/_/g, "-");
    if (name === "config-file") {
      if (raw.configFile === undefined) raw.configFile = value;
      continue;
    }
    if (name === "version") {
      if (!raw.showVersion) raw.showVersion = parseBool("version", value);
      continue;
    }
    const spec = FLAG_BY_NAME.get(name);
    if (spec === undefined) {
      // ETCDCTL_* and similar share the prefix; etcd warns about what it does not know.
      raw.warnings.push(`unrecognized environment variable ${key}=${value}`);
      continue;
    }
    if (raw.source.get(name) === "flag") {
      throw new ConfigError(
        `conflicting environment variable "${key}" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
      );
    }
    if (value === "") continue;
    checkValue(spec, value, key);
    raw.values.set(name, value);
    raw.source.set(name, "env");
  }
}

/**
 * applyConfigFile replaces flag and environment values with the YAML file's, as etcd does:
 * when a config file is given, it is the whole configuration.
 */
export function applyConfigFile(raw: RawConfig, path: string): void {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`error verifying flags, cannot load config file ${path}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`config file ${path}: expected a YAML mapping of flag names to values`);
  }
  raw.values.clear();
  raw.source.clear();
  for (const [name, v] of Object.entries(flattenSecurity(doc as Record<string, unknown>, path))) {
    const spec = FLAG_BY_NAME.get(name);
    if (spec === undefined) throw new ConfigError(`config file ${path}: unknown field "${name}"`);
    if (v === null || v === undefined) continue;
    const text = Array.isArray(v) ? v.map(String).join(",") : String(v);
    // etcd reads these two from the file only when they are not empty.
    if (text === "" && (name === "cors" || name === "host-whitelist")) continue;
    checkValue(spec, text, `${path}: ${name}`);
    raw.values.set(name, text);
    raw.source.set(name, "config-file");
  }
}

/** SECURITY_FIELDS maps the fields of etcd's YAML `client-transport-security` / `peer-transport-security` blocks to flag names. */
const SECURITY_FIELDS: Record<"client-transport-security" | "peer-transport-security", Record<string, string>> = {
  "client-transport-security": {
    "cert-file": "cert-file",
    "key-file": "key-file",
    "client-cert-auth": "client-cert-auth",
    "trusted-ca-file": "trusted-ca-file",
    "auto-tls": "auto-tls",
  },
  "peer-transport-security": {
    "cert-file": "peer-cert-file",
    "key-file": "peer-key-file",
    "client-cert-auth": "peer-client-cert-auth",
    "trusted-ca-file": "peer-trusted-ca-file",
    "auto-tls": "peer-auto-tls",
  },
};

/**
 * flattenSecurity turns etcd's nested config-file blocks (`client-transport-security:` and
 * `peer-transport-security:` with cert-file, key-file, client-cert-auth, trusted-ca-file,
 * auto-tls) into flag-named keys; every other key is kept as it is.
 */
function flattenSecurity(doc: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(doc)) {
    if (name !== "client-transport-security" && name !== "peer-transport-security") {
      out[name] = v;
      continue;
    }
    if (v === null || v === undefined) continue;
    if (typeof v !== "object" || Array.isArray(v)) throw new ConfigError(`config file ${path}: ${name} must be a mapping`);
    const fields = SECURITY_FIELDS[name];
    for (const [field, fv] of Object.entries(v as Record<string, unknown>)) {
      const flag = fields[field];
      if (flag === undefined) throw new ConfigError(`config file ${path}: unknown field "${name}.${field}"`);
      out[flag] = fv;
    }
  }
  return out;
}

function checkValue(spec: FlagSpec, value: string, where?: string): void {
  const label = where ?? `-${spec.name}`;
  switch (spec.type) {
    case "uint":
      if (!/^\d+$/.test(value)) throw new ConfigError(`invalid value "${value}" for flag ${label}: parse error`, 2);
      break;
    case "int":
      if (!/^-?\d+$/.test(value)) throw new ConfigError(`invalid value "${value}" for flag ${label}: parse error`, 2);
      break;
    case "bool":
      parseBool(label, value);
      break;
    case "duration":
      parseDurationMs(value, label);
      break;
    case "origins":
      try {
        parseCors(value);
      } catch (err) {
        throw new ConfigError(`invalid value "${value}" for flag ${label}: ${(err as Error).message}`, 2);
      }
      break;
    default:
      break;
  }
}

/** parseBool accepts Go's strconv.ParseBool spellings. */
export function parseBool(label: string, value: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw new ConfigError(`invalid boolean value "${value}" for -${label.replace(/^-/, "")}: parse error`, 2);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** parseDurationMs parses a Go duration ("1h2m3.5s", "100ms", "0") into milliseconds. */
export function parseDurationMs(value: string, label = "duration"): number {
  if (value === "0" || value === "") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let sign = 1;
  let text = value;
  if (text.startsWith("-") || text.startsWith("+")) {
    sign = text.startsWith("-") ? -1 : 1;
    text = text.slice(1);
  }
  re.lastIndex = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) throw new ConfigError(`invalid value "${value}" for flag ${label}: parse error`, 2);
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number);
    pos = re.lastIndex;
  }
  if (text.length === 0) throw new ConfigError(`invalid value "${value}" for flag ${label}: parse error`, 2);
  return sign * total;
}
