import { etcdserverpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { BackendSize } from "./backend_size.js";
import { Errors } from "./errors.js";
import { BackendQuota, DEFAULT_QUOTA_BYTES, QuotaAlarmer, costLeaseGrant, costPut, costTxn, humanizeBytes, quotaBytes } from "./quota.js";

const put = (key: string, value: string): etcdserverpb.PutRequest => etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) });
const opPut = (key: string, value: string): etcdserverpb.RequestOp => etcdserverpb.RequestOp.fromPartial({ requestPut: put(key, value) });

describe("quota costs (etcd's quota.go)", () => {
  it("charges a put 256 bytes plus its key and value, a lease grant 64", () => {
    expect(costPut(put("key", "value"))).toBe(256 + 3 + 5);
    expect(costLeaseGrant()).toBe(64);
  });

  it("charges a txn the costlier branch, counting only the branches' own puts", () => {
    const nested = etcdserverpb.RequestOp.fromPartial({
      requestTxn: etcdserverpb.TxnRequest.fromPartial({ success: [opPut("n", "x".repeat(1000))] }),
    });
    const txn = etcdserverpb.TxnRequest.fromPartial({
      success: [opPut("a", "1"), opPut("b", "22"), nested],
      failure: [opPut("c", "333"), etcdserverpb.RequestOp.fromPartial({ requestRange: { key: Buffer.from("r") } })],
    });
    expect(costTxn(txn)).toBe(2 * 256 + 2 + 3);
    expect(costTxn(etcdserverpb.TxnRequest.fromPartial({}))).toBe(0);
  });

  it("reads --quota-backend-bytes as etcd: 0 is the 2 GiB default, negative is no quota", () => {
    expect(quotaBytes(0)).toBe(DEFAULT_QUOTA_BYTES);
    expect(quotaBytes(-1)).toBeUndefined();
    expect(quotaBytes(1024)).toBe(1024);
  });

  it("formats sizes as go-humanize's Bytes", () => {
    expect(humanizeBytes(0)).toBe("0 B");
    expect(humanizeBytes(9)).toBe("9 B");
    expect(humanizeBytes(512)).toBe("512 B");
    expect(humanizeBytes(1024 * 1024)).toBe("1.0 MB");
    expect(humanizeBytes(16 * 1024 * 1024)).toBe("17 MB");
    expect(humanizeBytes(DEFAULT_QUOTA_BYTES)).toBe("2.1 GB");
    expect(humanizeBytes(8 * 1024 * 1024 * 1024)).toBe("8.6 GB");
    // %.0f rounds an exact half to even, as Go's fmt does (etcdctl snapshot status: 20480 -> "20 kB").
    expect(humanizeBytes(20480)).toBe("20 kB");
    expect(humanizeBytes(21500)).toBe("22 kB");
    expect(humanizeBytes(20600)).toBe("21 kB");
  });
});

describe("BackendQuota", () => {
  it("lets a request through while size + cost stays below the quota; costless requests always", () => {
    let size = 900;
    const q = new BackendQuota(1000, () => size);
    expect(q.available(99)).toBe(true);
    expect(q.available(100)).toBe(false); // etcd: size + cost < quota
    expect(q.available(0)).toBe(true);
    size = 2000;
    expect(q.available(0)).toBe(true);
    expect(q.remaining()).toBe(-1000);
  });

  it("has no limit without a quota", () => {
    const q = new BackendQuota(undefined, () => Number.MAX_SAFE_INTEGER);
    expect(q.available(1e9)).toBe(true);
    expect(q.remaining()).toBe(1);
  });
});

describe("QuotaAlarmer", () => {
  function alarmer(size: number): { a: QuotaAlarmer; raises: number; release: () => void; warnings: string[]; raised: { v: boolean } } {
    const state = { raises: 0, release: () => undefined as void, warnings: [] as string[], raised: { v: false } };
    const a = new QuotaAlarmer(
      new BackendQuota(1000, () => size),
      () => {
        state.raises++;
        return new Promise<void>((r) => {
          state.release = () => {
            state.raised.v = true;
            r();
          };
        });
      },
      () => state.raised.v,
      (msg) => state.warnings.push(msg),
    );
    return {
      a,
      get raises() {
        return state.raises;
      },
      release: () => state.release(),
      warnings: state.warnings,
      raised: state.raised,
    };
  }

  it("passes requests that fit without raising anything", async () => {
    const t = alarmer(100);
    await t.a.check(100);
    expect(t.raises).toBe(0);
  });

  it("raises the alarm once for concurrent requests that do not fit, and fails each after it is raised", async () => {
    const t = alarmer(990);
    let settled = 0;
    const checks = [t.a.check(300), t.a.check(400)].map((p) =>
      p.then(
        () => "ok",
        (err: unknown) => {
          settled++;
          return err;
        },
      ),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(0); // they wait for the alarm
    expect(t.raises).toBe(1);
    t.release();
    expect(await Promise.all(checks)).toEqual([Errors.noSpace, Errors.noSpace]);
  });

  it("raises from the apply path only while no NOSPACE alarm is raised, with etcd's warning", async () => {
    const t = alarmer(990);
    t.a.exceeded();
    t.a.exceeded();
    expect(t.raises).toBe(1);
    expect(t.warnings).toEqual(["message exceeded backend quota; raising alarm"]);
    const waited = t.a.settled();
    t.release();
    await waited;
    t.a.exceeded();
    expect(t.raises).toBe(1);
  });
});

describe("BackendSize", () => {
  it("serves the last measurement and measures again on refresh", async () => {
    let disk = 10;
    const s = new BackendSize(async () => disk, 1_000_000);
    await s.start();
    expect(s.get()).toBe(10);
    disk = 20;
    expect(s.get()).toBe(10);
    await s.refresh();
    expect(s.get()).toBe(20);
    s.stop();
  });

  it("measures in the background every interval", async () => {
    let disk = 1;
    const s = new BackendSize(async () => disk, 5);
    await s.start();
    disk = 2;
    await new Promise((r) => setTimeout(r, 50));
    expect(s.get()).toBe(2);
    s.stop();
  });

  it("adds the bytes written since the last measurement began", async () => {
    let disk = 100;
    let written = 0;
    let release = (): void => undefined;
    let slow = false;
    const s = new BackendSize(
      () => (slow ? new Promise<number>((r) => (release = () => r(disk))) : Promise.resolve(disk)),
      1_000_000,
      undefined,
      () => written,
    );
    await s.start();
    expect(s.get()).toBe(100);
    written = 30;
    expect(s.get()).toBe(130);
    // A measurement counts the writes made before it began; those made while it ran stay added.
    slow = true;
    const refreshed = s.refresh();
    written = 50;
    disk = 140;
    release();
    await refreshed;
    expect(s.get()).toBe(140 + 20);
    s.stop();
  });

  it("starts no timer when stopped during its first measurement", async () => {
    let measured = 0;
    let release = (): void => undefined;
    const s = new BackendSize(
      () =>
        new Promise<number>((r) => {
          measured++;
          release = () => r(1);
        }),
      5,
    );
    const started = s.start();
    s.stop();
    release();
    await started;
    await new Promise((r) => setTimeout(r, 40));
    expect(measured).toBe(1);
  });

  it("keeps the last size when a measurement fails", async () => {
    let fail = false;
    const errors: unknown[] = [];
    const s = new BackendSize(
      async () => {
        if (fail) throw new Error("gone");
        return 7;
      },
      1_000_000,
      (e) => errors.push(e),
    );
    await s.start();
    fail = true;
    await s.refresh();
    expect(s.get()).toBe(7);
    expect(errors).toHaveLength(1);
    s.stop();
  });
});
