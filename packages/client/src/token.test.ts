import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "./client.js";
import { EtcdError } from "./errors.js";
import { startFakeAuth, type FakeAuthServer } from "./testing/fakeauth.js";
import { TokenSource } from "./token.js";

describe("TokenSource", () => {
  it("fetches once for concurrent callers and again after a refusal", async () => {
    let n = 0;
    const ts = new TokenSource("u", "p", async () => `t${++n}`);
    const [a, b] = await Promise.all([ts.ensure(100), ts.ensure(100)]);
    expect([a, b, n, ts.current]).toEqual(["token", "token", 1, "t1"]);
    expect(ts.metadata().get("token")).toEqual(["t1"]);
    await ts.refresh("t1", 100);
    expect(ts.current).toBe("t2");
    // A refusal of a token already replaced keeps the newer one.
    await ts.refresh("t1", 100);
    expect([ts.current, n]).toEqual(["t2", 2]);
  });

  it("goes without a token when authentication is disabled, and keeps other errors", async () => {
    const disabled = new TokenSource("u", "p", async () => {
      throw new EtcdError(grpc.status.FAILED_PRECONDITION, "etcdserver: authentication is not enabled", false);
    });
    expect(await disabled.ensure(100)).toBe("disabled");
    expect(disabled.metadata().get("token")).toEqual([]);
    const wrong = new TokenSource("u", "p", async () => {
      throw new EtcdError(grpc.status.INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password", false);
    });
    await expect(wrong.ensure(100)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it("refreshes for stale, unknown or missing tokens only", () => {
    const ts = new TokenSource("u", "p", async () => "t");
    const e = (code: grpc.status, d: string, local = false): EtcdError => new EtcdError(code, d, local);
    expect(ts.shouldRefresh(e(grpc.status.UNAUTHENTICATED, "etcdserver: invalid auth token"))).toBe(true);
    expect(ts.shouldRefresh(e(grpc.status.INVALID_ARGUMENT, "etcdserver: revision of auth store is old"))).toBe(true);
    expect(ts.shouldRefresh(e(grpc.status.INVALID_ARGUMENT, "etcdserver: user name is empty"))).toBe(true);
    expect(ts.shouldRefresh(e(grpc.status.PERMISSION_DENIED, "etcdserver: permission denied"))).toBe(false);
    expect(ts.shouldRefresh(e(grpc.status.UNAUTHENTICATED, "etcdserver: invalid auth token", true))).toBe(false);
  });
});

describe("Client with credentials", () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    // Clients first: a server stops once its calls have ended.
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const fake = async (): Promise<FakeAuthServer> => {
    const f = await startFakeAuth("root", "pw");
    cleanup.push(() => f.stop());
    return f;
  };
  const client = (endpoint: string, username?: string, password?: string): Client => {
    const c = new Client({
      endpoints: [endpoint],
      dialTimeoutMs: 3000,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
    });
    cleanup.push(() => c.close());
    return c;
  };

  it("authenticates once and sends the token with every call", async () => {
    const f = await fake();
    const c = client(f.endpoint, "root", "pw");
    await Promise.all([c.range({ key: Buffer.from("a") }), c.range({ key: Buffer.from("b") })]);
    await c.range({ key: Buffer.from("c") });
    expect(f.authenticates).toBe(1);
    expect(f.tokensSeen).toEqual(["tok-1", "tok-1", "tok-1"]);
    expect(await c.authenticate()).toBe("token");
    expect(f.authenticates).toBe(1);
  });

  it("authenticates again once and retries when the token is refused", async () => {
    const f = await fake();
    const c = client(f.endpoint, "root", "pw");
    await c.range({ key: Buffer.from("a") });
    f.expireTokens();
    await c.range({ key: Buffer.from("a") });
    expect(f.tokensSeen).toEqual(["tok-1", "tok-1", "tok-2"]);
    expect(f.authenticates).toBe(2);
  });

  it("calls without a token while the server has authentication disabled", async () => {
    const f = await fake();
    f.enabled = false;
    const c = client(f.endpoint, "root", "pw");
    expect(await c.authenticate()).toBe("disabled");
    await c.range({ key: Buffer.from("a") });
    expect(f.tokensSeen).toEqual([""]);
    // Enabled later: the refusal of the token-less call makes the client authenticate.
    f.enabled = true;
    await c.range({ key: Buffer.from("a") });
    expect(f.tokensSeen).toEqual(["", "", "tok-1"]);
  });

  it("rejects calls with the server's error for wrong credentials", async () => {
    const f = await fake();
    const c = client(f.endpoint, "root", "bad");
    const want = { code: grpc.status.INVALID_ARGUMENT, message: "etcdserver: authentication failed, invalid user ID or password", local: false };
    await expect(c.authenticate()).rejects.toMatchObject(want);
    await expect(c.range({ key: Buffer.from("a") })).rejects.toMatchObject(want);
    expect(f.tokensSeen).toEqual([]);
  });

  it("lets a caller abort or time out while the token is being fetched", async () => {
    const f = await fake();
    f.hangAuthenticate = true;
    const c = client(f.endpoint, "root", "pw");
    const ac = new AbortController();
    const p = c.range({ key: Buffer.from("a") }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: grpc.status.CANCELLED, local: true });
    await expect(c.range({ key: Buffer.from("a") }, { timeoutMs: 100 })).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
      local: true,
    });
    expect(f.tokensSeen).toEqual([]);
  });

  it("does not authenticate without both a user name and a password", async () => {
    const f = await fake();
    for (const c of [client(f.endpoint), client(f.endpoint, "root", ""), client(f.endpoint, "", "pw")]) {
      expect(await c.authenticate()).toBe("none");
      await expect(c.range({ key: Buffer.from("a") })).rejects.toMatchObject({ message: "etcdserver: user name is empty" });
    }
    expect(f.authenticates).toBe(0);
  });
});
