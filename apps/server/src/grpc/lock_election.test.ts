import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb, v3electionpb, v3lockpb } from "@etcd-ts/proto";
import type { Etcd } from "../embed.js";
import { startCluster, stopAll, until } from "../testing/cluster.js";

/**
 * The Lock and Election services over gRPC on one in-process member: etcd 3.4's v3lock and
 * v3election (concurrency.Mutex and concurrency.Election on the caller's lease).
 */

const b = (s: string): Buffer => Buffer.from(s);

let e: Etcd;
let address = "";
let kv: etcdserverpb.KVClient;
let leaseC: etcdserverpb.LeaseClient;
let authC: etcdserverpb.AuthClient;
let lockC: v3lockpb.LockClient;
let elC: v3electionpb.ElectionClient;

beforeAll(async () => {
  [e] = (await startCluster(1)) as [Etcd];
  const client = e.server.membership.members.get(e.server.memberId)?.clientUrls[0] as string;
  address = client.replace("http://", "");
  const cr = credentials.createInsecure();
  kv = new etcdserverpb.KVClient(address, cr);
  leaseC = new etcdserverpb.LeaseClient(address, cr);
  authC = new etcdserverpb.AuthClient(address, cr);
  lockC = new v3lockpb.LockClient(address, cr);
  elC = new v3electionpb.ElectionClient(address, cr);
});

afterAll(async () => {
  for (const c of [kv, leaseC, authC, lockC, elC]) c?.close();
  await stopAll();
});

/** Pending is one unary call in flight: its answer (or error) and a way to cancel it. */
interface Pending<T> {
  done: Promise<T>;
  settled: () => boolean;
  cancel: () => void;
}

type Unary = (req: unknown, md: Metadata, cb: (err: ServiceError | null, r: unknown) => void) => { cancel(): void };

function start<T>(client: object, method: string, req: unknown, md = new Metadata()): Pending<T> {
  let settled = false;
  let call: { cancel(): void } | undefined;
  const done = new Promise<T>((resolve, reject) => {
    const fn = (client as Record<string, Unary>)[method] as Unary;
    call = fn.call(client, req, md, (err, r) => {
      settled = true;
      if (err) reject(err);
      else resolve(r as T);
    });
  });
  done.catch(() => undefined);
  return { done, settled: () => settled, cancel: () => call?.cancel() };
}

const rpc = <T>(client: object, method: string, req: unknown, md?: Metadata): Promise<T> => start<T>(client, method, req, md).done;

const grant = async (ttl = 60n): Promise<bigint> =>
  (await rpc<etcdserverpb.LeaseGrantResponse>(leaseC, "leaseGrant", etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: ttl }))).ID;
const revoke = (id: bigint) => rpc(leaseC, "leaseRevoke", { ID: id });
const keys = async (prefix: string): Promise<string[]> => {
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] as number) + 1;
  const r = await rpc<etcdserverpb.RangeResponse>(kv, "range", etcdserverpb.RangeRequest.fromPartial({ key: b(prefix), rangeEnd: end }));
  return r.kvs.map((x) => x.key.toString());
};
const lock = (name: string, lease: bigint, md?: Metadata) => start<v3lockpb.LockResponse>(lockC, "lock", { name: b(name), lease }, md);
const unlock = (key: Buffer) => rpc<v3lockpb.UnlockResponse>(lockC, "unlock", { key });
const campaign = (name: string, lease: bigint, value: string) =>
  start<v3electionpb.CampaignResponse>(elC, "campaign", { name: b(name), lease, value: b(value) });

/** failure is the gRPC error a promise rejects with (its code and message). */
async function failure(p: Promise<unknown>): Promise<{ code: number | undefined; details: string | undefined }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as ServiceError).code, details: (err as ServiceError).details };
  }
  throw new Error("expected the call to fail");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Lock service", () => {
  it("grants the lock in create-revision order, each waiter once the keys before it are deleted", async () => {
    const [la, lb, lc] = [await grant(), await grant(), await grant()];
    const a = await lock("order", la).done;
    expect(a.key.toString()).toBe(`order/${la.toString(16)}`);
    expect(a.header?.memberId).toBe(e.server.memberId);
    const pb = lock("order", lb);
    await until(async () => (await keys("order/")).length === 2);
    const pc = lock("order", lc);
    await until(async () => (await keys("order/")).length === 3);
    await sleep(100);
    expect(pb.settled()).toBe(false);
    expect(pc.settled()).toBe(false);

    const u = await unlock(a.key);
    const gotB = await pb.done;
    expect(gotB.key.toString()).toBe(`order/${lb.toString(16)}`);
    // The header is the one of the read that found no older key: at or after the unlock.
    expect(gotB.header?.revision).toBeGreaterThanOrEqual(u.header?.revision as bigint);
    await sleep(100);
    expect(pc.settled()).toBe(false);
    await unlock(gotB.key);
    expect((await pc.done).key.toString()).toBe(`order/${lc.toString(16)}`);
    await unlock(b(`order/${lc.toString(16)}`));
    expect(await keys("order/")).toEqual([]);
  });

  it("answers at once, with the held key, when the same lease locks the name again", async () => {
    const l = await grant();
    const first = await lock("again", l).done;
    const second = await lock("again", l).done;
    expect(second.key).toEqual(first.key);
    expect(second.header?.revision).toBe(first.header?.revision);
  });

  it("deletes the key of a waiter whose call is cancelled, and frees its watcher", async () => {
    const w = e.server.watchable;
    const [streams, watchers] = [w.streamCount, w.syncedCount + w.unsyncedCount];
    const [la, lb] = [await grant(), await grant()];
    const a = await lock("cancel", la).done;
    const pb = lock("cancel", lb);
    await until(async () => (await keys("cancel/")).length === 2);
    // One watch stream with one watcher (on the key before it) while it waits.
    await until(() => w.streamCount === streams + 1 && w.syncedCount + w.unsyncedCount === watchers + 1);
    pb.cancel();
    expect((await failure(pb.done)).code).toBe(status.CANCELLED);
    await until(async () => (await keys("cancel/")).length === 1);
    expect(await keys("cancel/")).toEqual([a.key.toString()]);
    await until(() => w.streamCount === streams && w.syncedCount + w.unsyncedCount === watchers);
    // The waiter's watcher is gone with it: a later locker gets the lock once the holder unlocks.
    const lc = await grant();
    const pc = lock("cancel", lc);
    await until(async () => (await keys("cancel/")).length === 2);
    await unlock(a.key);
    expect((await pc.done).key.toString()).toBe(`cancel/${lc.toString(16)}`);
  });

  it("hands the lock over when the holder's lease is revoked or expires", async () => {
    const [la, lb] = [await grant(), await grant()];
    await lock("revoke", la).done;
    const pb = lock("revoke", lb);
    await until(async () => (await keys("revoke/")).length === 2);
    await revoke(la);
    expect((await pb.done).key.toString()).toBe(`revoke/${lb.toString(16)}`);

    const short = await grant(1n);
    const lc = await grant();
    await lock("expire", short).done;
    const pc = lock("expire", lc);
    await until(async () => (await keys("expire/")).length === 2);
    const got = await pc.done;
    expect(got.key.toString()).toBe(`expire/${lc.toString(16)}`);
    expect(await keys("expire/")).toEqual([`expire/${lc.toString(16)}`]);
  });

  it("grants a 60 s lease for lease 0, and reports a missing lease and an empty unlock key as etcd does (Unknown)", async () => {
    const r = await lock("zero", 0n).done;
    const id = BigInt(`0x${r.key.toString().slice("zero/".length)}`);
    const ttl = await rpc<etcdserverpb.LeaseTimeToLiveResponse>(leaseC, "leaseTimeToLive", { ID: id, keys: true });
    expect(ttl.grantedTTL).toBe(60n);
    expect(ttl.keys.map((k) => k.toString())).toEqual([r.key.toString()]);
    expect(await failure(lock("missing", 0x1234n).done)).toEqual({ code: status.UNKNOWN, details: "etcdserver: requested lease not found" });
    expect(await failure(unlock(Buffer.alloc(0)))).toEqual({ code: status.UNKNOWN, details: "etcdserver: key is not provided" });
    const u = await unlock(b("zero/nothing"));
    expect(u.header?.revision).toBe(r.header?.revision);
  });
});

describe("Election service", () => {
  it("campaigns, proclaims, answers the leader, resigns, and hands leadership to the next candidate", async () => {
    expect(await failure(rpc(elC, "leader", { name: b("el") }))).toEqual({ code: status.UNKNOWN, details: "election: no leader" });
    const [la, lb] = [await grant(), await grant()];
    const ca = await campaign("el", la, "a").done;
    const keyA = `el/${la.toString(16)}`;
    expect(ca.leader).toEqual({ name: b("el"), key: b(keyA), rev: ca.header?.revision, lease: la });

    const pb = campaign("el", lb, "b");
    await until(async () => (await keys("el/")).length === 2);
    await sleep(100);
    expect(pb.settled()).toBe(false);

    const p = await rpc<v3electionpb.ProclaimResponse>(elC, "proclaim", { leader: ca.leader, value: b("a2") });
    const leader = await rpc<v3electionpb.LeaderResponse>(elC, "leader", { name: b("el") });
    expect(leader.kv?.value.toString()).toBe("a2");
    expect(leader.kv?.createRevision).toBe(ca.leader?.rev);
    expect(leader.header?.revision).toBe(p.header?.revision);

    // Proclaim and Resign compare the key's create revision.
    const stale = { ...(ca.leader as v3electionpb.LeaderKey), rev: (ca.leader?.rev as bigint) + 100n };
    expect(await failure(rpc(elC, "proclaim", { leader: stale, value: b("x") }))).toEqual({ code: status.UNKNOWN, details: "election: not leader" });
    const noop = await rpc<v3electionpb.ResignResponse>(elC, "resign", { leader: stale });
    expect(noop.header?.revision).toBe(p.header?.revision);
    expect(await failure(rpc(elC, "proclaim", { value: b("x") }))).toEqual({ code: status.UNKNOWN, details: '"leader" field must be provided' });
    expect(await failure(rpc(elC, "resign", {}))).toEqual({ code: status.UNKNOWN, details: '"leader" field must be provided' });

    await rpc(elC, "resign", { leader: ca.leader });
    const cb = await pb.done;
    expect(cb.leader?.key.toString()).toBe(`el/${lb.toString(16)}`);
    expect((await rpc<v3electionpb.LeaderResponse>(elC, "leader", { name: b("el") })).kv?.value.toString()).toBe("b");
    expect(await keys("el/")).toEqual([`el/${lb.toString(16)}`]);
  });

  it("keeps the key of a candidate campaigning again, proclaiming its new value", async () => {
    const l = await grant();
    const first = await campaign("re", l, "v1").done;
    const again = await campaign("re", l, "v2").done;
    expect(again.leader).toEqual(first.leader);
    // The header is the one of the campaign's first txn (before the proclaim), as in etcd.
    expect(again.header?.revision).toBe(first.header?.revision);
    const leader = await rpc<v3electionpb.LeaderResponse>(elC, "leader", { name: b("re") });
    expect(leader.kv?.value.toString()).toBe("v2");
  });

  it("resigns the key of a candidate whose campaign is cancelled", async () => {
    const [la, lb] = [await grant(), await grant()];
    await campaign("cc", la, "a").done;
    const pb = campaign("cc", lb, "b");
    await until(async () => (await keys("cc/")).length === 2);
    pb.cancel();
    await until(async () => (await keys("cc/")).length === 1);
    expect(await keys("cc/")).toEqual([`cc/${la.toString(16)}`]);
  });

  it("observes the leader: the current one, each proclaimed value, then the next leader", async () => {
    const got: v3electionpb.LeaderResponse[] = [];
    const stream: ClientReadableStream<v3electionpb.LeaderResponse> = elC.observe({ name: b("ob") });
    let ended = false;
    stream.on("data", (r: v3electionpb.LeaderResponse) => got.push(r));
    stream.on("error", () => (ended = true));
    stream.on("end", () => (ended = true));
    const [la, lb] = [await grant(), await grant()];
    // No leader yet: the first put under the prefix is the first answer.
    const ca = await campaign("ob", la, "a").done;
    await until(() => got.length === 1);
    expect(got[0]?.kv?.key.toString()).toBe(`ob/${la.toString(16)}`);
    expect(got[0]?.header?.revision).toBe(ca.leader?.rev);
    const pb = campaign("ob", lb, "b");
    await until(async () => (await keys("ob/")).length === 2);
    const p = await rpc<v3electionpb.ProclaimResponse>(elC, "proclaim", { leader: ca.leader, value: b("a2") });
    await until(() => got.length === 2);
    expect(got[1]?.kv?.value.toString()).toBe("a2");
    expect(got[1]?.header?.revision).toBe(p.header?.revision);
    await revoke(la);
    await pb.done;
    await until(() => got.length === 3);
    expect(got[2]?.kv?.key.toString()).toBe(`ob/${lb.toString(16)}`);
    expect(got[2]?.kv?.value.toString()).toBe("b");
    expect(got.map((r) => r.kv?.value.toString())).toEqual(["a", "a2", "b"]);

    // A second observer starts with the current leader.
    const second = await new Promise<v3electionpb.LeaderResponse>((resolve) => {
      const s2 = elC.observe({ name: b("ob") });
      s2.on("data", (r: v3electionpb.LeaderResponse) => {
        resolve(r);
        s2.cancel();
      });
      s2.on("error", () => undefined);
    });
    expect(second.kv?.value.toString()).toBe("b");
    stream.cancel();
    await until(() => ended);
  });
});

describe("Lock and Election with auth", () => {
  it("run as the caller: a user may lock only what it may write, and a bad token is refused as etcd does", async () => {
    const call = <T>(c: object, m: string, req: unknown, md?: Metadata) => rpc<T>(c, m, req, md);
    await call(authC, "userAdd", etcdserverpb.AuthUserAddRequest.fromPartial({ name: "root", password: "rootpw" }));
    await call(authC, "userGrantRole", { user: "root", role: "root" });
    await call(authC, "roleAdd", { name: "locker" });
    await call(authC, "roleGrantPermission", {
      name: "locker",
      perm: { permType: 2, key: b("mine/"), rangeEnd: b("mine0") },
    });
    await call(authC, "userAdd", etcdserverpb.AuthUserAddRequest.fromPartial({ name: "u", password: "upw" }));
    await call(authC, "userGrantRole", { user: "u", role: "locker" });
    await call(authC, "authEnable", {});
    try {
      const tok = await call<etcdserverpb.AuthenticateResponse>(authC, "authenticate", { name: "u", password: "upw" });
      const md = new Metadata();
      md.set("token", tok.token);
      const l = await grant();
      const got = await lock("mine", l, md).done;
      expect(got.key.toString()).toBe(`mine/${l.toString(16)}`);
      expect(await failure(lock("theirs", l, md).done)).toEqual({ code: status.UNKNOWN, details: "etcdserver: permission denied" });
      expect(await failure(lock("mine", l).done)).toEqual({ code: status.UNKNOWN, details: "etcdserver: user name is empty" });
      const bad = new Metadata();
      bad.set("token", "nonsense.1");
      expect(await failure(lock("mine", l, bad).done)).toEqual({ code: status.UNKNOWN, details: "etcdserver: invalid auth token" });
      expect(await failure(rpc(elC, "leader", { name: b("theirs") }, md))).toEqual({ code: status.UNKNOWN, details: "etcdserver: permission denied" });
      expect((await rpc<v3lockpb.UnlockResponse>(lockC, "unlock", { key: got.key }, md)).header?.memberId).toBe(e.server.memberId);
    } finally {
      const root = await call<etcdserverpb.AuthenticateResponse>(authC, "authenticate", { name: "root", password: "rootpw" });
      const md = new Metadata();
      md.set("token", root.token);
      await call(authC, "authDisable", {}, md);
    }
  });
});

describe("when the member stops", () => {
  it("ends waiting Lock, Campaign and Observe calls and frees their watchers", async () => {
    const [la, lb] = [await grant(), await grant()];
    await lock("stop", la).done;
    const pb = lock("stop", lb);
    await campaign("stop-e", la, "a").done;
    const pc = campaign("stop-e", lb, "b");
    const ob = elC.observe({ name: b("stop-e") });
    let observeEnded = false;
    ob.on("data", () => undefined);
    ob.on("error", () => (observeEnded = true));
    ob.on("end", () => (observeEnded = true));
    await until(async () => (await keys("stop/")).length === 2 && (await keys("stop-e/")).length === 2);
    const w = e.server.watchable;
    await until(() => w.streamCount >= 3);
    await e.stop();
    await expect(pb.done).rejects.toBeDefined();
    await expect(pc.done).rejects.toBeDefined();
    await until(() => observeEnded);
    expect(w.streamCount).toBe(0);
  });
});
