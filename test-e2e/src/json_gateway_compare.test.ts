import { request } from "node:http";
import { freePort, serverCommand, spawnServer, stopProcess, until, type Spawned } from "@etcd-ts/test-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Member } from "./harness/member.js";

/**
 * The JSON gateway compared: the same HTTP requests to the real etcd 3.4 and to etcd-ts
 * (single member each) must get the same status, content type and JSON body, once what
 * legitimately differs is masked (IDs, terms, sizes, hashes, URLs, remaining TTLs).
 */

interface Answer {
  status: number;
  type: string | undefined;
  body: unknown;
}

/** MASKED are the fields whose values differ between two healthy servers. */
const MASKED = new Set([
  "cluster_id",
  "member_id",
  "raft_term",
  "raftTerm",
  "ID",
  "leader",
  "hash",
  "dbSize",
  "dbSizeInUse",
  "raftIndex",
  "raftAppliedIndex",
  "version",
  "peerURLs",
  "clientURLs",
  "name",
  "TTL",
  "token",
]);

function mask(v: unknown, parentKey = ""): unknown {
  if (Array.isArray(v)) return v.map((x) => mask(x, parentKey));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      // "version" is masked only where it is the server's version (status), not a key's.
      out[k] = MASKED.has(k) && !(k === "version" && parentKey !== "") ? "<masked>" : mask(x, k);
    }
    return out;
  }
  return v;
}

/** call sends one HTTP request and reads the whole answer; JSON bodies are parsed (one per line for streams). */
function call(endpoint: string, path: string, body: string, method = "POST", headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // One connection per request: a refused request's unread body must not reach the next one.
    const req = request(`http://${endpoint}${path}`, { method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: unknown = text;
        if ((res.headers["content-type"] ?? "").startsWith("application/json")) {
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as unknown);
          }
        }
        resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body: parsed });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** STEPS run in order against both servers; each answer must be the same after masking. */
const STEPS: [path: string, body: string, method?: string][] = [
  ["/v3/kv/put", `{"key":"${b64("foo")}","value":"${b64("bar")}"}`],
  ["/v3/kv/put", `{"key":"${b64("foo")}","value":"${b64("baz")}","prev_kv":true}`],
  ["/v3/kv/put", `{"key":"${b64("foo1")}","value":"${b64("v1")}"}`],
  ["/v3/kv/put", `{"key":"${b64("foo2")}","value":"${b64("v2")}"}`],
  ["/v3/kv/range", `{"key":"${b64("foo")}"}`],
  ["/v3/kv/range", `{"key":"${b64("foo")}","range_end":"${b64("fop")}"}`],
  ["/v3/kv/range", `{"key":"${b64("foo")}","rangeEnd":"${b64("fop")}","keys_only":true,"limit":"2","sort_order":"DESCEND"}`],
  ["/v3/kv/range", `{"key":"AA==","range_end":"AA==","count_only":true}`],
  ["/v3/kv/range", `{"key":"${b64("missing")}"}`],
  ["/v3beta/kv/range", `{"key":"${b64("foo")}"}`],
  ["/v3alpha/kv/range", `{"key":"${b64("foo")}"}`],
  ["/v3/kv/deleterange", `{"key":"${b64("foo2")}","prev_kv":true}`],
  [
    "/v3/kv/txn",
    `{"compare":[{"key":"${b64("foo")}","result":"EQUAL","target":"VALUE","value":"${b64("baz")}"}],"success":[{"request_put":{"key":"${b64("t")}","value":"${b64("yes")}"}},{"request_range":{"key":"${b64("foo")}"}}],"failure":[{"request_put":{"key":"${b64("t")}","value":"${b64("no")}"}}]}`,
  ],
  [
    "/v3/kv/txn",
    `{"compare":[{"key":"${b64("foo")}","result":"GREATER","target":"MOD","mod_revision":"100"}],"success":[{"request_delete_range":{"key":"${b64("t")}"}}],"failure":[{"request_range":{"key":"${b64("t")}"}},{"request_delete_range":{"key":"${b64("foo1")}","prev_kv":true}}]}`,
  ],
  ["/v3/kv/compaction", `{"revision":"3","physical":true}`],
  ["/v3/kv/range", `{"key":"${b64("foo")}","revision":"2"}`],
  ["/v3/kv/compaction", `{"revision":"1000"}`],
  ["/v3/kv/put", `{"key":"","value":"${b64("x")}"}`],
  ["/v3/lease/grant", `{"TTL":"60"}`],
  ["/v3/lease/revoke", `{"ID":"12345"}`],
  ["/v3/kv/lease/timetolive", `{"ID":"12345"}`],
  ["/v3/cluster/member/list", "{}"],
  ["/v3/maintenance/status", "{}"],
  ["/v3/maintenance/alarm", `{"action":"GET"}`],
  ["/v3/maintenance/hash", "{}"],
  ["/v3/auth/status", "{}"],
  ["/v3/nothing", "{}"],
  ["/v3/kv/range", "{}", "GET"],
  ["/v3/kv/range", "{bad"],
  ["/v3/kv/range", `{"key":"Zm9v"`],
  ["/v3/kv/range", `{"key":1}`],
  ["/v3/kv/range", `{"key":"Zm9v!"}`],
  ["/v3/kv/range", `{"key":"Zm9v","sort_order":"BAD"}`],
  ["/v3/kv/range", `{"unknown":"field"}`],
  ["/v3/kv/range", `{"key":"Zm9v","serializable":"yes"}`],
  ["/v3/kv/range", `{"key":"${b64("foo")}"} trailing`],
  ["/v3/kv/range", ""],
];

/** expectSameSteps sends every step to the etcd endpoint and the etcd-ts one, in turn, and expects the same masked answers. */
async function expectSameSteps(etcdEndpoint: string, tsEndpoint: string): Promise<void> {
  for (const [path, body, method] of STEPS) {
    const step = `${method ?? "POST"} ${path} ${body}`;
    const a = await call(etcdEndpoint, path, body, method);
    const b = await call(tsEndpoint, path, body, method);
    expect({ step, ...b, body: mask(b.body) }).toEqual({ step, ...a, body: mask(a.body) });
  }
}

describe("JSON gateway: the same HTTP requests to etcd 3.4 and etcd-ts", () => {
  let etcd: Member;
  let ts: Member;
  beforeAll(async () => {
    etcd = await Member.create({ kind: "etcd" });
    ts = await Member.create({ kind: "etcd-ts" });
    await etcd.start();
    await ts.start();
  });
  afterAll(async () => {
    await etcd?.destroy();
    await ts?.destroy();
  });

  it("answers every unary step the same", async () => {
    await expectSameSteps(etcd.endpoint, ts.endpoint);
  });

  it("answers every unary step the same through `etcd-ts gateway start` in front of each", async () => {
    const gateways: { addr: string; g: Spawned }[] = [];
    try {
      for (const m of [etcd, ts]) {
        const addr = `127.0.0.1:${await freePort()}`;
        const g = spawnServer(serverCommand("etcd-ts"), ["gateway", "start", "--endpoints", m.endpoint, "--listen-addr", addr]);
        gateways.push({ addr, g });
        await until(async () => ((await call(addr, "/version", "", "GET").catch(() => undefined))?.status === 200 ? true : undefined));
      }
      const viaEtcd = gateways[0] as { addr: string };
      const viaTs = gateways[1] as { addr: string };
      // The servers saw the same requests so far: a second round answers alike too.
      await expectSameSteps(viaEtcd.addr, viaTs.addr);
    } finally {
      for (const { g } of gateways) await stopProcess(g.proc);
    }
  });


  it("manages users and roles, enables auth, authenticates and checks permissions the same, with the token in Authorization", async () => {
    const steps: [path: string, body: string][] = [
      ["/v3/auth/enable", "{}"],
      ["/v3/auth/user/add", `{"name":"root","password":"rootpw"}`],
      ["/v3/auth/user/grant", `{"user":"root","role":"root"}`],
      ["/v3/auth/role/add", `{"name":"r"}`],
      ["/v3/auth/role/add", `{"name":"r"}`],
      ["/v3/auth/role/grant", `{"name":"r","perm":{"permType":"READ","key":"${b64("a")}","range_end":"${b64("b")}"}}`],
      ["/v3/auth/role/get", `{"role":"r"}`],
      ["/v3/auth/role/get", `{"role":"nope"}`],
      ["/v3/auth/user/add", `{"name":"u","password":"upw"}`],
      ["/v3/auth/user/grant", `{"user":"u","role":"r"}`],
      ["/v3/auth/user/get", `{"name":"u"}`],
      ["/v3/auth/user/list", "{}"],
      ["/v3/auth/role/list", "{}"],
      ["/v3/auth/user/add", "{bad"],
      ["/v3/auth/enable", "{}"],
      ["/v3/kv/put", `{"key":"${b64("a1")}","value":"${b64("v")}"}`],
      ["/v3/kv/range", `{"key":"${b64("a1")}"}`],
      ["/v3/auth/authenticate", `{"name":"root","password":"wrong"}`],
    ];
    for (const [path, body] of steps) {
      const a = await call(etcd.endpoint, path, body);
      const t = await call(ts.endpoint, path, body);
      expect({ step: `${path} ${body}`, ...t, body: mask(t.body) }).toEqual({ step: `${path} ${body}`, ...a, body: mask(a.body) });
    }
    const login = async (endpoint: string, name: string, password: string): Promise<string> => {
      const r = await call(endpoint, "/v3/auth/authenticate", JSON.stringify({ name, password }));
      expect(r.status).toBe(200);
      return (r.body as { token: string }).token;
    };
    const tokens = {
      etcd: { root: await login(etcd.endpoint, "root", "rootpw"), u: await login(etcd.endpoint, "u", "upw") },
      ts: { root: await login(ts.endpoint, "root", "rootpw"), u: await login(ts.endpoint, "u", "upw") },
    };
    const asUser: [user: "root" | "u" | "bogus", path: string, body: string][] = [
      ["root", "/v3/kv/put", `{"key":"${b64("a1")}","value":"${b64("v")}"}`],
      ["u", "/v3/kv/range", `{"key":"${b64("a")}","range_end":"${b64("b")}"}`],
      ["u", "/v3/kv/put", `{"key":"${b64("a1")}","value":"${b64("w")}"}`],
      ["u", "/v3/kv/range", `{"key":"${b64("c")}"}`],
      ["u", "/v3/auth/user/list", "{}"],
      ["u", "/v3/auth/user/get", `{"name":"u"}`],
      ["bogus", "/v3/kv/range", `{"key":"${b64("a1")}"}`],
      ["root", "/v3/auth/user/delete", `{"name":"root"}`],
      ["root", "/v3/auth/disable", "{}"],
    ];
    for (const [user, path, body] of asUser) {
      const a = await call(etcd.endpoint, path, body, "POST", { Authorization: user === "bogus" ? "bogus.1" : tokens.etcd[user] });
      const t = await call(ts.endpoint, path, body, "POST", { Authorization: user === "bogus" ? "bogus.1" : tokens.ts[user] });
      expect({ step: `${user} ${path} ${body}`, ...t, body: mask(t.body) }).toEqual({ step: `${user} ${path} ${body}`, ...a, body: mask(a.body) });
    }
  });

  it("refuses a malformed body on the streaming routes as etcd does (Unknown, not InvalidArgument)", async () => {
    for (const path of ["/v3/watch", "/v3/lease/keepalive"]) {
      const ours = await call(ts.endpoint, path, "{bad");
      expect(ours.status).toBe(500);
      expect(ours).toEqual(await call(etcd.endpoint, path, "{bad"));
    }
  });

  it("grants, lists, reads and revokes a lease the same", async () => {
    for (const m of [etcd, ts]) {
      const grant = await call(m.endpoint, "/v3/lease/grant", '{"TTL":"60","ID":"777"}');
      expect(grant.status).toBe(200);
      expect(grant.body).toMatchObject({ ID: "777", TTL: "60" });
      const ttl = await call(m.endpoint, "/v3/lease/timetolive", '{"ID":"777","keys":true}');
      expect(mask(ttl.body)).toMatchObject({ ID: "<masked>", grantedTTL: "60" });
      const leases = await call(m.endpoint, "/v3/lease/leases", "{}");
      expect((leases.body as { leases: unknown[] }).leases).toContainEqual({ ID: "777" });
      const revoke = await call(m.endpoint, "/v3/kv/lease/revoke", '{"ID":"777"}');
      expect(revoke.status).toBe(200);
      const again = await call(m.endpoint, "/v3/lease/revoke", '{"ID":"777"}');
      expect(again).toEqual({
        status: 404,
        type: "application/json",
        body: { error: "etcdserver: requested lease not found", message: "etcdserver: requested lease not found", code: 5 },
      });
    }
  });

  it("streams a watch the same: created, an event for a put, and cancels it when the client disconnects", async () => {
    const seen: unknown[][] = [];
    for (const m of [etcd, ts]) {
      const lines: unknown[] = [];
      let headers: Record<string, unknown> = {};
      let status = 0;
      const req = request(`http://${m.endpoint}/v3/watch`, { method: "POST" }, (res) => {
        status = res.statusCode ?? 0;
        headers = res.headers;
        let buf = "";
        res.on("data", (c: Buffer) => {
          buf += c.toString();
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            lines.push(JSON.parse(buf.slice(0, nl)));
            buf = buf.slice(nl + 1);
          }
        });
        res.on("error", () => undefined);
      });
      req.on("error", () => undefined);
      req.end(`{"create_request":{"key":"${b64("w")}","prev_kv":true}}`);
      await until(async () => (lines.length >= 1 ? true : undefined), 5000);
      await call(m.endpoint, "/v3/kv/put", `{"key":"${b64("w")}","value":"${b64("1")}"}`);
      await call(m.endpoint, "/v3/kv/put", `{"key":"${b64("w")}","value":"${b64("2")}"}`);
      await until(async () => (lines.length >= 3 ? true : undefined), 5000);
      expect(status).toBe(200);
      expect(headers["content-type"]).toBe("application/json");
      expect(headers["transfer-encoding"]).toBe("chunked");
      seen.push(lines.map((l) => mask(l)));
      req.destroy();
      // The disconnect cancels the gRPC Watch call behind the gateway.
      await until(async () => ((await canceledWatches(m.endpoint)) >= 1 ? true : undefined), 5000);
    }
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[0]?.[0]).toMatchObject({ result: { created: true } });
    expect(seen[0]?.[2]).toMatchObject({ result: { events: [{ kv: { value: b64("2") }, prev_kv: { value: b64("1") } }] } });
  });

  it("answers a keepalive of a missing lease with one result line, the same", async () => {
    const out: string[] = [];
    for (const m of [etcd, ts]) {
      const text = await new Promise<string>((resolve, reject) => {
        const req = request(`http://${m.endpoint}/v3/lease/keepalive`, { method: "POST" }, (res) => {
          res.once("data", (c: Buffer) => {
            resolve(`${res.statusCode} ${res.headers["content-type"]} ${c.toString()}`);
            req.destroy();
          });
        });
        req.on("error", reject);
        req.end('{"ID":"999"}');
      });
      out.push(text.replace(/"(cluster_id|member_id|raft_term)":"\d+"/g, '"$1":"<masked>"'));
    }
    expect(out[1]).toBe(out[0]);
    expect(out[0]).toContain('"ID":"999"');
  });
});

/** canceledWatches reads how many Watch calls ended Canceled from /metrics. */
async function canceledWatches(endpoint: string): Promise<number> {
  const res = await fetch(`http://${endpoint}/metrics`);
  const text = await res.text();
  const line = text.split("\n").find((l) => l.startsWith("grpc_server_handled_total{") && l.includes('grpc_code="Canceled"') && l.includes('grpc_method="Watch"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}
