import { afterEach, describe, expect, it } from "vitest";
import { etcdserverpb } from "@etcd-ts/proto";
import type { EtcdServer } from "./etcd_server.js";
import { Errors } from "./errors.js";
import { minLeaseTtl } from "./bootstrap.js";
import { openMember, removeDataDirs, tmpDataDir } from "./testing/member.js";

const b = (s: string): Buffer => Buffer.from(s);
const open: EtcdServer[] = [];

async function member(dir = tmpDataDir(), extra: string[] = []): Promise<EtcdServer> {
  const s = await openMember(dir, ["--heartbeat-interval", "20", "--election-timeout", "200", ...extra]);
  open.push(s);
  return s;
}

afterEach(async () => {
  for (const s of open.splice(0)) await s.stop().catch(() => undefined);
  removeDataDirs();
});

const put = (s: EtcdServer, key: string, lease = 0n) => s.put(etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b("v"), lease }));
const get = async (s: EtcdServer, key: string) => (await s.range(etcdserverpb.RangeRequest.fromPartial({ key: b(key) }))).kvs[0];
const until = async (cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("minLeaseTtl", () => {
  it("is one and a half election timeouts in whole ticks, rounded up to seconds (etcd's minTTL)", () => {
    expect(minLeaseTtl(1000, 100)).toBe(2); // etcd's defaults: 15 ticks of 100ms = 1.5s -> 2s
    expect(minLeaseTtl(200, 20)).toBe(1);
    expect(minLeaseTtl(5000, 500)).toBe(8);
    expect(minLeaseTtl(1050, 100)).toBe(2); // 10 ticks (integer division), as etcd counts them
  });
});

describe("leases on a member", () => {
  it("grants with a server-chosen positive ID or the client's, and refuses an existing ID or a too large TTL", async () => {
    const s = await member();
    const g = await s.leaseGrant({ ID: 0n, TTL: 30n });
    expect(g.ID).toBeGreaterThan(0n);
    expect(g.ID).toBeLessThan(1n << 63n);
    expect(g.TTL).toBe(30n);
    expect(g.header?.revision).toBe(1n);
    const mine = await s.leaseGrant({ ID: 0x1234n, TTL: 30n });
    expect(mine.ID).toBe(0x1234n);
    await expect(s.leaseGrant({ ID: 0x1234n, TTL: 30n })).rejects.toBe(Errors.leaseExist);
    await expect(s.leaseGrant({ ID: 0x99n, TTL: 9_000_000_001n })).rejects.toBe(Errors.leaseTTLTooLarge);
    // Below the minimum (and negative) TTLs are raised to it, as etcd does.
    expect((await s.leaseGrant({ ID: 0x98n, TTL: -5n })).TTL).toBe(1n);
    expect(s.leaseLeases().leases.map((l) => l.ID).sort()).toEqual([0x98n, 0x1234n, g.ID].sort());
  });

  it("attaches keys to a lease, answers TimeToLive with them, and revoking deletes them in one revision", async () => {
    const s = await member();
    await s.leaseGrant({ ID: 7n, TTL: 60n });
    await put(s, "a", 7n);
    await put(s, "b", 7n);
    await put(s, "c");
    const ttl = await s.leaseTimeToLive({ ID: 7n, keys: true });
    expect(ttl.grantedTTL).toBe(60n);
    expect(ttl.TTL).toBeGreaterThan(55n);
    expect(ttl.TTL).toBeLessThanOrEqual(60n);
    expect(ttl.keys.map(String)).toEqual(["a", "b"]);
    // Overwriting a key without the lease detaches it.
    await put(s, "b");
    expect((await s.leaseTimeToLive({ ID: 7n, keys: true })).keys.map(String)).toEqual(["a"]);
    await put(s, "d", 7n);
    const before = s.kv.currentRevision;
    const r = await s.leaseRevoke({ ID: 7n });
    expect(r.header?.revision).toBe(before + 1n);
    expect(await get(s, "a")).toBeUndefined();
    expect(await get(s, "d")).toBeUndefined();
    expect((await get(s, "b"))?.lease).toBe(0n);
    expect(await get(s, "c")).toBeDefined();
    await expect(s.leaseRevoke({ ID: 7n })).rejects.toBe(Errors.leaseNotFound);
    await expect(s.leaseTimeToLive({ ID: 7n, keys: false })).rejects.toBe(Errors.leaseNotFound);
    await expect(put(s, "e", 7n)).rejects.toBe(Errors.leaseNotFound);
    await expect(s.leaseRenew(7n)).rejects.toBe(Errors.leaseNotFound);
  });

  it("revoking a lease with no keys changes no revision", async () => {
    const s = await member();
    await s.leaseGrant({ ID: 8n, TTL: 60n });
    const rev = s.kv.currentRevision;
    expect((await s.leaseRevoke({ ID: 8n })).header?.revision).toBe(rev);
  });

  it("expires a lease that is not kept alive and deletes its keys; keep-alives hold it", async () => {
    const s = await member();
    await s.leaseGrant({ ID: 1n, TTL: 1n });
    await s.leaseGrant({ ID: 2n, TTL: 1n });
    await put(s, "gone", 1n);
    await put(s, "kept", 2n);
    const t0 = Date.now();
    const keeper = setInterval(() => void s.leaseRenew(2n).catch(() => undefined), 250);
    try {
      await until(async () => (await get(s, "gone")) === undefined, 5000);
      // TTL 1s, checked every 500ms: gone within TTL plus a pass or two.
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await get(s, "kept")).toBeDefined();
      expect(s.leaseLeases().leases.map((l) => l.ID)).toEqual([2n]);
    } finally {
      clearInterval(keeper);
    }
    expect(await s.leaseRenew(2n)).toBe(1n);
  });

  it("answers a keep-alive of an expired lease 'not found' only once its revoke is applied (its keys are gone then)", async () => {
    const s = await member();
    for (let i = 0; i < 3; i++) {
      const id = BigInt(100 + i);
      await s.leaseGrant({ ID: id, TTL: 1n });
      await put(s, `exp/${i}`, id);
      // Past the expiry, usually before the leader's expiry pass has revoked it.
      await new Promise((r) => setTimeout(r, 1050));
      await expect(s.leaseRenew(id)).rejects.toBe(Errors.leaseNotFound);
      expect(await get(s, `exp/${i}`)).toBeUndefined();
    }
  });

  it("keeps leases and their keys across a restart, resuming from the checkpointed remaining TTL", async () => {
    const dir = tmpDataDir();
    // Checkpoints happen with or without etcd's flag; it is accepted.
    let s = await member(dir, ["--experimental-enable-lease-checkpoint"]);
    await s.leaseGrant({ ID: 5n, TTL: 60n });
    await put(s, "k", 5n);
    // Let a checkpoint (every 5s) record the remaining TTL.
    await new Promise((r) => setTimeout(r, 6500));
    await s.stop();
    open.splice(open.indexOf(s), 1);
    s = await member(dir);
    const ttl = await s.leaseTimeToLive({ ID: 5n, keys: true });
    expect(ttl.keys.map(String)).toEqual(["k"]);
    // Not reset to 60s: about 60 - 6.5 (plus the election timeout a new leader adds).
    expect(ttl.TTL).toBeLessThanOrEqual(55n);
    expect(ttl.TTL).toBeGreaterThanOrEqual(50n);
    await s.leaseRevoke({ ID: 5n });
    expect(await get(s, "k")).toBeUndefined();
  }, 20_000);

  it("a txn put names a lease that must exist on the executed branch", async () => {
    const s = await member();
    await s.leaseGrant({ ID: 3n, TTL: 60n });
    const txn = (lease: bigint) =>
      s.txn(etcdserverpb.TxnRequest.fromPartial({ success: [{ requestPut: { key: b("t"), value: b("v"), lease } }] }));
    await txn(3n);
    expect((await s.leaseTimeToLive({ ID: 3n, keys: true })).keys.map(String)).toEqual(["t"]);
    await expect(txn(4n)).rejects.toBe(Errors.leaseNotFound);
    // Deleting the key in a txn detaches it.
    await s.txn(etcdserverpb.TxnRequest.fromPartial({ success: [{ requestDeleteRange: { key: b("t") } }] }));
    expect((await s.leaseTimeToLive({ ID: 3n, keys: true })).keys).toEqual([]);
  });
});
