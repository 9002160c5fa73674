import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { authpb, etcdserverpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restart, specs, startCluster, stopAll, until } from "../testing/cluster.js";
import type { Etcd } from "../embed.js";

/**
 * Auth on one member through gRPC, as clients use it: users, roles, permissions, simple
 * tokens in the "token" metadata, and etcd's errors for every refusal. Started with
 * "--bcrypt-cost" 4 (fast hashes) and "--auth-token-ttl" 2 (tokens expire in 2 s).
 */

const b = (s: string): Buffer => Buffer.from(s);
const { READ, WRITE, READWRITE } = authpb.Permission_Type;

type Unary<Req, Res> = (req: Req, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown;
const call = <Req, Res>(fn: Unary<Req, Res>, req: Req, token?: string): Promise<Res> => {
  const md = new Metadata();
  if (token !== undefined) md.set("token", token);
  return new Promise((resolve, reject) => fn(req, md, (err, res) => (err !== null ? reject(err) : resolve(res))));
};

let member: Etcd;
let kv: etcdserverpb.KVClient;
let auth: etcdserverpb.AuthClient;
let lease: etcdserverpb.LeaseClient;
let maint: etcdserverpb.MaintenanceClient;
let watch: etcdserverpb.WatchClient;

const A = {
  enable: (t?: string) => call(auth.authEnable.bind(auth), {}, t),
  disable: (t?: string) => call(auth.authDisable.bind(auth), {}, t),
  status: () => call<etcdserverpb.AuthStatusRequest, etcdserverpb.AuthStatusResponse>(auth.authStatus.bind(auth), {}),
  login: async (name: string, password: string) => (await call<etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse>(auth.authenticate.bind(auth), { name, password })).token,
  userAdd: (name: string, password: string, t?: string, noPassword = false) => call(auth.userAdd.bind(auth), { name, password, options: { noPassword } }, t),
  userDelete: (name: string, t?: string) => call(auth.userDelete.bind(auth), { name }, t),
  userGet: (name: string, t?: string) => call<etcdserverpb.AuthUserGetRequest, etcdserverpb.AuthUserGetResponse>(auth.userGet.bind(auth), { name }, t),
  userList: (t?: string) => call<etcdserverpb.AuthUserListRequest, etcdserverpb.AuthUserListResponse>(auth.userList.bind(auth), {}, t),
  passwd: (name: string, password: string, t?: string) => call(auth.userChangePassword.bind(auth), { name, password }, t),
  grant: (user: string, role: string, t?: string) => call(auth.userGrantRole.bind(auth), { user, role }, t),
  revoke: (name: string, role: string, t?: string) => call(auth.userRevokeRole.bind(auth), { name, role }, t),
  roleAdd: (name: string, t?: string) => call(auth.roleAdd.bind(auth), { name }, t),
  roleGet: (role: string, t?: string) => call<etcdserverpb.AuthRoleGetRequest, etcdserverpb.AuthRoleGetResponse>(auth.roleGet.bind(auth), { role }, t),
  roleDelete: (role: string, t?: string) => call(auth.roleDelete.bind(auth), { role }, t),
  perm: (name: string, permType: authpb.Permission_Type, key: string, rangeEnd: string, t?: string) =>
    call(auth.roleGrantPermission.bind(auth), { name, perm: { permType, key: b(key), rangeEnd: b(rangeEnd) } }, t),
  unperm: (role: string, key: string, rangeEnd: string, t?: string) => call(auth.roleRevokePermission.bind(auth), { role, key: b(key), rangeEnd: b(rangeEnd) }, t),
};
const put = (k: string, t?: string, extra: Partial<etcdserverpb.PutRequest> = {}) =>
  call(kv.put.bind(kv), etcdserverpb.PutRequest.fromPartial({ key: b(k), value: b("v"), ...extra }), t);
const get = (k: string, end: string, t?: string) =>
  call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(kv.range.bind(kv), etcdserverpb.RangeRequest.fromPartial({ key: b(k), rangeEnd: b(end) }), t);
const txn = (r: Parameters<typeof etcdserverpb.TxnRequest.fromPartial>[0], t?: string) => call(kv.txn.bind(kv), etcdserverpb.TxnRequest.fromPartial(r), t);

const denied = { code: 7, details: "etcdserver: permission denied" };
const userEmpty = { code: 3, details: "etcdserver: user name is empty" };
const badToken = { code: 16, details: "etcdserver: invalid auth token" };

beforeAll(async () => {
  [member] = (await startCluster(1, ["--bcrypt-cost", "4", "--auth-token-ttl", "2"])) as [Etcd];
  const addr = (specs.get(member)?.clientUrl ?? "").replace("http://", "");
  const c = credentials.createInsecure();
  kv = new etcdserverpb.KVClient(addr, c);
  auth = new etcdserverpb.AuthClient(addr, c);
  lease = new etcdserverpb.LeaseClient(addr, c);
  maint = new etcdserverpb.MaintenanceClient(addr, c);
  watch = new etcdserverpb.WatchClient(addr, c);
}, 30_000);
afterAll(async () => {
  for (const c of [kv, auth, lease, maint, watch]) c?.close();
  await stopAll();
});

describe("auth through gRPC", () => {
  let root = "";
  let alice = "";

  it("refuses auth enable without a root user, then enables it with root holding the root role", async () => {
    await expect(A.enable()).rejects.toMatchObject({ code: 9, details: "etcdserver: root user does not exist" });
    await A.userAdd("root", "rootpw");
    await expect(A.enable()).rejects.toMatchObject({ code: 9, details: "etcdserver: root user does not have root role" });
    await A.grant("root", "root");
    await A.enable();
    expect(await A.status()).toMatchObject({ enabled: true });
    // The hash in the store is Go bcrypt's form at --bcrypt-cost.
    expect(member.server.auth.user("root")?.passwordHash.toString()).toMatch(/^\$2a\$04\$/);
  });

  it("answers a request without credentials 'user name is empty', and a bad password or token etcd's errors", async () => {
    await expect(put("k")).rejects.toMatchObject(userEmpty);
    await expect(get("k", "")).rejects.toMatchObject(userEmpty);
    await expect(A.login("root", "wrong")).rejects.toMatchObject({ code: 3, details: "etcdserver: authentication failed, invalid user ID or password" });
    await expect(A.login("nobody", "x")).rejects.toMatchObject({ code: 3, details: "etcdserver: authentication failed, invalid user ID or password" });
    await expect(put("k", "nosuchtoken.1")).rejects.toMatchObject(badToken);
    await expect(put("k", "malformed")).rejects.toMatchObject(badToken);
    root = await A.login("root", "rootpw");
    expect(root).toMatch(/^[a-zA-Z]{16}\.\d+$/);
    await put("k", root);
  });

  it("gives a user exactly its roles' permissions on keys, ranges and from-key ranges", async () => {
    await A.userAdd("alice", "pw", root);
    await A.roleAdd("reader", root);
    await A.roleAdd("writer", root);
    await A.perm("reader", READ, "r/", "r0", root);
    await A.perm("writer", WRITE, "w/", "w0", root);
    await A.perm("writer", READWRITE, "z", "\x00", root);
    await A.grant("alice", "reader", root);
    await A.grant("alice", "writer", root);
    alice = await A.login("alice", "pw");
    await put("r/1", root);
    expect((await get("r/", "r0", alice)).count).toBe(1n);
    await expect(put("r/1", alice)).rejects.toMatchObject(denied);
    await put("w/1", alice);
    await expect(get("w/1", "", alice)).rejects.toMatchObject(denied);
    await expect(put("w/1", alice, { prevKv: true })).rejects.toMatchObject(denied);
    await put("zz", alice);
    expect((await get("z", "\x00", alice)).count).toBe(1n);
    await expect(get("a", "\x00", alice)).rejects.toMatchObject(denied);
    await expect(get("r/", "s", alice)).rejects.toMatchObject(denied);
    await expect(call(kv.deleteRange.bind(kv), etcdserverpb.DeleteRangeRequest.fromPartial({ key: b("w/"), rangeEnd: b("w0"), prevKv: true }), alice)).rejects.toMatchObject(denied);
    await call(kv.deleteRange.bind(kv), etcdserverpb.DeleteRangeRequest.fromPartial({ key: b("w/"), rangeEnd: b("w0") }), alice);
  });

  it("checks every compare and every op of both txn branches, nested txns included", async () => {
    const readR = { requestRange: { key: b("r/1") } };
    const putW = { requestPut: { key: b("w/2"), value: b("v") } };
    await txn({ compare: [{ key: b("r/1"), target: etcdserverpb.Compare_CompareTarget.VERSION, version: 1n }], success: [putW], failure: [readR] }, alice);
    // A compare on a key alice cannot read.
    await expect(txn({ compare: [{ key: b("k"), target: etcdserverpb.Compare_CompareTarget.VERSION, version: 1n }], success: [putW] }, alice)).rejects.toMatchObject(denied);
    // The branch that does not run is checked too.
    await expect(txn({ success: [putW], failure: [{ requestPut: { key: b("r/1"), value: b("x") } }] }, alice)).rejects.toMatchObject(denied);
    // A read-only txn served locally is checked as well.
    await expect(txn({ success: [{ requestRange: { key: b("k") } }] }, alice)).rejects.toMatchObject(denied);
    // A nested txn's ops are checked.
    await expect(txn({ success: [{ requestTxn: { success: [{ requestPut: { key: b("k"), value: b("x") } }] } }] }, alice)).rejects.toMatchObject(denied);
    await txn({ success: [{ requestTxn: { success: [putW] } }] }, alice);
  });

  it("keeps user and role management, maintenance and member changes to root; a user may read itself and its roles", async () => {
    await expect(A.userAdd("eve", "x", alice)).rejects.toMatchObject(denied);
    await expect(A.userList(alice)).rejects.toMatchObject(denied);
    await expect(A.enable(alice)).rejects.toMatchObject(denied);
    expect((await A.userGet("alice", alice)).roles).toEqual(["reader", "writer"]);
    await expect(A.userGet("root", alice)).rejects.toMatchObject(denied);
    expect((await A.roleGet("reader", alice)).perm).toHaveLength(1);
    await A.roleAdd("other", root);
    await expect(A.roleGet("other", alice)).rejects.toMatchObject(denied);
    await expect(call(maint.defragment.bind(maint), {}, alice)).rejects.toMatchObject(denied);
    await expect(call(maint.hashKv.bind(maint), { revision: 0n }, alice)).rejects.toMatchObject(denied);
    await call(maint.status.bind(maint), {}, alice);
    await call(maint.hashKv.bind(maint), { revision: 0n }, root);
    expect((await A.userList(root)).users).toEqual(["alice", "root"]);
    await expect(A.userDelete("root", root)).rejects.toMatchObject({ code: 3, details: "etcdserver: invalid auth management" });
    await expect(A.revoke("root", "root", root)).rejects.toMatchObject({ code: 3, details: "etcdserver: invalid auth management" });
  });

  it("refuses a watch on keys the user cannot read with a created-and-canceled answer", async () => {
    const md = new Metadata();
    md.set("token", alice);
    const stream = watch.watch(md);
    stream.on("error", () => undefined);
    const answers: etcdserverpb.WatchResponse[] = [];
    stream.on("data", (r: etcdserverpb.WatchResponse) => answers.push(r));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b("k") } }));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b("r/"), rangeEnd: b("r0") } }));
    await until(() => answers.length >= 2);
    stream.cancel();
    expect(answers[0]).toMatchObject({ created: true, canceled: true, watchId: -1n, cancelReason: "rpc error: code = PermissionDenied desc = etcdserver: permission denied" });
    expect(answers[1]).toMatchObject({ created: true, canceled: false });
  });

  it("needs write permission on a lease's keys to revoke it or attach to it", async () => {
    const l = await call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(lease.leaseGrant.bind(lease), { ID: 0n, TTL: 60n }, root);
    await put("k-leased", root, { lease: l.ID });
    await expect(put("w/3", alice, { lease: l.ID })).rejects.toMatchObject(denied);
    await expect(call(lease.leaseRevoke.bind(lease), { ID: l.ID }, alice)).rejects.toMatchObject(denied);
    await call(lease.leaseRevoke.bind(lease), { ID: l.ID }, root);
  });

  it("answers lease keys only to a caller who may read them (CVE-2023-32082), and serves calls etcd leaves unchecked despite a stale token", async () => {
    const l = await call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(lease.leaseGrant.bind(lease), { ID: 0n, TTL: 60n }, root);
    await put("k-ttl", root, { lease: l.ID });
    const ttl = (t?: string, keys = true) =>
      call<etcdserverpb.LeaseTimeToLiveRequest, etcdserverpb.LeaseTimeToLiveResponse>(lease.leaseTimeToLive.bind(lease), { ID: l.ID, keys }, t);
    expect((await ttl(root)).keys.map((k) => Buffer.from(k).toString())).toEqual(["k-ttl"]);
    await expect(ttl(alice)).rejects.toMatchObject(denied);
    await expect(ttl()).rejects.toMatchObject(userEmpty);
    expect((await ttl(undefined, false)).grantedTTL).toBe(60n);
    // A stale token does not stop a login, a status read or a member list (etcd checks none of them).
    expect(await call<etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse>(auth.authenticate.bind(auth), { name: "root", password: "rootpw" }, "stale.1")).toMatchObject({});
    await call(maint.status.bind(maint), {}, "stale.1");
    // A watch with a stale token opens, and each create is canceled with etcd's reason.
    const md = new Metadata();
    md.set("token", "stale.1");
    const stream = watch.watch(md);
    stream.on("error", () => undefined);
    const answer = new Promise<etcdserverpb.WatchResponse>((resolve) => stream.once("data", resolve));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b("r/") } }));
    expect(await answer).toMatchObject({ created: true, canceled: true, cancelReason: "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token" });
    stream.cancel();
  });

  it("stays healthy on /health while auth is on (the health read is the member's own)", async () => {
    const res = await fetch(`${specs.get(member)?.clientUrl}/health`);
    expect([res.status, await res.text()]).toEqual([200, '{"health":"true"}']);
  });

  it("fails a held token at once when its user loses a role, changes password or is deleted", async () => {
    await A.revoke("alice", "reader", root);
    await expect(get("r/", "r0", alice)).rejects.toMatchObject(denied);
    await A.grant("alice", "reader", root);
    await get("r/", "r0", alice);
    await A.unperm("reader", "r/", "r0", root);
    await expect(get("r/", "r0", alice)).rejects.toMatchObject(denied);
    await A.perm("reader", READ, "r/", "r0", root);
    await A.passwd("alice", "pw2", root);
    await expect(get("r/", "r0", alice)).rejects.toMatchObject(badToken);
    await expect(A.login("alice", "pw")).rejects.toMatchObject({ code: 3 });
    alice = await A.login("alice", "pw2");
    await get("r/", "r0", alice);
    await A.roleDelete("reader", root);
    await expect(get("r/", "r0", alice)).rejects.toMatchObject(denied);
    await A.userDelete("alice", root);
    await expect(put("w/1", alice)).rejects.toMatchObject(badToken);
  });

  it("expires a token unused for --auth-token-ttl", async () => {
    const t = await A.login("root", "rootpw");
    await put("k", t);
    await new Promise((r) => setTimeout(r, 2300));
    await expect(put("k", t)).rejects.toMatchObject(badToken);
  });

  it("keeps users, roles and auth on across a restart, and forgets simple tokens, as etcd does", async () => {
    const before = await A.login("root", "rootpw");
    await put("k", before);
    const rev = member.server.auth.revision;
    member = await restart(member);
    expect(member.server.auth.enabled).toBe(true);
    expect(member.server.auth.revision).toBe(rev);
    await until(async () => (await A.status().catch(() => undefined)) !== undefined);
    await expect(put("k", before)).rejects.toMatchObject(badToken);
    root = await A.login("root", "rootpw");
    await put("k", root);
  });

  it("refuses a password login for a no-password user, and drops every token when auth is disabled", async () => {
    root = await A.login("root", "rootpw");
    await A.userAdd("certonly", "", root, true);
    await expect(A.login("certonly", "x")).rejects.toMatchObject({ code: 2, details: "auth: authentication failed, password was given for no password user" });
    await A.disable(root);
    expect(await A.status()).toMatchObject({ enabled: false });
    await put("k");
    await expect(put("k", root)).rejects.toMatchObject(badToken);
    await expect(A.login("root", "rootpw")).rejects.toMatchObject({ code: 9, details: "etcdserver: authentication is not enabled" });
  });
});
