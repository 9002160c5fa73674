import { spawn } from "node:child_process";
import { request } from "node:http";
import { credentials, Metadata, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb, v3electionpb, v3lockpb } from "@etcd-ts/proto";
import { REAL_ETCDCTL, run, until } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";

/**
 * The Lock and Election services compared: the same sequence of gRPC calls (contention,
 * unlock, cancel, revoke, campaign, proclaim, resign, leader, observe, their errors, auth)
 * and of JSON gateway requests against the real etcd 3.4 and etcd-ts, each on a fresh
 * single member, must give the same answers once IDs are normalized: cluster and member IDs
 * and raft terms are masked, lease IDs (in fields and in keys' `%x` suffixes) become labels
 * in order of first appearance; revisions, keys, values, error codes and messages are
 * compared exactly. Then the real etcdctl's client-side `lock` and the server-side Lock RPC
 * exclude each other on etcd-ts.
 */

const b = (s: string): Buffer => Buffer.from(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Norm turns one server's answers into comparable values. */
class Norm {
  private readonly ids = new Map<string, string>();

  /** label is a lease ID's label (L1, L2, ... in order of first appearance). */
  label(id: bigint): string {
    const k = id.toString();
    let l = this.ids.get(k);
    if (l === undefined) {
      l = `L${this.ids.size + 1}`;
      this.ids.set(k, l);
    }
    return l;
  }

  /** key writes a key with its `/<lease in %x>` suffix as the lease's label. */
  key(k: string): string {
    const m = /^(.*\/)(-?[0-9a-f]+)$/.exec(k);
    if (m === null) return k;
    const hex = m[2] as string;
    const id = hex.startsWith("-") ? -BigInt(`0x${hex.slice(1)}`) : BigInt(`0x${hex}`);
    return `${m[1] as string}<${this.label(id)}>`;
  }

  /** value normalizes a decoded message (json: the gateway's JSON, bytes as base64 and 64-bit integers as strings). */
  value(v: unknown, field = "", json = false): unknown {
    if (["clusterId", "memberId", "raftTerm", "cluster_id", "member_id", "raft_term", "TTL"].includes(field)) return "<masked>";
    if (field === "ID" || field === "lease") {
      const id = typeof v === "string" ? BigInt(v) : (v as bigint);
      return id === 0n ? "0" : this.label(id);
    }
    if (Buffer.isBuffer(v) || (json && typeof v === "string" && ["key", "name", "value"].includes(field))) {
      const s = Buffer.isBuffer(v) ? v.toString() : Buffer.from(v as string, "base64").toString();
      return field === "key" || field === "keys" ? this.key(s) : s;
    }
    if (typeof v === "bigint") return v.toString();
    if (Array.isArray(v)) return v.map((x) => this.value(x, field, json));
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.value(x, k, json);
      return out;
    }
    return v;
  }
}

/** Clients are gRPC clients of one endpoint. */
class Clients {
  readonly kv: etcdserverpb.KVClient;
  readonly lease: etcdserverpb.LeaseClient;
  readonly auth: etcdserverpb.AuthClient;
  readonly lock: v3lockpb.LockClient;
  readonly el: v3electionpb.ElectionClient;

  constructor(endpoint: string) {
    const cr = credentials.createInsecure();
    this.kv = new etcdserverpb.KVClient(endpoint, cr);
    this.lease = new etcdserverpb.LeaseClient(endpoint, cr);
    this.auth = new etcdserverpb.AuthClient(endpoint, cr);
    this.lock = new v3lockpb.LockClient(endpoint, cr);
    this.el = new v3electionpb.ElectionClient(endpoint, cr);
  }

  close(): void {
    for (const c of [this.kv, this.lease, this.auth, this.lock, this.el]) c.close();
  }
}

type Unary = (req: unknown, md: Metadata, cb: (err: ServiceError | null, r: unknown) => void) => { cancel(): void };

/** Pending is a unary call in flight. */
interface Pending {
  done: Promise<unknown>;
  settled: () => boolean;
  cancel: () => void;
}

function start(client: object, method: string, req: unknown, md = new Metadata()): Pending {
  let settled = false;
  let call: { cancel(): void } | undefined;
  const done = new Promise<unknown>((resolve, reject) => {
    const fn = (client as Record<string, Unary>)[method] as Unary;
    call = fn.call(client, req, md, (err, r) => {
      settled = true;
      if (err) reject(err);
      else resolve(r);
    });
  });
  done.catch(() => undefined);
  return { done, settled: () => settled, cancel: () => call?.cancel() };
}

/** Observer collects one Observe stream's messages and how it ended. */
class Observer {
  readonly got: v3electionpb.LeaderResponse[] = [];
  ended: { code: number; details: string } | undefined;
  private readonly stream: ClientReadableStream<v3electionpb.LeaderResponse>;

  constructor(c: Clients, name: string, md = new Metadata()) {
    this.stream = c.el.observe({ name: b(name) }, md);
    this.stream.on("data", (r: v3electionpb.LeaderResponse) => this.got.push(r));
    this.stream.on("error", () => undefined);
    this.stream.on("status", (st: { code: number; details: string }) => (this.ended = { code: st.code, details: st.details }));
  }

  waitFor(n: number): Promise<true> {
    return until(async () => (this.got.length >= n ? true : undefined), 10_000, { intervalMs: 20 });
  }

  cancel(): void {
    this.stream.cancel();
  }
}

/** Recorder runs steps against one server and keeps each normalized answer (or error). */
class Recorder {
  readonly out: unknown[] = [];
  readonly n = new Norm();

  constructor(readonly c: Clients) {}

  async rec(step: string, p: Promise<unknown>): Promise<unknown> {
    try {
      const r = await p;
      this.out.push({ step, ok: this.n.value(r) });
      return r;
    } catch (err) {
      const e = err as ServiceError;
      this.out.push({ step, code: e.code, details: e.details });
      return undefined;
    }
  }

  call(client: object, method: string, req: unknown, md?: Metadata): Promise<unknown> {
    return start(client, method, req, md).done;
  }

  async grant(ttl = 60n): Promise<bigint> {
    const r = (await this.rec(`grant ${ttl}`, this.call(this.c.lease, "leaseGrant", etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: ttl })))) as etcdserverpb.LeaseGrantResponse;
    return r.ID;
  }

  async count(prefix: string): Promise<number> {
    const end = b(prefix);
    end[end.length - 1] = (end[end.length - 1] as number) + 1;
    const r = (await this.call(this.c.kv, "range", etcdserverpb.RangeRequest.fromPartial({ key: b(prefix), rangeEnd: end, countOnly: true }))) as etcdserverpb.RangeResponse;
    return Number(r.count);
  }

  waitCount(prefix: string, n: number): Promise<true> {
    return until(async () => ((await this.count(prefix)) === n ? true : undefined), 10_000, { intervalMs: 20 });
  }
}

/** sequence is the gRPC scenario run on each server; it returns the normalized answers. */
async function sequence(c: Clients): Promise<unknown[]> {
  const r = new Recorder(c);
  const lock = (name: string, lease: bigint) => start(c.lock, "lock", { name: b(name), lease });
  const campaign = (name: string, lease: bigint, value: string) => start(c.el, "campaign", { name: b(name), lease, value: b(value) });
  const l1 = await r.grant();
  const l2 = await r.grant();
  const l3 = await r.grant();

  // Contention: the second locker waits for the first key's deletion.
  const a = (await r.rec("lock l by L1", lock("l", l1).done)) as v3lockpb.LockResponse;
  const pb = lock("l", l2);
  await r.waitCount("l/", 2);
  await sleep(200);
  r.out.push({ step: "L2 still waiting", ok: !pb.settled() });
  await r.rec("lock l by L1 again", lock("l", l1).done);
  await r.rec("unlock L1's key", r.call(c.lock, "unlock", { key: a.key }));
  await r.rec("lock l by L2 (after the unlock)", pb.done);

  await r.rec("lock with a missing lease", lock("m", 0x1234n).done);
  const z = (await r.rec("lock with lease 0", lock("z", 0n).done)) as v3lockpb.LockResponse;
  const zl = BigInt(`0x${z.key.toString().slice(2)}`);
  await r.rec("the lease lock granted", r.call(c.lease, "leaseTimeToLive", { ID: zl, keys: true }));
  await r.rec("unlock an empty key", r.call(c.lock, "unlock", { key: Buffer.alloc(0) }));
  await r.rec("unlock a missing key", r.call(c.lock, "unlock", { key: b("nothing") }));
  await r.rec("lock an empty name", lock("", l3).done);

  // Election.
  await r.rec("leader without candidates", r.call(c.el, "leader", { name: b("e") }));
  const ob = new Observer(c, "e");
  await sleep(200);
  const ca = (await r.rec("campaign e by L1", campaign("e", l1, "a").done)) as v3electionpb.CampaignResponse;
  await ob.waitFor(1);
  const pc = campaign("e", l2, "b");
  await r.waitCount("e/", 2);
  await r.rec("proclaim a2", r.call(c.el, "proclaim", { leader: ca.leader, value: b("a2") }));
  await ob.waitFor(2);
  const stale = { ...(ca.leader as v3electionpb.LeaderKey), rev: 1n };
  await r.rec("proclaim with a stale rev", r.call(c.el, "proclaim", { leader: stale, value: b("x") }));
  await r.rec("resign with a stale rev", r.call(c.el, "resign", { leader: stale }));
  await r.rec("proclaim without leader", r.call(c.el, "proclaim", { value: b("x") }));
  await r.rec("resign without leader", r.call(c.el, "resign", {}));
  await r.rec("campaign e by L1 again with a new value", campaign("e", l1, "a3").done);
  await ob.waitFor(3);
  await r.rec("leader", r.call(c.el, "leader", { name: b("e") }));
  r.out.push({ step: "L2 still campaigning", ok: !pc.settled() });
  await r.rec("resign L1", r.call(c.el, "resign", { leader: ca.leader }));
  await r.rec("campaign e by L2 (after the resign)", pc.done);
  await ob.waitFor(4);
  await r.rec("leader after the resign", r.call(c.el, "leader", { name: b("e") }));

  // A cancelled waiter's key is deleted (lock), resigned (campaign).
  const pd = lock("l", l3);
  await r.waitCount("l/", 2);
  pd.cancel();
  await r.waitCount("l/", 1);
  const pe = campaign("e", l3, "c");
  await r.waitCount("e/", 2);
  pe.cancel();
  await r.waitCount("e/", 1);

  // Revoking the holder's lease hands the lock over (and ends its leadership).
  const pf = lock("l", l3);
  await r.waitCount("l/", 2);
  await r.rec("revoke L2", r.call(c.lease, "leaseRevoke", { ID: l2 }));
  await r.rec("lock l by L3 (after the revoke)", pf.done);
  await r.rec("leader after the revoke", r.call(c.el, "leader", { name: b("e") }));
  await r.rec("campaign e by L3", campaign("e", l3, "c2").done);
  await ob.waitFor(5);
  ob.cancel();
  r.out.push({ step: "observed", ok: r.n.value(ob.got) });
  await r.rec(
    "every key",
    r.call(c.kv, "range", etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) })),
  );
  return r.out;
}

/** authSequence checks that the services run as the caller, with auth on; it leaves auth off. */
async function authSequence(c: Clients): Promise<unknown[]> {
  const r = new Recorder(c);
  const call = (client: object, m: string, req: unknown, md?: Metadata) => r.call(client, m, req, md);
  await call(c.auth, "userAdd", etcdserverpb.AuthUserAddRequest.fromPartial({ name: "root", password: "rootpw" }));
  await call(c.auth, "userGrantRole", { user: "root", role: "root" });
  await call(c.auth, "roleAdd", { name: "locker" });
  await call(c.auth, "roleGrantPermission", { name: "locker", perm: { permType: 2, key: b("mine/"), rangeEnd: b("mine0") } });
  await call(c.auth, "userAdd", etcdserverpb.AuthUserAddRequest.fromPartial({ name: "u", password: "upw" }));
  await call(c.auth, "userGrantRole", { user: "u", role: "locker" });
  await r.rec("auth enable", call(c.auth, "authEnable", {}));
  const tok = (await call(c.auth, "authenticate", { name: "u", password: "upw" })) as etcdserverpb.AuthenticateResponse;
  const md = new Metadata();
  md.set("token", tok.token);
  const bad = new Metadata();
  bad.set("token", "nonsense.1");
  const l = await r.grant();
  const got = (await r.rec("lock mine as u", start(c.lock, "lock", { name: b("mine"), lease: l }, md).done)) as v3lockpb.LockResponse;
  await r.rec("lock theirs as u", start(c.lock, "lock", { name: b("theirs"), lease: l }, md).done);
  await r.rec("lock mine without a token", start(c.lock, "lock", { name: b("mine"), lease: l }).done);
  await r.rec("lock mine with a bad token", start(c.lock, "lock", { name: b("mine"), lease: l }, bad).done);
  await r.rec("lock mine/z as u with lease 0", start(c.lock, "lock", { name: b("mine/z"), lease: 0n }, md).done);
  await r.rec("campaign theirs as u", start(c.el, "campaign", { name: b("theirs"), lease: l, value: b("v") }, md).done);
  await r.rec("leader of theirs as u", start(c.el, "leader", { name: b("theirs") }, md).done);
  await r.rec("leader of mine as u", start(c.el, "leader", { name: b("mine") }, md).done);
  // etcd's Observe ends without an error (and without a message) when its read fails.
  const ob = new Observer(c, "theirs", md);
  await until(async () => ob.ended, 10_000, { intervalMs: 20 });
  r.out.push({ step: "observe theirs as u", ok: { got: ob.got.length, ended: ob.ended } });
  await r.rec("unlock as u", start(c.lock, "unlock", { key: got.key }, md).done);
  const root = (await call(c.auth, "authenticate", { name: "root", password: "rootpw" })) as etcdserverpb.AuthenticateResponse;
  const rmd = new Metadata();
  rmd.set("token", root.token);
  await r.rec("auth disable", call(c.auth, "authDisable", {}, rmd));
  return r.out;
}

interface HttpAnswer {
  status: number;
  body: unknown;
}

/** post sends one JSON gateway request; a streaming answer is read up to its first line, then the request is dropped. */
function post(endpoint: string, path: string, body: string, firstLineOnly = false): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${endpoint}${path}`, { method: "POST", agent: false }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => {
        text += d.toString();
        if (firstLineOnly && text.includes("\n")) {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text.slice(0, text.indexOf("\n"))) as unknown });
          req.destroy();
        }
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text === "" ? "" : (JSON.parse(text) as unknown) }));
      res.on("error", () => undefined);
    });
    req.on("error", (err) => (firstLineOnly ? undefined : reject(err)));
    req.end(body);
  });
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** gatewaySequence runs the JSON gateway's lock and election routes on one server. */
async function gatewaySequence(endpoint: string): Promise<unknown[]> {
  const n = new Norm();
  const out: unknown[] = [];
  // A step is named by its path and its body without the server's IDs.
  const step = async (path: string, body: string, stream = false, what = body): Promise<HttpAnswer> => {
    const a = await post(endpoint, path, body, stream);
    out.push({ step: `${path} ${what}`, status: a.status, body: n.value(a.body, "", true) });
    return a;
  };
  const grant = (await step("/v3/lease/grant", `{"TTL":"60"}`)).body as { ID: string };
  const locked = (await step("/v3/lock/lock", `{"name":"${b64("g")}","lease":"${grant.ID}"}`, false, "g, the granted lease")).body as { key: string };
  await step("/v3/lock/lock", `{"name":"${b64("g2")}","lease":"4660"}`);
  await step("/v3/lock/lock", `{bad`);
  await step("/v3/lock/unlock", `{"key":"${locked.key}"}`, false, "the locked key");
  await step("/v3beta/lock/unlock", `{"key":"${locked.key}"}`, false, "the locked key");
  await step("/v3/election/leader", `{"name":"${b64("ge")}"}`);
  const camp = (await step("/v3/election/campaign", `{"name":"${b64("ge")}","lease":"${grant.ID}","value":"${b64("v1")}"}`, false, "ge, the granted lease, v1"))
    .body as { leader: unknown };
  const leader = JSON.stringify(camp.leader);
  await step("/v3/election/proclaim", `{"leader":${leader},"value":"${b64("v2")}"}`, false, "the leader key, v2");
  await step("/v3/election/proclaim", `{"value":"${b64("v2")}"}`);
  await step("/v3/election/leader", `{"name":"${b64("ge")}"}`);
  await step("/v3/election/observe", `{"name":"${b64("ge")}"}`, true);
  await step("/v3/election/resign", `{"leader":${leader}}`, false, "the leader key");
  await step("/v3/election/leader", `{"name":"${b64("ge")}"}`);
  return out;
}

describe("Lock and Election: etcd 3.4 and etcd-ts answer alike", () => {
  let etcd: Member;
  let ts: Member;
  beforeAll(async () => {
    etcd = await Member.create({ kind: "etcd" });
    ts = await Member.create({ kind: "etcd-ts" });
    await Promise.all([etcd.start(), ts.start()]);
  });
  afterAll(async () => {
    await etcd?.destroy();
    await ts?.destroy();
  });

  it("gives the same answers to the same gRPC sequence (contention, cancel, revoke, election, observe, errors)", async () => {
    const ce = new Clients(etcd.endpoint);
    const ct = new Clients(ts.endpoint);
    try {
      const [a, t] = await Promise.all([sequence(ce), sequence(ct)]);
      expect(t).toEqual(a);
      const [aa, ta] = await Promise.all([authSequence(ce), authSequence(ct)]);
      expect(ta).toEqual(aa);
    } finally {
      ce.close();
      ct.close();
    }
  });

  it("gives the same answers on the JSON gateway's /v3/lock/* and /v3/election/* routes", async () => {
    const [a, t] = await Promise.all([gatewaySequence(etcd.endpoint), gatewaySequence(ts.endpoint)]);
    expect(t).toEqual(a);
  });

  it("excludes the real etcdctl's client-side lock and a Lock RPC on the same name (etcd-ts)", async () => {
    const c = new Clients(ts.endpoint);
    try {
      const grant = async (): Promise<bigint> =>
        ((await start(c.lease, "leaseGrant", etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: 60n })).done) as etcdserverpb.LeaseGrantResponse).ID;

      // etcdctl holds the lock: the RPC waits until etcdctl is interrupted (and unlocks).
      const ctl = spawn(REAL_ETCDCTL, ["--endpoints", ts.endpoint, "lock", "interop"], { stdio: ["ignore", "pipe", "pipe"] });
      let printed = "";
      ctl.stdout.on("data", (d: Buffer) => (printed += d.toString()));
      const exited = new Promise((resolve) => ctl.on("close", resolve));
      await until(async () => (printed.includes("interop/") ? true : undefined), 10_000, { intervalMs: 20 });
      const mine = await grant();
      const p = start(c.lock, "lock", { name: b("interop"), lease: mine });
      await sleep(500);
      expect(p.settled()).toBe(false);
      ctl.kill("SIGINT");
      await exited;
      const got = (await p.done) as v3lockpb.LockResponse;
      expect(got.key.toString()).toBe(`interop/${mine.toString(16)}`);

      // The RPC holds the lock: etcdctl runs its command only after the Unlock RPC.
      const ran = run(REAL_ETCDCTL, ["--endpoints", ts.endpoint, "lock", "interop", "echo", "etcdctl-has-it"], { timeoutMs: 20_000 });
      let done = false;
      void ran.then(() => (done = true));
      await sleep(1000);
      expect(done).toBe(false);
      await start(c.lock, "unlock", { key: got.key }).done;
      const r = await ran;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("etcdctl-has-it");
    } finally {
      c.close();
    }
  });
});
