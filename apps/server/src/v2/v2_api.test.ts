import { etcdserverpb } from "@etcd-ts/proto";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { Etcd } from "../embed.js";
import { leaderOf, specs, startCluster, stopAll, until } from "../testing/cluster.js";

afterEach(stopAll);

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(url: string, method = "GET", form?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = form === undefined ? {} : { "Content-Type": "application/x-www-form-urlencoded" };
    const req = request(url, { method, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(form);
  });
}

const keys = (m: Etcd): string => `${specs.get(m)?.clientUrl ?? ""}/v2/keys`;
const json = (r: Reply): Record<string, any> => JSON.parse(r.body) as Record<string, any>;

async function v3Keys(m: Etcd, prefix: string): Promise<string[]> {
  const key = Buffer.from(prefix);
  const end = Buffer.from(prefix);
  end[end.length - 1] = (end[end.length - 1] as number) + 1;
  const r = await m.server.range(etcdserverpb.RangeRequest.fromPartial({ key, rangeEnd: end }));
  return r.kvs.map((kv) => kv.key.toString());
}

describe("--enable-v2 and --experimental-enable-v2v3", () => {
  it("serve /v2/keys only with --enable-v2, kept in the v3 store under etcd-ts's prefix or the one given", async () => {
    const [off] = await startCluster(1);
    expect(await call(`${keys(off as Etcd)}/a`, "PUT", "value=1")).toMatchObject({ status: 404, body: "404 page not found\n" });

    const [def] = await startCluster(1, ["--enable-v2"]);
    expect((await call(`${keys(def as Etcd)}/a/b`, "PUT", "value=1")).status).toBe(201);
    expect(await v3Keys(def as Etcd, "/etcd-ts/v2/")).toEqual(["/etcd-ts/v2/001/k/a/", "/etcd-ts/v2/002/k/a/b", "/etcd-ts/v2/act"]);

    const [own] = await startCluster(1, ["--enable-v2", "--experimental-enable-v2v3", "/mine"]);
    expect((await call(`${keys(own as Etcd)}/x`, "PUT", "value=2")).status).toBe(201);
    expect(await v3Keys(own as Etcd, "/mine/")).toEqual(["/mine/001/k/x", "/mine/act"]);
    // The v2 tree is the v3 keys: a v3 write under the prefix is a v2 node, and its watch event a "set".
    await (own as Etcd).server.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from("/mine/001/k/y"), value: Buffer.from("from v3") }));
    expect(json(await call(`${keys(own as Etcd)}/y`)).node).toMatchObject({ key: "/y", value: "from v3" });
    // Without --enable-v2, --experimental-enable-v2v3 serves nothing (as etcd).
    const [v2v3only] = await startCluster(1, ["--experimental-enable-v2v3", "/mine"]);
    expect((await call(`${keys(v2v3only as Etcd)}/x`)).status).toBe(404);
  }, 30_000);

  it("expires a TTL key with its lease, reported to watchers as expire", async () => {
    const [m] = await startCluster(1, ["--enable-v2"]);
    const url = keys(m as Etcd);
    const watch = call(`${url}/t?wait=true`);
    const set = json(await call(`${url}/t`, "PUT", "value=v&ttl=2"));
    expect(set.node).toMatchObject({ key: "/t", value: "v", ttl: 2 });
    const ev = json(await watch);
    expect(ev).toMatchObject({ action: "set", node: { key: "/t", value: "v" } });
    const expired = json(await call(`${url}/t?wait=true&waitIndex=${(set.node.modifiedIndex as number) + 1}`));
    expect(expired).toMatchObject({ action: "expire", node: { key: "/t" }, prevNode: { key: "/t", value: "v" } });
    expect(json(await call(`${url}/t`))).toMatchObject({ errorCode: 100 });
    // A refresh keeps the value and sets the new TTL; a set without a TTL makes the key permanent.
    await call(`${url}/r`, "PUT", "value=kept&ttl=3");
    const refreshed = json(await call(`${url}/r?refresh=true&ttl=30&prevExist=true`, "PUT"));
    expect(refreshed.node).toMatchObject({ value: "kept", ttl: 30 });
    await call(`${url}/r?prevExist=true`, "PUT", "value=permanent");
    await new Promise((r) => setTimeout(r, 4_000));
    expect(json(await call(`${url}/r`)).node).toMatchObject({ value: "permanent" });
    expect(json(await call(`${url}/r`)).node.ttl).toBeUndefined();
  }, 30_000);

  it("expires a directory with a TTL together with everything below it, in one expire event", async () => {
    const [m] = await startCluster(1, ["--enable-v2"]);
    const url = keys(m as Etcd);
    expect(json(await call(`${url}/d?dir=true`, "PUT", "ttl=3")).node).toMatchObject({ key: "/d", dir: true, ttl: 3 });
    await call(`${url}/d/a/b`, "PUT", "value=1");
    // A longer TTL of its own: the node still goes with its directory.
    expect(json(await call(`${url}/d/long`, "PUT", "value=2&ttl=100")).node).toMatchObject({ ttl: 100 });
    // A shorter one: its own.
    expect(json(await call(`${url}/d/short`, "PUT", "value=3&ttl=2")).node).toMatchObject({ ttl: 2 });
    const listed = json(await call(`${url}/d?recursive=true&sorted=true`)).node as { ttl?: number; nodes: { key: string; ttl?: number; nodes?: { key: string; ttl?: number }[] }[] };
    expect(listed.ttl).toBeGreaterThanOrEqual(2);
    expect(listed.nodes.map((n) => [n.key, n.ttl])).toEqual([
      ["/d/a", undefined],
      ["/d/long", undefined],
      ["/d/short", expect.any(Number)],
    ]);
    expect(listed.nodes[0]?.nodes?.[0]).toMatchObject({ key: "/d/a/b" });
    expect(listed.nodes[0]?.nodes?.[0]?.ttl).toBeUndefined();
    // A watcher of a node below hears the directory expire; nothing below it is left.
    const w = call(`${url}/d/a/b?wait=true`);
    expect(json(await w)).toMatchObject({ action: "expire", node: { key: "/d", dir: true }, prevNode: { key: "/d", dir: true } });
    expect(json(await call(`${url}/d/long`))).toMatchObject({ errorCode: 100, cause: "/d" });
    const v3 = await m?.server.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("/etcd-ts/v2/0"), rangeEnd: Buffer.from("/etcd-ts/v2/1") }));
    expect(v3?.kvs.map((kv) => kv.key.toString())).toEqual([]);

    // updatedir --ttl extends a directory's life and moves what below it held the old lease;
    // updatedir without a TTL makes it permanent again, with its nodes.
    await call(`${url}/e?dir=true`, "PUT", "ttl=2");
    await call(`${url}/e/x`, "PUT", "value=kept");
    expect(json(await call(`${url}/e?dir=true&prevExist=true`, "PUT", "ttl=30")).node).toMatchObject({ key: "/e", dir: true, ttl: 30 });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(json(await call(`${url}/e/x`)).node).toMatchObject({ value: "kept" });
    expect(json(await call(`${url}/e`)).node.ttl).toBeGreaterThan(20);
    await call(`${url}/e?dir=true&prevExist=true`, "PUT");
    expect(json(await call(`${url}/e`)).node.ttl).toBeUndefined();
    const stored = await m?.server.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("/etcd-ts/v2/0"), rangeEnd: Buffer.from("/etcd-ts/v2/1") }));
    expect(stored?.kvs.map((kv) => [kv.key.toString(), kv.lease])).toEqual([
      ["/etcd-ts/v2/001/k/e/", 0n],
      ["/etcd-ts/v2/002/k/e/x", 0n],
    ]);
  }, 30_000);

  it("takes many concurrent TTL writes without failing one or leaking a lease, and odd keys as etcd", async () => {
    const [m] = await startCluster(1, ["--enable-v2"]);
    const e = m as Etcd;
    const url = keys(e);
    const puts = await Promise.all(Array.from({ length: 200 }, (_, i) => call(`${url}/load/k${i}`, "PUT", "value=v&ttl=100")));
    expect(puts.map((p) => p.status).filter((st) => st !== 201)).toEqual([]);
    // Failed writes with a TTL (the key exists) keep no lease.
    const taken = await Promise.all(Array.from({ length: 20 }, () => call(`${url}/load/k0?prevExist=false`, "PUT", "value=x&ttl=100")));
    expect(taken.every((p) => json(p).errorCode === 105)).toBe(true);
    await until(() => e.server.leaseLeases().leases.length === 200);
    expect(e.server.leaseLeases().leases.length).toBe(200);
    // A newline and bytes that are no UTF-8 in a key: listed, as etcd lists them.
    expect((await call(`${url}/odd/nl%0Akey`, "PUT", "value=1")).status).toBe(201);
    expect((await call(`${url}/odd/%FF`, "PUT", "value=2")).status).toBe(201);
    expect((json(await call(`${url}/odd?sorted=true`)).node.nodes as { key: string }[]).map((n) => n.key)).toEqual(["/odd/nl\nkey", "/odd/\ufffd"]);
    // A directory's TTL refresh tells no watcher; the next write does.
    await call(`${url}/svc?dir=true`, "PUT", "ttl=60");
    const w = call(`${url}/svc?wait=true`);
    await call(`${url}/svc?dir=true&prevExist=true&refresh=true`, "PUT", "ttl=90");
    await call(`${url}/svc?dir=true&prevExist=true`, "PUT", "ttl=120");
    expect(json(await w)).toMatchObject({ action: "update", node: { key: "/svc", ttl: 120 } });
  }, 30_000);

  it("checks v2 access on the path it will write (a path with .. cannot reach past a grant)", async () => {
    const [m] = await startCluster(1, ["--enable-v2"]);
    const base = specs.get(m as Etcd)?.clientUrl ?? "";
    const put = (path: string, body: unknown, auth?: string): Promise<Reply> =>
      new Promise((resolve, reject) => {
        const headers: Record<string, string> = { "Content-Type": "application/json", ...(auth !== undefined ? { Authorization: `Basic ${Buffer.from(auth).toString("base64")}` } : {}) };
        const req = request(`${base}${path}`, { method: "PUT", headers, agent: false }, (res) => {
          let b = "";
          res.on("data", (c: Buffer) => (b += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
        });
        req.on("error", reject);
        req.end(JSON.stringify(body));
      });
    expect((await put("/v2/auth/users/root", { user: "root", password: "pw" })).status).toBe(201);
    expect((await put("/v2/auth/enable", {})).status).toBe(200);
    expect((await put("/v2/auth/roles/guest", { role: "guest", revoke: { kv: { read: ["/*"], write: ["/*"] } } }, "root:pw")).status).toBe(200);
    expect((await put("/v2/auth/roles/guest", { role: "guest", grant: { kv: { read: ["/public/*"], write: ["/public/*"] } } }, "root:pw")).status).toBe(200);
    // A grant that is no list is refused, not taken character by character.
    expect(await put("/v2/auth/roles/guest", { role: "guest", grant: { kv: { read: "/x*" } } }, "root:pw")).toMatchObject({ status: 400 });
    expect((await call(`${keys(m as Etcd)}/public/ok`, "PUT", "value=1")).status).toBe(201);
    expect(json(await call(`${keys(m as Etcd)}/public/%2e%2e/secret`, "PUT", "value=1"))).toMatchObject({ errorCode: 110 });
    expect(json(await call(`${keys(m as Etcd)}/public/../secret`, "PUT", "value=1"))).toMatchObject({ errorCode: 110 });
  }, 30_000);

  it("serves the same tree from every member of a cluster, writes through any of them", async () => {
    const ms = await startCluster(3, ["--enable-v2"]);
    const lead = leaderOf(ms);
    const followers = ms.filter((m) => m !== lead) as [Etcd, Etcd];
    const w = call(`${keys(followers[1])}/cfg?wait=true&recursive=true`);
    expect((await call(`${keys(followers[0])}/cfg/a`, "PUT", "value=1&ttl=60")).status).toBe(201);
    expect(json(await w).node).toMatchObject({ key: "/cfg/a", value: "1" });
    for (const m of ms) {
      const r = json(await call(`${keys(m)}/cfg/a?quorum=true`));
      expect(r.node.value).toBe("1");
      // A follower's TTL comes from the leader's lessor in whole seconds.
      expect(r.node.ttl).toBeGreaterThanOrEqual(58);
      expect(r.node.ttl).toBeLessThanOrEqual(60);
    }
    // The v2 stats: the leader's append requests to its followers, answered; a follower's from its leader.
    const url = (m: Etcd, p: string): string => `${specs.get(m)?.clientUrl ?? ""}${p}`;
    for (let i = 0; i < 5; i++) await call(`${keys(followers[0])}/cfg/b`, "PUT", `value=${i}`);
    await until(async () => json(await call(url(followers[1], "/v2/stats/store"))).setsSuccess === 6);
    const self = json(await call(url(followers[1], "/v2/stats/self")));
    expect(self).toMatchObject({ state: "StateFollower", id: followers[1].server.memberId.toString(16) });
    expect(self.leaderInfo.leader).toBe(lead.server.memberId.toString(16));
    expect(self.recvAppendRequestCnt).toBeGreaterThan(0);
    expect(json(await call(url(lead, "/v2/stats/self")))).toMatchObject({ state: "StateLeader" });
    expect(json(await call(url(lead, "/v2/stats/self"))).sendAppendRequestCnt).toBeGreaterThan(0);
    const leaderStats = json(await call(url(lead, "/v2/stats/leader")));
    expect(Object.keys(leaderStats.followers).sort()).toEqual(followers.map((f) => f.server.memberId.toString(16)).sort());
    for (const f of Object.values(leaderStats.followers) as { counts: { success: number } }[]) expect(f.counts.success).toBeGreaterThan(0);
    expect(await call(url(followers[0], "/v2/stats/leader"))).toMatchObject({ status: 403, body: '{"message":"not current leader"}' });
    // Counted where applied: the follower that served none of the writes counts them; it served one get.
    await call(`${keys(followers[1])}/nokey`);
    expect(json(await call(url(followers[1], "/v2/stats/store")))).toMatchObject({ setsSuccess: 6, getsFail: 1, watchers: 0 });
    const members = json(await call(`${specs.get(followers[0])?.clientUrl ?? ""}/v2/members`)).members as { id: string }[];
    expect(members).toHaveLength(3);
    const leader = json(await call(`${specs.get(followers[1])?.clientUrl ?? ""}/v2/members/leader`));
    expect(leader.id).toBe(lead.server.memberId.toString(16));
  }, 60_000);

  it("keeps compare-and-swap and in-order keys exact under concurrent writers", async () => {
    const [m] = await startCluster(1, ["--enable-v2"]);
    const url = keys(m as Etcd);
    await call(`${url}/counter`, "PUT", "value=0");
    // Each writer reads the counter and swaps it for +1 at the index it read; losers retry.
    const writer = async (): Promise<number> => {
      let wins = 0;
      while (wins < 10) {
        const cur = json(await call(`${url}/counter`)).node as { value: string; modifiedIndex: number };
        const r = await call(`${url}/counter?prevIndex=${cur.modifiedIndex}`, "PUT", `value=${Number(cur.value) + 1}`);
        if (r.status === 200) wins++;
        else expect(json(r).errorCode).toBe(101);
      }
      return wins;
    };
    await Promise.all([writer(), writer(), writer(), writer()]);
    expect(json(await call(`${url}/counter`)).node.value).toBe("40");

    const posts = await Promise.all(Array.from({ length: 20 }, (_, i) => call(`${url}/queue`, "POST", `value=${i}`)));
    const created = posts.map((p) => json(p).node as { key: string; modifiedIndex: number });
    expect(new Set(created.map((c) => c.key)).size).toBe(20);
    // In-order: the names sort as the writes were ordered.
    const byIndex = [...created].sort((a, b) => a.modifiedIndex - b.modifiedIndex).map((c) => c.key);
    expect([...byIndex].sort()).toEqual(byIndex);
    const listed = (json(await call(`${url}/queue?sorted=true`)).node.nodes as { key: string }[]).map((n) => n.key);
    expect(listed).toEqual(byIndex);
  }, 30_000);
});
