import { parseGoDuration } from "./go_duration.js";

/**
 * retention.ts reads --auto-compaction-mode and --auto-compaction-retention as etcd 3.4 does
 * (embed/config.go's Validate and embed/etcd.go's parseCompactionRetention).
 */

/** MODE_PERIODIC keeps the history of the last retention period (a duration). */
export const MODE_PERIODIC = "periodic";

/** MODE_REVISION keeps the last retention revisions. */
export const MODE_REVISION = "revision";

/** CompactorMode is an --auto-compaction-mode a compactor runs in. */
export type CompactorMode = typeof MODE_PERIODIC | typeof MODE_REVISION;

/**
 * checkCompactionMode is etcd's flag check of --auto-compaction-mode: "periodic", "revision"
 * or "" (only a zero retention runs with ""); anything else throws
 * `unknown auto-compaction-mode "x"`.
 */
export function checkCompactionMode(mode: string): void {
  if (mode !== "" && mode !== MODE_PERIODIC && mode !== MODE_REVISION) {
    throw new Error(`unknown auto-compaction-mode ${JSON.stringify(mode)}`);
  }
}

/** INT64_MAX bounds strconv.Atoi's result on a 64-bit platform. */
const INT64_MAX = (1n << 63n) - 1n;

/** HOUR_NS is one hour in nanoseconds. */
const HOUR_NS = 3_600_000_000_000n;

/**
 * parseCompactionRetention is etcd's parseCompactionRetention. It returns the retention as
 * etcd's ServerConfig holds it, a Go time.Duration: a whole number of nanoseconds in periodic
 * mode, a number of revisions in revision mode; 0 disables auto-compaction. The text is:
 * - an integer >= 0 (strconv.Atoi: optional sign, decimal digits, int64): hours in periodic
 *   mode, revisions in revision mode, 0 in mode "" (so "" with a number runs nothing);
 * - otherwise a Go duration ("30m", "1h30m", "72h"), taken as it is in every mode, as etcd
 *   does: in revision mode "1h" is 3,600,000,000,000 revisions.
 * A bad text throws `error parsing CompactionRetention: <Go's ParseDuration error>`.
 */
export function parseCompactionRetention(mode: string, retention: string): bigint {
  // embed.StartEtcd: an empty retention is "0".
  const text = retention === "" ? "0" : retention;
  const h = atoi(text);
  if (h !== undefined && h >= 0n) {
    if (mode === MODE_REVISION) return h;
    // time.Duration(h) * time.Hour wraps around in int64, as Go's multiplication does.
    if (mode === MODE_PERIODIC) return BigInt.asIntN(64, h * HOUR_NS);
    return 0n;
  }
  try {
    return parseGoDuration(text);
  } catch (err) {
    throw new Error(`error parsing CompactionRetention: ${(err as Error).message}`);
  }
}

/** atoi is Go's strconv.Atoi on a 64-bit platform: the value, or undefined where Atoi fails. */
function atoi(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  if (v > INT64_MAX || v < -INT64_MAX - 1n) return undefined;
  return v;
}

/**
 * readAutoCompaction is what a start does with the two flags: checkCompactionMode, then
 * parseCompactionRetention, then the checks of the compactor's constructor. It returns the
 * retention (0: no compactor). Beyond etcd, it refuses what etcd 3.4 accepts but cannot run:
 * a negative retention (etcd's periodic compactor then compacts in a busy loop and the
 * server crashes; its revision compactor compacts to future revisions forever) and a
 * periodic retention under 10ns (etcd divides by a zero retry interval and panics).
 */
export function readAutoCompaction(mode: string, retention: string): bigint {
  checkCompactionMode(mode);
  const r = parseCompactionRetention(mode, retention);
  if (r === 0n) return 0n;
  if (mode !== MODE_PERIODIC && mode !== MODE_REVISION) throw new Error(`unsupported compaction mode ${mode}`);
  if (r < 0n) throw new Error(`auto-compaction: retention ${JSON.stringify(retention)} is negative (etcd-ts refuses it; etcd 3.4 cannot run with it)`);
  if (mode === MODE_PERIODIC && r < 10n) {
    throw new Error(`auto-compaction: periodic retention ${JSON.stringify(retention)} is under 10ns, which leaves no retry interval (etcd-ts refuses it; etcd 3.4 panics)`);
  }
  return r;
}
