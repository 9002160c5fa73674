import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { authpb, etcdserverpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Etcd } from "../embed.js";
import { specs, startCluster, stopAll, until } from "../testing/cluster.js";

/**
 * The permission matrix: every API path auth guards, tried by a caller with no credentials,
 * a user with no role, users with read-only, write-only and readwrite permission on the
 * prefix "p/", and root. A call must succeed exactly when the model says the caller may make
 * it, and otherwise fail with etcd's error ("user name is empty" without credentials,
 * "permission denied" for a user). Zero unexpected allows, zero unexpected refusals.
 */

const b = (s: string): Buffer => Buffer.from(s);
const { READ, WRITE, READWRITE } = authpb.Permission_Type;

type Caller = "none" | "norole" | "ro" | "wo" | "rw" | "root";
const CALLERS: Caller[] = ["none", "norole", "ro", "wo", "rw", "root"];

/** Need is what a call needs: keys read or written (in or outside p/), or the root role; "any" for calls auth does not guard in etcd 3.4. */
type Need = { read?: boolean; write?: boolean; outside?: boolean; admin?: boolean; any?: boolean };

function allowed(c: Caller, n: Need): boolean {
  if (n.any === true) return true;
  if (c === "root") return true;
  if (n.admin === true || n.outside === true) return false;
  const canRead = c === "ro" || c === "rw";
  const canWrite = c === "wo" || c === "rw";
  return (n.read !== true || canRead) && (n.write !== true || canWrite);
}

let member: Etcd;
let addr = "";
const tokens = new Map<Caller, string>();

function md(c: Caller): Metadata {
  const m = new Metadata();
  const t = tokens.get(c);
  if (t !== undefined) m.set("token", t);
  return m;
}

type Unary<Req, Res> = (req: Req, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown;
const call = <Req, Res>(fn: Unary<Req, Res>, req: Req, m: Metadata): Promise<Res> =>
  new Promise((resolve, reject) => fn(req, m, (err, res) => (err !== null ? reject(err) : resolve(res))));

let kv: etcdserverpb.KVClient;
let auth: etcdserverpb.AuthClient;
let lease: etcdserverpb.LeaseClient;
let maint: etcdserverpb.MaintenanceClient;
let cluster: etcdserverpb.ClusterClient;
let watch: etcdserverpb.WatchClient;

const put = (key: string, extra: Partial<etcdserverpb.PutRequest> = {}) => etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b("v"), ...extra });
const txn = (r: Parameters<typeof etcdserverpb.TxnRequest.fromPartial>[0]) => etcdserverpb.TxnRequest.fromPartial(r);

/** watchCreate opens a stream as c and reports whether a watch on [key, end) was created (not canceled). */
async function watchCreate(c: Caller, key: string, end: string): Promise<void> {
  const stream = watch.watch(md(c));
  stream.on("error", () => undefined);
  const answer = new Promise<etcdserverpb.WatchResponse>((resolve) => stream.once("data", resolve));
  stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b(key), rangeEnd: b(end) } }));
  const r = await answer;
  stream.cancel();
  if (r.canceled) throw Object.assign(new Error(r.cancelReason), { details: r.cancelReason.replace(/^rpc error: code = \w+ desc = /, "") });
}

/** OPS: each call, what it needs, and how to make it as a caller. */
const OPS: { name: string; need: Need; run: (c: Caller) => Promise<unknown> }[] = [
  { name: "get key", need: { read: true }, run: (c) => call(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: b("p/1") }), md(c)) },
  { name: "get prefix", need: { read: true }, run: (c) => call(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: b("p/"), rangeEnd: b("p0") }), md(c)) },
  { name: "get serializable", need: { read: true }, run: (c) => call(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: b("p/1"), serializable: true }), md(c)) },
  { name: "get outside", need: { outside: true }, run: (c) => call(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: b("q/1") }), md(c)) },
  { name: "get prefix wider than p/", need: { outside: true }, run: (c) => call(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: b("p"), rangeEnd: b("q") }), md(c)) },
  { name: "get from-key", need: { outside: true }, run: (c) => call(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: b("p/"), rangeEnd: b("\x00") }), md(c)) },
  { name: "put", need: { write: true }, run: (c) => call(kv.put.bind(kv), put("p/1"), md(c)) },
  { name: "put prev_kv", need: { write: true, read: true }, run: (c) => call(kv.put.bind(kv), put("p/1", { prevKv: true }), md(c)) },
  { name: "put outside", need: { outside: true }, run: (c) => call(kv.put.bind(kv), put("q/1"), md(c)) },
  { name: "delete", need: { write: true }, run: (c) => call(kv.deleteRange.bind(kv), etcdserverpb.DeleteRangeRequest.fromPartial({ key: b("p/x") }), md(c)) },
  {
    name: "delete prefix prev_kv",
    need: { write: true, read: true },
    run: (c) => call(kv.deleteRange.bind(kv), etcdserverpb.DeleteRangeRequest.fromPartial({ key: b("p/x/"), rangeEnd: b("p/x0"), prevKv: true }), md(c)),
  },
  {
    name: "txn compare and put",
    need: { read: true, write: true },
    run: (c) => call(kv.txn.bind(kv), txn({ compare: [{ key: b("p/1"), target: etcdserverpb.Compare_CompareTarget.VERSION, version: 0n }], success: [{ requestPut: put("p/2") }] }), md(c)),
  },
  { name: "txn read-only", need: { read: true }, run: (c) => call(kv.txn.bind(kv), txn({ success: [{ requestRange: { key: b("p/1") } }] }), md(c)) },
  { name: "txn compare outside", need: { outside: true }, run: (c) => call(kv.txn.bind(kv), txn({ compare: [{ key: b("q/1"), target: etcdserverpb.Compare_CompareTarget.VERSION, version: 0n }] }), md(c)) },
  { name: "txn failure branch outside", need: { outside: true }, run: (c) => call(kv.txn.bind(kv), txn({ failure: [{ requestPut: put("q/1") }] }), md(c)) },
  { name: "nested txn put", need: { write: true }, run: (c) => call(kv.txn.bind(kv), txn({ success: [{ requestTxn: { success: [{ requestPut: put("p/3") }] } }] }), md(c)) },
  { name: "nested txn outside", need: { outside: true }, run: (c) => call(kv.txn.bind(kv), txn({ success: [{ requestTxn: { failure: [{ requestDeleteRange: { key: b("q/1") } }] } }] }), md(c)) },
  { name: "watch prefix", need: { read: true }, run: (c) => watchCreate(c, "p/", "p0") },
  { name: "watch outside", need: { outside: true }, run: (c) => watchCreate(c, "q/", "q0") },
  {
    name: "lease revoke (a key in p/ attached)",
    need: { write: true },
    run: async (c) => {
      const l = await call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(lease.leaseGrant.bind(lease), { ID: 0n, TTL: 100n }, md("root"));
      await call(kv.put.bind(kv), put("p/leased", { lease: l.ID }), md("root"));
      return call(lease.leaseRevoke.bind(lease), { ID: l.ID }, md(c));
    },
  },
  { name: "user list", need: { admin: true }, run: (c) => call(auth.userList.bind(auth), {}, md(c)) },
  { name: "role add", need: { admin: true }, run: (c) => call(auth.roleAdd.bind(auth), { name: `r-${c}-${Math.random()}` }, md(c)) },
  { name: "defragment", need: { admin: true }, run: (c) => call(maint.defragment.bind(maint), {}, md(c)) },
  { name: "hash kv", need: { admin: true }, run: (c) => call(maint.hashKv.bind(maint), { revision: 0n }, md(c)) },
  { name: "member update (of a member that does not exist)", need: { admin: true }, run: (c) => call(cluster.memberUpdate.bind(cluster), { ID: 12345n, peerURLs: ["http://127.0.0.1:1"] }, md(c)) },
  // etcd 3.4 guards neither: any caller may read the status or compact.
  { name: "status", need: { any: true }, run: (c) => call(maint.status.bind(maint), {}, md(c)) },
  {
    name: "compact",
    need: { any: true },
    run: async (c) => {
      const r = await call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(kv.put.bind(kv), put("p/c"), md("root"));
      return call(kv.compact.bind(kv), { revision: r.header?.revision ?? 0n, physical: false }, md(c));
    },
  },
];

beforeAll(async () => {
  [member] = (await startCluster(1, ["--bcrypt-cost", "4"])) as [Etcd];
  addr = (specs.get(member)?.clientUrl ?? "").replace("http://", "");
  const cr = credentials.createInsecure();
  kv = new etcdserverpb.KVClient(addr, cr);
  auth = new etcdserverpb.AuthClient(addr, cr);
  lease = new etcdserverpb.LeaseClient(addr, cr);
  maint = new etcdserverpb.MaintenanceClient(addr, cr);
  cluster = new etcdserverpb.ClusterClient(addr, cr);
  watch = new etcdserverpb.WatchClient(addr, cr);
  const none = new Metadata();
  const A = <Req>(fn: Unary<Req, unknown>, req: Req) => call(fn, req, none);
  await A(auth.userAdd.bind(auth), { name: "root", password: "pw", options: undefined });
  await A(auth.userGrantRole.bind(auth), { user: "root", role: "root" });
  for (const [role, permType] of [["ro", READ], ["wo", WRITE], ["rw", READWRITE]] as const) {
    await A(auth.roleAdd.bind(auth), { name: role });
    await A(auth.roleGrantPermission.bind(auth), { name: role, perm: { permType, key: b("p/"), rangeEnd: b("p0") } });
  }
  for (const u of ["norole", "ro", "wo", "rw"]) await A(auth.userAdd.bind(auth), { name: u, password: "pw", options: undefined });
  for (const u of ["ro", "wo", "rw"]) await A(auth.userGrantRole.bind(auth), { user: u, role: u });
  await A(kv.put.bind(kv), put("p/1"));
  await A(auth.authEnable.bind(auth), {});
  for (const c of CALLERS) {
    if (c === "none") continue;
    const r = await call<etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse>(auth.authenticate.bind(auth), { name: c, password: "pw" }, none);
    tokens.set(c, r.token);
  }
  await until(() => tokens.size === 5);
}, 30_000);

afterAll(async () => {
  for (const c of [kv, auth, lease, maint, cluster, watch]) c?.close();
  await stopAll();
});

describe("the auth permission matrix", () => {
  it("allows exactly what each caller may do and refuses the rest with etcd's error", async () => {
    const wrong: string[] = [];
    for (const op of OPS) {
      for (const c of CALLERS) {
        const want = allowed(c, op.need);
        let err: (Error & { details?: string }) | undefined;
        try {
          await op.run(c);
        } catch (e) {
          err = e as Error & { details?: string };
        }
        // A member update of an unknown member fails after the check: that is an allow.
        const refusal = err !== undefined && ["etcdserver: permission denied", "etcdserver: user name is empty"].includes(err.details ?? "");
        if (want && err !== undefined && (refusal || !op.name.startsWith("member update"))) wrong.push(`${c} ${op.name}: refused (${err.details ?? err.message})`);
        if (!want && !refusal) wrong.push(`${c} ${op.name}: ${err === undefined ? "allowed" : `failed otherwise (${err.details ?? err.message})`}`);
        if (!want && refusal) {
          const expected = c === "none" ? "etcdserver: user name is empty" : "etcdserver: permission denied";
          if (err?.details !== expected) wrong.push(`${c} ${op.name}: ${err?.details} instead of ${expected}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);
});
