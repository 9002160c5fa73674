import type { etcdserverpb } from "@etcd-ts/proto";
import { Errors } from "./errors.js";

/** DEFAULT_QUOTA_BYTES is the backend quota when --quota-backend-bytes is 0 (etcd's 2 GiB). */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** MAX_QUOTA_BYTES is the largest quota etcd recommends (8 GiB); a larger one is warned about. */
export const MAX_QUOTA_BYTES = 8 * 1024 * 1024 * 1024;
/** LEASE_OVERHEAD is etcd's estimate, in bytes, of what storing a lease costs. */
export const LEASE_OVERHEAD = 64;
/** KV_OVERHEAD is etcd's estimate, in bytes, of what a key's metadata costs. */
export const KV_OVERHEAD = 256;

/**
 * quotaBytes is the backend quota --quota-backend-bytes asks for: undefined (no quota) when
 * negative, DEFAULT_QUOTA_BYTES when 0, else the value itself (etcd's NewBackendQuota).
 */
export function quotaBytes(flag: number): number | undefined {
  if (flag < 0) return undefined;
  return flag === 0 ? DEFAULT_QUOTA_BYTES : flag;
}

/** costPut is what a put charges against the quota: KV_OVERHEAD plus its key and value. */
export function costPut(r: etcdserverpb.PutRequest): number {
  return KV_OVERHEAD + r.key.length + r.value.length;
}

/**
 * costTxn is the larger of what the puts of the success branch and of the failure branch
 * charge; as in etcd 3.4 only a branch's own puts count, not those of nested txns.
 */
export function costTxn(r: etcdserverpb.TxnRequest): number {
  const branch = (ops: etcdserverpb.RequestOp[]): number =>
    ops.reduce((n, op) => n + (op.requestPut !== undefined ? costPut(op.requestPut) : 0), 0);
  return Math.max(branch(r.success), branch(r.failure));
}

/** costLeaseGrant is what a lease grant charges: LEASE_OVERHEAD. */
export function costLeaseGrant(): number {
  return LEASE_OVERHEAD;
}

/**
 * BackendQuota is etcd's backendQuota: a request fits when the backend's size (bytes on disk,
 * as last measured) plus the request's cost stays below maxBytes. A request that costs
 * nothing (no put) always fits. maxBytes undefined means no quota (etcd's passthroughQuota).
 */
export class BackendQuota {
  constructor(
    readonly maxBytes: number | undefined,
    /** size returns the backend's size in bytes (see BackendSize). */
    private readonly size: () => number,
  ) {}

  /** available: a request of this cost (bytes) fits within the quota. */
  available(cost: number): boolean {
    if (this.maxBytes === undefined || cost === 0) return true;
    return this.size() + cost < this.maxBytes;
  }

  /** remaining is how many bytes are left before the quota (may be negative; 1 with no quota, as etcd). */
  remaining(): number {
    return this.maxBytes === undefined ? 1 : this.maxBytes - this.size();
  }
}

/**
 * humanizeBytes formats n bytes with SI units as Go's go-humanize Bytes does ("2.1 GB",
 * "16 MB", "512 B"), for etcd's log lines about the quota.
 */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1000)), sizes.length - 1);
  const tenths = Math.floor((n / 1000 ** e) * 10 + 0.5);
  const val = tenths / 10;
  // Go's %.0f rounds an exact half to even (20.5 -> "20"); toFixed would round it up.
  const lo = Math.floor(tenths / 10);
  const whole = tenths % 10 === 5 ? (lo % 2 === 0 ? lo : lo + 1) : Math.round(val);
  return `${val < 10 ? val.toFixed(1) : String(whole)} ${sizes[e] ?? "B"}`;
}

/**
 * QuotaAlarmer raises the NOSPACE alarm for this member when a request does not fit in the
 * backend quota (etcd's quotaAlarmer on the request path and its apply-path equivalent). At
 * most one raise is in flight; requests that hit the quota meanwhile wait for it.
 */
export class QuotaAlarmer {
  private raising: Promise<void> | undefined;

  constructor(
    readonly quota: BackendQuota,
    /** raise proposes the NOSPACE alarm for this member and resolves once it is applied. */
    private readonly raise: () => Promise<void>,
    /** raised: a NOSPACE alarm is raised already (no new raise from the apply path). */
    private readonly raised: () => boolean,
    /** warn logs etcd's warning when an applied request exceeded the quota. */
    private readonly warn: (msg: string, fields: Record<string, unknown>) => void,
  ) {}

  /**
   * check is the request path's check before proposing a put, txn or lease grant of this
   * cost: when it does not fit, the alarm is raised (and waited for) and the request fails
   * with `etcdserver: mvcc: database space exceeded`.
   */
  async check(cost: number): Promise<void> {
    if (this.quota.available(cost)) return;
    await this.raiseOnce();
    throw Errors.noSpace;
  }

  /** exceeded is the apply path's report that an applied request did not fit (see QuotaApplier). */
  exceeded(): void {
    if (this.raised() || this.raising !== undefined) return;
    const bytes = this.quota.maxBytes ?? 0;
    this.warn("message exceeded backend quota; raising alarm", {
      "quota-size-bytes": bytes,
      "quota-size": humanizeBytes(bytes),
      error: Errors.noSpace.message,
    });
    void this.raiseOnce();
  }

  /** settled resolves once the raise in flight, if any, is done (an answer of noSpace waits for it, as etcd's does). */
  async settled(): Promise<void> {
    await this.raising;
  }

  private raiseOnce(): Promise<void> {
    this.raising ??= this.raise()
      .catch(() => undefined)
      .finally(() => {
        this.raising = undefined;
      });
    return this.raising;
  }
}
