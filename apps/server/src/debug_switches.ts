/**
 * Debug-only switches that make a member deliberately wrong, so the robustness suite can prove
 * its checkers catch the fault (off by default; refused with NODE_ENV=production), and hooks that
 * replace the network in tests.
 */

import type { DiscoverHooks } from "./discovery/initial_cluster.js";

/** DebugOptions are the switches a member is started with (all off when absent). */
export interface DebugOptions {
  /**
   * unsafeStaleReads serves linearizable KV reads (Range without serializable, read-only Txn)
   * from local state without a ReadIndex, exactly like serializable reads: they may be stale.
   */
  unsafeStaleReads?: boolean;
  /** discovery replaces DNS lookups and stops discovery's waits (tests of --discovery-srv and --discovery). */
  discovery?: DiscoverHooks;
}

/** ENV_UNSAFE_STALE_READS turns unsafeStaleReads on ("1" or "true"). */
export const ENV_UNSAFE_STALE_READS = "ETCD_TS_UNSAFE_STALE_READS";

/** UNSAFE_STALE_READS_MESSAGE is logged at error level at start and then every UNSAFE_WARNING_INTERVAL_MS. */
export const UNSAFE_STALE_READS_MESSAGE = `UNSAFE: ${ENV_UNSAFE_STALE_READS} is set; linearizable reads are served from local state and may be stale`;

export const UNSAFE_WARNING_INTERVAL_MS = 60_000;

/** DebugSwitchError is a switch that must not be used as configured (the process exits with code 1). */
export class DebugSwitchError extends Error {
  override name = "DebugSwitchError";
}

/** refuseInProduction throws when NODE_ENV=production: a deliberately wrong member must never serve real users. */
export function refuseInProduction(env: NodeJS.ProcessEnv): void {
  if (env["NODE_ENV"] === "production") {
    throw new DebugSwitchError(`${ENV_UNSAFE_STALE_READS} is refused with NODE_ENV=production: it serves stale reads and exists only for fault-injection tests`);
  }
}

/**
 * debugOptionsFromEnv reads ETCD_TS_UNSAFE_STALE_READS: unset, "", "0" or "false" is off;
 * "1" or "true" is on (refused with NODE_ENV=production); anything else is an error.
 */
export function debugOptionsFromEnv(env: NodeJS.ProcessEnv): DebugOptions {
  const v = (env[ENV_UNSAFE_STALE_READS] ?? "").trim().toLowerCase();
  if (v === "" || v === "0" || v === "false") return {};
  if (v !== "1" && v !== "true") {
    throw new DebugSwitchError(`${ENV_UNSAFE_STALE_READS}=${JSON.stringify(env[ENV_UNSAFE_STALE_READS])}: want 1 (on) or 0 (off)`);
  }
  refuseInProduction(env);
  return { unsafeStaleReads: true };
}
