import { mergedScan, type Backend, type BatchTx } from "@etcd-ts/backend";
import { leasepb } from "@etcd-ts/proto";
import { LeaseError } from "./errors.js";
import { TimeQueue } from "./time_queue.js";
import { LEASE_PREFIX } from "./keys.js";

/** MAX_LEASE_TTL is the largest TTL (seconds) a grant may ask for (etcd's MaxLeaseTTL). */
export const MAX_LEASE_TTL = 9_000_000_000n;

/** DEFAULT_EXPIRED_RETRY_MS: an expired lease reported by expired() is reported again after this long if still there (etcd: 3 s). */
export const DEFAULT_EXPIRED_RETRY_MS = 3000;

/** DEFAULT_REVOKE_RATE is etcd's leaseRevokeRate (leases per second), which promote's spreading of expiries aims below. */
export const DEFAULT_REVOKE_RATE = 1000;

const LEASE_PREFIX_END = Buffer.from("lease0");

/** leaseKey is the backend key of lease id's record: `lease/` + the ID as 8 bytes, big-endian two's complement. */
export function leaseKey(id: bigint): Buffer {
  const k = Buffer.alloc(LEASE_PREFIX.length + 8);
  LEASE_PREFIX.copy(k);
  k.writeBigInt64BE(id, LEASE_PREFIX.length);
  return k;
}

export interface LessorOptions {
  /** minTtl is the smallest TTL granted, in seconds (etcd: ceil(1.5 * election timeout)); a smaller requested TTL is raised to it. */
  minTtl: number;
  /** clock returns monotonic milliseconds (the server passes performance.now-based time; tests pass a fake). */
  clock: () => number;
  /** checkpointIntervalMs: how often the primary checkpoints each lease's remaining TTL (0 = never). */
  checkpointIntervalMs: number;
  /** expiredRetryMs: how long after expired() reported a lease it reports it again if it is still there (default 3000). */
  expiredRetryMs?: number;
  /** revokeRate: leases per second the server revokes at most (etcd: 1000); promote spreads expiries below 3/4 of it. */
  revokeRate?: number;
}

/** Lease is a snapshot of one lease's persisted state. */
export interface Lease {
  readonly id: bigint;
  /** ttl is the granted TTL in seconds (after raising to minTtl). */
  readonly ttl: bigint;
  /** remainingTtl is the last checkpointed remaining TTL in seconds; 0 when unset (the full ttl applies). */
  readonly remainingTtl: bigint;
}

/** LeaseCheckpoint is one entry of a LeaseCheckpointRequest the server proposes. */
export interface LeaseCheckpoint {
  id: bigint;
  /** remainingTtl in seconds; 0 clears a recorded remaining TTL (the full TTL applies again). */
  remainingTtl: bigint;
}

/** LeaseTimeToLive answers LeaseTimeToLive. */
export interface LeaseTimeToLive {
  /** grantedTtl is the TTL the lease was granted with, in seconds. */
  grantedTtl: bigint;
  /** ttl is the remaining time in whole seconds, truncated as etcd does; -1 when this lessor is not the primary (it tracks no expiry). */
  ttl: bigint;
  /** keys are the attached keys in byte order, when asked for (else empty). */
  keys: Buffer[];
}

/** LeaseState is the lessor's record of one lease. */
class LeaseState {
  /** expiry is the clock time (ms) it expires at on the primary; Infinity elsewhere. */
  expiry = Infinity;
  /** keys are the attached keys by their latin1 string. */
  readonly keys = new Map<string, Buffer>();

  constructor(
    readonly id: bigint,
    public ttl: bigint,
    public remainingTtl: bigint,
  ) {}

  /** liveMs is what promote counts from: the checkpointed remaining TTL if set, else the TTL. */
  liveMs(): number {
    return Number(this.remainingTtl > 0n ? this.remainingTtl : this.ttl) * 1000;
  }

  view(): Lease {
    return { id: this.id, ttl: this.ttl, remainingTtl: this.remainingTtl };
  }
}

/**
 * Lessor is etcd's lessor without its goroutine: it holds every lease, the keys attached to
 * each, and, on the primary (the raft leader), each lease's expiry and the schedule of
 * remaining-TTL checkpoints. It has no timers: the server polls expired() and checkpoints()
 * (sizing its timer with nextDeadline()) and proposes LeaseRevoke and LeaseCheckpoint
 * requests; the applied requests come back as revoke() and applyCheckpoint(). Every change it
 * persists (a lease record under `lease/<id>`, leasepb.Lease) goes into the member's batch
 * transaction, which the server commits per applied batch.
 *
 * Checkpoints (etcd's --experimental-enable-lease-checkpoint, here on whenever
 * checkpointIntervalMs > 0): the primary schedules each lease a checkpoint one interval after
 * its last "sync" (grant, renew, promote, the previous checkpoint), and only if the lease would
 * still be alive then. A due checkpoint yields the remaining TTL, rounded up to whole seconds
 * as etcd does, or 0 once that reaches the full TTL, and is left out when it equals what is
 * recorded already. A renew of a lease with a recorded remaining TTL makes a clearing
 * checkpoint (0) due at once, as etcd's Renew proposes one; an applied checkpoint that
 * understates the primary's own remaining time (it was computed before a renew, or by a
 * previous leader) makes a correcting one due at once. So after a leader change the new
 * primary starts from a remaining TTL at most about one interval stale.
 */
export class Lessor {
  private backend: Backend;
  private tx: BatchTx;
  private readonly minTtl: bigint;
  private readonly clock: () => number;
  private readonly checkpointIntervalMs: number;
  private readonly expiredRetryMs: number;
  private readonly revokeRate: number;
  private leaseMap = new Map<bigint, LeaseState>();
  /** owner maps each attached key (latin1) to its lease. */
  private owner = new Map<string, bigint>();
  private readonly expiries = new TimeQueue();
  private readonly checkpointQueue = new TimeQueue();
  private primary = false;

  private constructor(backend: Backend, tx: BatchTx, opts: LessorOptions) {
    if (!Number.isFinite(opts.minTtl) || opts.minTtl < 0) throw new RangeError(`lease: minTtl must be a non-negative number of seconds, got ${opts.minTtl}`);
    if (!Number.isFinite(opts.checkpointIntervalMs) || opts.checkpointIntervalMs < 0) {
      throw new RangeError(`lease: checkpointIntervalMs must be >= 0, got ${opts.checkpointIntervalMs}`);
    }
    const retry = opts.expiredRetryMs ?? DEFAULT_EXPIRED_RETRY_MS;
    if (!Number.isFinite(retry) || retry <= 0) throw new RangeError(`lease: expiredRetryMs must be > 0, got ${retry}`);
    const rate = opts.revokeRate ?? DEFAULT_REVOKE_RATE;
    if (!Number.isInteger(rate) || rate < 2) throw new RangeError(`lease: revokeRate must be an integer >= 2, got ${rate}`);
    this.backend = backend;
    this.tx = tx;
    this.minTtl = BigInt(Math.ceil(opts.minTtl));
    this.clock = opts.clock;
    this.checkpointIntervalMs = opts.checkpointIntervalMs;
    this.expiredRetryMs = retry;
    this.revokeRate = rate;
  }

  /**
   * open loads the persisted leases (including puts still in tx, not yet written): each keeps
   * its TTL (raised to minTtl) and checkpointed remaining TTL. The lessor starts as a
   * non-primary: no lease expires until promote().
   */
  static async open(backend: Backend, tx: BatchTx, opts: LessorOptions): Promise<Lessor> {
    const l = new Lessor(backend, tx, opts);
    l.leaseMap = await l.load();
    return l;
  }

  /**
   * reopen reloads every lease from a new backend and batch transaction after a snapshot
   * install. Attached keys are dropped (the server re-attaches the live keys with attach()).
   * The primary role is kept: on a primary every lease then expires at now + its remaining TTL
   * (promote(0)); otherwise expiries stay "forever".
   */
  async reopen(backend: Backend, tx: BatchTx): Promise<void> {
    this.backend = backend;
    this.tx = tx;
    const leases = await this.load();
    this.leaseMap = leases;
    this.owner = new Map();
    this.expiries.clear();
    this.checkpointQueue.clear();
    if (this.primary) this.refreshAll(0);
  }

  private async load(): Promise<Map<bigint, LeaseState>> {
    const leases = new Map<bigint, LeaseState>();
    for await (const [k, v] of mergedScan(this.backend, this.tx.unflushed(), LEASE_PREFIX, LEASE_PREFIX_END)) {
      if (k.length !== LEASE_PREFIX.length + 8) throw new Error(`lease: malformed backend key ${k.toString("hex")}`);
      let rec: leasepb.Lease;
      try {
        rec = leasepb.Lease.decode(v);
      } catch (err) {
        throw new Error(`lease: cannot decode the record of lease ${k.readBigInt64BE(LEASE_PREFIX.length).toString(16)}: ${(err as Error).message}`, { cause: err });
      }
      const ttl = rec.TTL < this.minTtl ? this.minTtl : rec.TTL;
      leases.set(rec.ID, new LeaseState(rec.ID, ttl, rec.RemainingTTL));
    }
    return leases;
  }

  /** isPrimary tells whether this lessor manages expiries, renewals and checkpoints (the member is the leader). */
  get isPrimary(): boolean {
    return this.primary;
  }

  /** size is the number of leases. */
  get size(): number {
    return this.leaseMap.size;
  }

  /**
   * grant creates lease id with ttl seconds (raised to minTtl), at apply. It throws LeaseError
   * not_found for ID 0 (etcd's answer), ttl_too_large above MAX_LEASE_TTL, exists for an ID in
   * use. On the primary the lease expires at now + ttl; elsewhere its expiry is "forever".
   */
  grant(id: bigint, ttl: bigint): Lease {
    if (id === 0n) throw new LeaseError("not_found");
    if (BigInt.asIntN(64, id) !== id) throw new RangeError(`lease: ID ${id} is not an int64`);
    if (ttl > MAX_LEASE_TTL) throw new LeaseError("ttl_too_large");
    if (this.leaseMap.has(id)) throw new LeaseError("exists");
    const l = new LeaseState(id, ttl < this.minTtl ? this.minTtl : ttl, 0n);
    this.leaseMap.set(id, l);
    this.persist(l);
    if (this.primary) {
      const now = this.clock();
      l.expiry = now + l.liveMs();
      this.expiries.set(id, l.expiry);
      this.scheduleCheckpoint(l, now);
    }
    return l.view();
  }

  /**
   * revoke removes lease id and its record, at apply, after the server deleted its keys (see
   * keys()) in the same batch. Throws LeaseError not_found for an unknown lease.
   */
  revoke(id: bigint): void {
    const l = this.leaseMap.get(id);
    if (l === undefined) throw new LeaseError("not_found");
    for (const k of l.keys.keys()) {
      if (this.owner.get(k) === id) this.owner.delete(k);
    }
    this.leaseMap.delete(id);
    this.expiries.delete(id);
    this.checkpointQueue.delete(id);
    this.tx.del(leaseKey(id));
  }

  /** exists tells whether lease id exists (granted and not revoked). */
  exists(id: bigint): boolean {
    return this.leaseMap.has(id);
  }

  /** get returns lease id's persisted state, or undefined. */
  get(id: bigint): Lease | undefined {
    return this.leaseMap.get(id)?.view();
  }

  /** keys are the keys attached to lease id in byte order (etcd sorts them before deleting), empty for an unknown lease. */
  keys(id: bigint): Buffer[] {
    const l = this.leaseMap.get(id);
    if (l === undefined) return [];
    return sortedKeys(l);
  }

  /**
   * attach attaches key to lease id (a put with a lease, or the restore of a live key), moving
   * it from any other lease. Throws LeaseError not_found for an unknown lease.
   */
  attach(id: bigint, key: Buffer): void {
    const l = this.leaseMap.get(id);
    if (l === undefined) throw new LeaseError("not_found");
    const k = key.toString("latin1");
    const prev = this.owner.get(k);
    if (prev === id) return;
    if (prev !== undefined) this.leaseMap.get(prev)?.keys.delete(k);
    l.keys.set(k, Buffer.from(key));
    this.owner.set(k, id);
  }

  /** detach detaches key from lease id; a no-op when the lease is unknown or key is not attached to it. */
  detach(id: bigint, key: Buffer): void {
    const l = this.leaseMap.get(id);
    if (l === undefined) return;
    const k = key.toString("latin1");
    if (!l.keys.delete(k)) return;
    if (this.owner.get(k) === id) this.owner.delete(k);
  }

  /** leaseOf is the lease key is attached to, 0n for none (etcd's GetLease). */
  leaseOf(key: Buffer): bigint {
    return this.owner.get(key.toString("latin1")) ?? 0n;
  }

  /**
   * renew is a keep-alive on the primary: lease id expires at now + its TTL, which it returns.
   * Throws LeaseError not_primary on a non-primary (forward to the leader), not_found for an
   * unknown lease or one whose expiry passed (its revoke is under way; etcd waits for it and
   * answers not found). When the lease has a checkpointed remaining TTL, a checkpoint clearing
   * it (remainingTtl 0) becomes due at once: the next checkpoints() returns it, and
   * nextDeadline() is now.
   */
  renew(id: bigint): bigint {
    if (!this.primary) throw new LeaseError("not_primary");
    const l = this.leaseMap.get(id);
    if (l === undefined) throw new LeaseError("not_found");
    const now = this.clock();
    if (l.expiry <= now) throw new LeaseError("not_found");
    l.expiry = now + Number(l.ttl) * 1000;
    this.expiries.set(id, l.expiry);
    if (l.remainingTtl > 0n) this.checkpointQueue.set(id, now);
    else this.scheduleCheckpoint(l, now);
    return l.ttl;
  }

  /**
   * timeToLive answers LeaseTimeToLive for lease id, or undefined when it does not exist. The
   * remaining ttl is etcd's int64(Remaining().Seconds()): truncated toward zero (a lease past
   * its expiry and not yet revoked reads 0 or less).
   */
  timeToLive(id: bigint, withKeys: boolean): LeaseTimeToLive | undefined {
    const l = this.leaseMap.get(id);
    if (l === undefined) return undefined;
    const ttl = this.primary ? BigInt(Math.trunc((l.expiry - this.clock()) / 1000)) : -1n;
    return { grantedTtl: l.ttl, ttl, keys: withKeys ? sortedKeys(l) : [] };
  }

  /**
   * remainingMs is the time (ms) until lease id expires, on the primary; undefined for an
   * unknown lease or on a lessor that is not the primary (it tracks no expiry).
   */
  remainingMs(id: bigint): number | undefined {
    const l = this.leaseMap.get(id);
    if (l === undefined || !this.primary) return undefined;
    return l.expiry - this.clock();
  }

  /** leases lists every lease ID, soonest expiry first (as etcd's Leases), then by ID. */
  leases(): bigint[] {
    return [...this.leaseMap.values()].sort(byExpiry).map((l) => l.id);
  }

  /**
   * promote makes this lessor the primary: every lease expires at now + (checkpointed remaining
   * TTL, else TTL) + extendMs. With at least revokeRate leases, leases whose expiries would
   * pile up are pushed later (etcd's Promote): at most 3/4 of revokeRate expire within any
   * one-second window that starts at a lease's expiry.
   */
  promote(extendMs: number): void {
    this.primary = true;
    this.refreshAll(extendMs);
  }

  /** demote ends the primary role: expiries become "forever", nothing is due. */
  demote(): void {
    this.primary = false;
    for (const l of this.leaseMap.values()) l.expiry = Infinity;
    this.expiries.clear();
    this.checkpointQueue.clear();
  }

  private refreshAll(extendMs: number): void {
    const now = this.clock();
    for (const l of this.leaseMap.values()) l.expiry = now + l.liveMs() + extendMs;
    if (this.leaseMap.size >= this.revokeRate) this.spreadExpiries(now);
    for (const l of this.leaseMap.values()) {
      this.expiries.set(l.id, l.expiry);
      this.scheduleCheckpoint(l, now);
    }
  }

  /** spreadExpiries is the second half of etcd's Promote, in milliseconds. */
  private spreadExpiries(now: number): void {
    const leases = [...this.leaseMap.values()].sort(byExpiry);
    const first = leases[0];
    if (first === undefined) return;
    const target = Math.floor((3 * this.revokeRate) / 4);
    let baseWindow = first.expiry - now;
    let nextWindow = baseWindow + 1000;
    let expires = 0;
    for (const l of leases) {
      const remaining = l.expiry - now;
      if (remaining > nextWindow) {
        baseWindow = remaining;
        nextWindow = baseWindow + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= target) continue;
      // A lease n seconds after the window's start is pushed n seconds less.
      const delay = (1000 * expires) / target - (remaining - baseWindow);
      nextWindow = baseWindow + delay;
      l.expiry += delay;
    }
  }

  /**
   * expired returns up to limit leases whose expiry passed, oldest first (primary only; [] on
   * others). A lease returned is returned again expiredRetryMs later if it still exists (its
   * revoke may not have been committed). Work is O(returned * log n).
   */
  expired(limit: number): bigint[] {
    const out: bigint[] = [];
    if (!this.primary || limit <= 0) return out;
    const now = this.clock();
    while (out.length < limit) {
      const item = this.expiries.peek();
      if (item === undefined || item.time > now) break;
      const l = this.leaseMap.get(item.id);
      if (l === undefined) {
        this.expiries.delete(item.id);
        continue;
      }
      if (l.expiry > now) {
        // Not reached: a lease's entry moves with its expiry. Requeue at the expiry.
        this.expiries.set(l.id, l.expiry);
        continue;
      }
      this.expiries.set(l.id, now + this.expiredRetryMs);
      out.push(l.id);
    }
    return out;
  }

  /**
   * checkpoints returns up to limit due checkpoints (primary only; [] on others), for the
   * server to propose as one LeaseCheckpointRequest: each lease's remaining TTL, whole seconds
   * rounded up (etcd's math.Ceil), or 0 once that is the full TTL. A lease whose value equals
   * what is recorded is skipped; every lease looked at is rescheduled one interval later (a
   * lost proposal is retried then) unless it expires first. A call looks at no more than
   * 4 * limit due leases, so it may return fewer than limit while more are due (nextDeadline()
   * then is not in the future).
   */
  checkpoints(limit: number): LeaseCheckpoint[] {
    const out: LeaseCheckpoint[] = [];
    if (!this.primary || limit <= 0) return out;
    const now = this.clock();
    const maxExamined = limit * 4;
    for (let examined = 0; examined < maxExamined && out.length < limit; examined++) {
      const item = this.checkpointQueue.peek();
      if (item === undefined || item.time > now) break;
      const l = this.leaseMap.get(item.id);
      if (l === undefined || l.expiry <= now) {
        this.checkpointQueue.delete(item.id);
        continue;
      }
      this.scheduleCheckpoint(l, now);
      const value = checkpointValue(l, now);
      if (value === l.remainingTtl) continue;
      out.push({ id: l.id, remainingTtl: value });
    }
    return out;
  }

  /**
   * applyCheckpoint records lease id's remaining TTL (seconds; 0 clears it), at apply on every
   * member, and persists it so a restart or the next primary counts from it. As in etcd it
   * does not move the primary's expiry (which would drift by the time the proposal took). On
   * the primary it keeps the lease's checkpoint schedule, and when the recorded value
   * understates the primary's own remaining time (computed before a renew, or by an earlier
   * leader) it makes a correcting checkpoint due at once. Unknown IDs are ignored.
   */
  applyCheckpoint(id: bigint, remainingTtl: bigint): void {
    const l = this.leaseMap.get(id);
    if (l === undefined) return;
    l.remainingTtl = remainingTtl;
    this.persist(l);
    if (!this.primary) return;
    const now = this.clock();
    if (l.expiry <= now) return;
    if (remainingTtl > 0n && ceilSeconds(l.expiry - now) > remainingTtl) this.checkpointQueue.set(id, now);
    else if (this.checkpointQueue.timeOf(id) === undefined) this.scheduleCheckpoint(l, now);
  }

  /**
   * nextDeadline is the clock time (ms) of the earliest expiry, expired-lease retry or due
   * checkpoint, or undefined when none is pending (always on a non-primary). A deadline at or
   * before now means a call to expired() or checkpoints() has work.
   */
  nextDeadline(): number | undefined {
    if (!this.primary) return undefined;
    const e = this.expiries.peek()?.time;
    const c = this.checkpointQueue.peek()?.time;
    if (e === undefined) return c;
    if (c === undefined) return e;
    return Math.min(e, c);
  }

  /** scheduleCheckpoint schedules l's next checkpoint one interval after now, if it is still alive then. */
  private scheduleCheckpoint(l: LeaseState, now: number): void {
    const due = now + this.checkpointIntervalMs;
    if (this.checkpointIntervalMs > 0 && due < l.expiry) this.checkpointQueue.set(l.id, due);
    else this.checkpointQueue.delete(l.id);
  }

  private persist(l: LeaseState): void {
    const rec = leasepb.Lease.encode({ ID: l.id, TTL: l.ttl, RemainingTTL: l.remainingTtl }).finish();
    this.tx.put(leaseKey(l.id), Buffer.from(rec.buffer, rec.byteOffset, rec.byteLength));
  }
}

function ceilSeconds(ms: number): bigint {
  return BigInt(Math.ceil(ms / 1000));
}

/** checkpointValue is what a checkpoint of l records now: the remaining seconds rounded up, 0 once that reaches the TTL. */
function checkpointValue(l: LeaseState, now: number): bigint {
  const secs = ceilSeconds(l.expiry - now);
  return secs >= l.ttl ? 0n : secs;
}

function sortedKeys(l: LeaseState): Buffer[] {
  return [...l.keys.values()].sort(Buffer.compare);
}

function byExpiry(a: LeaseState, b: LeaseState): number {
  if (a.expiry !== b.expiry) return a.expiry < b.expiry ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
