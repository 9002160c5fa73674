import type { Logger } from "../log.js";
import { realClock, type Clock } from "./clock.js";
import type { Compactable, Compactor, RevGetter } from "./compactor.js";
import { Periodic } from "./periodic.js";
import { MODE_PERIODIC, MODE_REVISION } from "./retention.js";
import { Revision } from "./revision.js";

export type { Compactor } from "./compactor.js";

/**
 * AutoCompaction is --auto-compaction-mode and --auto-compaction-retention as the server
 * holds them (see retention.ts): the retention is nanoseconds in periodic mode, revisions in
 * revision mode, and 0 when auto-compaction is off.
 */
export interface AutoCompaction {
  mode: string;
  retention: bigint;
}

/**
 * CompactorOptions exist for tests only, through the code API (no flag sets them): a fake
 * clock, and a revision-mode interval shorter than etcd's fixed 5 minutes.
 */
export interface CompactorOptions {
  clock?: Clock;
  revisionIntervalMs?: number;
}

/** newCompactor is etcd's v3compactor.New: the compactor of `mode` on the real clock unless options give one. */
export function newCompactor(
  logger: Logger,
  mode: string,
  retention: bigint,
  rg: RevGetter,
  c: Compactable,
  options: CompactorOptions = {},
): Compactor {
  const clock = options.clock ?? realClock;
  switch (mode) {
    case MODE_PERIODIC:
      return new Periodic(logger, clock, retention, rg, c);
    case MODE_REVISION:
      return new Revision(logger, clock, retention, rg, c, options.revisionIntervalMs);
    default:
      throw new Error(`unsupported compaction mode ${mode}`);
  }
}

/** CompactorHost is the server as the auto-compactor sees it (EtcdServer is one). */
export interface CompactorHost extends Compactable {
  readonly kv: { readonly currentRevision: bigint };
  /** isLeader: this member is the raft leader now. */
  readonly isLeader: boolean;
  /** onLeaderChange calls cb whenever the known leader changes. */
  onLeaderChange(cb: (lead: bigint) => void): void;
}

/**
 * startAutoCompactor starts the compactor `cfg` asks for on `host` and returns it for stop;
 * undefined when the retention is 0 (auto-compaction off). As in etcd it compacts only on the
 * leader: it is paused whenever this member is not the leader and resumed when it becomes
 * the leader, at every leadership change. (etcd's compactor runs unpaused until its first
 * leadership update; this one starts paused unless already leading.)
 */
export function startAutoCompactor(
  host: CompactorHost,
  cfg: AutoCompaction | undefined,
  logger: Logger,
  options: CompactorOptions = {},
): Compactor | undefined {
  if (cfg === undefined || cfg.retention === 0n) return undefined;
  const c = newCompactor(logger, cfg.mode, cfg.retention, { rev: () => host.kv.currentRevision }, host, options);
  const follow = (): void => (host.isLeader ? c.resume() : c.pause());
  follow();
  host.onLeaderChange(follow);
  c.run();
  return c;
}
