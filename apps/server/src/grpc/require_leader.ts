import type { Interceptor } from "@etcd-ts/grpc-server";
import type { EtcdServer } from "../etcd_server.js";
import { Errors } from "../errors.js";

/** REQUIRE_LEADER_KEY is the metadata a client sets to "true" to require a leader (clientv3.WithRequireLeader). */
const REQUIRE_LEADER_KEY = "hasleader";

/** STREAM_METHODS are the streaming methods etcd's stream interceptor watches for leader loss (every stream of its client server). */
const STREAM_METHODS = new Set([
  "/etcdserverpb.Watch/Watch",
  "/etcdserverpb.Lease/LeaseKeepAlive",
  "/etcdserverpb.Maintenance/Snapshot",
  "/v3electionpb.Election/Observe",
]);

/** MAX_NO_LEADER_CHECKS is how many election timeouts without a leader end require-leader streams (etcd's maxNoLeaderCnt). */
const MAX_NO_LEADER_CHECKS = 3;

/**
 * RequireLeader is etcd's handling of the `hasleader` metadata (clientv3.WithRequireLeader,
 * which etcdctl watch, lock and elect and clientv3's keep-alives set): a call that requires
 * a leader fails with `etcdserver: no leader` while the member knows none, and a stream that
 * requires one is ended with that error once the member has found no leader for three
 * election timeouts in a row (etcd's monitorLeader), so its client moves to a member that
 * can serve it instead of waiting on a partitioned one.
 */
export class RequireLeader {
  private readonly streams = new Set<(err: Error) => void>();
  private noLeaderChecks = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly s: EtcdServer,
    private readonly electionMs: number,
  ) {}

  /** start begins checking for a leader every election timeout. */
  start(): void {
    this.timer = setInterval(() => this.check(), this.electionMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** check counts the election timeouts without a leader and ends the streams after MAX_NO_LEADER_CHECKS. */
  check(): void {
    this.noLeaderChecks = this.s.leader === 0n ? this.noLeaderChecks + 1 : 0;
    if (this.noLeaderChecks < MAX_NO_LEADER_CHECKS) return;
    const ends = [...this.streams];
    this.streams.clear();
    for (const end of ends) end(Errors.noLeader);
  }

  /** interceptor applies the rule to every call. */
  interceptor(): Interceptor {
    return async (ctx, next) => {
      if (ctx.metadata.get(REQUIRE_LEADER_KEY) !== "true") return next();
      if (this.s.leader === 0n) throw Errors.noLeader;
      if (!STREAM_METHODS.has(ctx.method)) return next();
      let end!: (err: Error) => void;
      const lost = new Promise<never>((_, reject) => (end = reject));
      this.streams.add(end);
      try {
        // Failing the call here cancels its handler (it sees its call cancelled).
        await Promise.race([next(), lost]);
      } finally {
        this.streams.delete(end);
      }
    };
  }
}
