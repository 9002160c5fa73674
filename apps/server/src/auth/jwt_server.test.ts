import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Etcd } from "../embed.js";
import { leaderOf, specs, startCluster, stopAll } from "../testing/cluster.js";

/**
 * "--auth-token" jwt,...: tokens signed by one member are accepted by every member (they
 * carry the user and the auth revision), expire after their ttl, and go stale when the auth
 * store changes; an empty --auth-token gives no tokens at all.
 */

const b = (s: string): Buffer => Buffer.from(s);
type Unary<Req, Res> = (req: Req, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown;
const call = <Req, Res>(fn: Unary<Req, Res>, req: Req, token?: string): Promise<Res> => {
  const md = new Metadata();
  if (token !== undefined) md.set("token", token);
  return new Promise((resolve, reject) => fn(req, md, (err, res) => (err !== null ? reject(err) : resolve(res))));
};

let keyDir: string;
beforeAll(() => {
  keyDir = mkdtempSync(join(tmpdir(), "etcd-jwt-keys-"));
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(join(keyDir, "priv.pem"), privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(join(keyDir, "pub.pem"), publicKey.export({ type: "spki", format: "pem" }));
});
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));
afterEach(stopAll);

function clients(m: Etcd): { kv: etcdserverpb.KVClient; auth: etcdserverpb.AuthClient; close: () => void } {
  const addr = (specs.get(m)?.clientUrl ?? "").replace("http://", "");
  const kv = new etcdserverpb.KVClient(addr, credentials.createInsecure());
  const auth = new etcdserverpb.AuthClient(addr, credentials.createInsecure());
  return { kv, auth, close: () => (kv.close(), auth.close()) };
}

async function enableAuth(c: ReturnType<typeof clients>): Promise<void> {
  await call(c.auth.userAdd.bind(c.auth), { name: "root", password: "pw", options: undefined });
  await call(c.auth.userGrantRole.bind(c.auth), { user: "root", role: "root" });
  await call(c.auth.authEnable.bind(c.auth), {});
}

const login = async (c: ReturnType<typeof clients>): Promise<string> =>
  (await call<etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse>(c.auth.authenticate.bind(c.auth), { name: "root", password: "pw" })).token;
const put = (c: ReturnType<typeof clients>, token?: string) => call(c.kv.put.bind(c.kv), etcdserverpb.PutRequest.fromPartial({ key: b("k"), value: b("v") }), token);

describe("JWT tokens", () => {
  it("are RS256 JWTs any member accepts, until the auth store changes or they expire", async () => {
    const jwt = `jwt,pub-key=${join(keyDir, "pub.pem")},priv-key=${join(keyDir, "priv.pem")},sign-method=RS256,ttl=2s`;
    const ms = await startCluster(3, ["--auth-token", jwt, "--bcrypt-cost", "4"]);
    const lead = clients(leaderOf(ms));
    const other = clients(ms.find((m) => m !== leaderOf(ms)) as Etcd);
    try {
      await enableAuth(lead);
      const token = await login(lead);
      const [header, payload] = token.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>);
      expect(header).toEqual({ alg: "RS256", typ: "JWT" });
      expect(payload).toMatchObject({ username: "root" });
      await put(other, token);
      await expect(put(other, `${token.slice(0, -4)}AAAA`)).rejects.toMatchObject({ code: 16, details: "etcdserver: invalid auth token" });
      // A change of the auth store makes a token issued before it stale.
      await call(lead.auth.roleAdd.bind(lead.auth), { name: "r" }, token);
      await expect(put(lead, token)).rejects.toMatchObject({ code: 3, details: "etcdserver: revision of auth store is old" });
      const fresh = await login(other);
      await put(lead, fresh);
      await new Promise((r) => setTimeout(r, 2100));
      await expect(put(lead, fresh)).rejects.toMatchObject({ code: 16, details: "etcdserver: invalid auth token" });
    } finally {
      lead.close();
      other.close();
    }
  }, 30_000);

  it("(simple tokens, for comparison) made on one member work on every other member at once", async () => {
    const ms = await startCluster(3, ["--bcrypt-cost", "4"]);
    const cs = ms.map(clients);
    try {
      await enableAuth(cs[0] as ReturnType<typeof clients>);
      for (let i = 0; i < 20; i++) {
        const from = cs[i % 3] as ReturnType<typeof clients>;
        const to = cs[(i + 1) % 3] as ReturnType<typeof clients>;
        // Every member records every simple token when it applies the Authenticate.
        await put(to, await login(from));
      }
    } finally {
      for (const c of cs) c.close();
    }
  }, 30_000);

  it("are not given at all with an empty --auth-token", async () => {
    const [m] = (await startCluster(1, ["--auth-token", "", "--bcrypt-cost", "4"])) as [Etcd];
    const c = clients(m);
    try {
      await enableAuth(c);
      await expect(login(c)).rejects.toMatchObject({ code: 3, details: "etcdserver: authentication failed, invalid user ID or password" });
      await expect(put(c, "any.1")).rejects.toMatchObject({ code: 16, details: "etcdserver: invalid auth token" });
    } finally {
      c.close();
    }
  });
});
