import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, describe, expect, it } from "vitest";
import { Errors } from "../errors.js";
import { BackendQuota } from "../quota.js";
import { openMember, removeDataDirs, tmpDataDir } from "../testing/member.js";
import { ApplierDecorator, READ_CONTEXT, type Applied, type Applier } from "./applier.js";
import { QuotaApplier } from "./quota_applier.js";

afterEach(removeDataDirs);

/** Recording applies every put and lease grant and remembers them. */
class Recording extends ApplierDecorator {
  readonly applied: string[] = [];
  constructor() {
    super(undefined as unknown as Applier);
  }
  override put(_ctx: unknown, req: etcdserverpb.PutRequest): Applied<etcdserverpb.PutResponse> {
    this.applied.push(req.key.toString());
    return { response: etcdserverpb.PutResponse.fromPartial({}), revision: 2n };
  }
  override leaseGrant(_ctx: unknown, req: etcdserverpb.LeaseGrantRequest): Applied<etcdserverpb.LeaseGrantResponse> {
    this.applied.push(`lease ${req.ID}`);
    return { response: etcdserverpb.LeaseGrantResponse.fromPartial({ ID: req.ID }), revision: 1n };
  }
}

describe("QuotaApplier (etcd's quotaApplierV3)", () => {
  it("applies a request over the quota, then answers NOSPACE and reports it", () => {
    const next = new Recording();
    let size = 0;
    let exceeded = 0;
    const a = new QuotaApplier(next, new BackendQuota(1000, () => size), () => exceeded++);
    const put = (k: string) => a.put(READ_CONTEXT, etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(k), value: Buffer.from("v") }));
    expect(put("fits").revision).toBe(2n);
    size = 800;
    expect(() => put("over")).toThrow(Errors.noSpace);
    expect(() => a.leaseGrant(READ_CONTEXT, { ID: 7n, TTL: 10n })).not.toThrow(); // 800 + 64 < 1000
    size = 990;
    expect(() => a.leaseGrant(READ_CONTEXT, { ID: 8n, TTL: 10n })).toThrow(Errors.noSpace);
    expect(next.applied).toEqual(["fits", "over", "lease 7", "lease 8"]);
    expect(exceeded).toBe(2);
  });
});

describe("--quota-backend-bytes on a member", () => {
  it("refuses a put that does not fit and raises NOSPACE for this member", async () => {
    const s = await openMember(tmpDataDir(), ["--quota-backend-bytes", "4096"]);
    try {
      const put = s.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from("k"), value: Buffer.from("v") }));
      await expect(put).rejects.toBe(Errors.noSpace);
      expect(s.alarmList()).toEqual([{ memberID: s.memberId, alarm: etcdserverpb.AlarmType.NOSPACE }]);
      expect((await s.status()).errors).toEqual([`memberID:${s.memberId} alarm:NOSPACE `]);
      // A delete costs nothing and still goes through.
      await s.deleteRange(etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from("k") }));
    } finally {
      await s.stop();
    }
  });

  it("has no quota with a negative value", async () => {
    const s = await openMember(tmpDataDir(), ["--quota-backend-bytes", "-1"]);
    try {
      await s.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from("k"), value: Buffer.alloc(100_000) }));
      expect(s.alarmList()).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});
