import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AUTH_PASSWORD, AUTH_USER, authenticate, enableAuth } from "./auth.js";
import { openChannel, toWire, type Channel } from "./channel.js";
import { explainStream, openConnection, unaryCaller, unaryOnce, waitReady } from "./grpc-caller.js";
import type { Transport } from "./protocol.js";
import { encodePrefixedPuts, encodeWatchCreate, PUT_PATH, RANGE_PATH, WATCH_PATH, WATCH_PREFIX } from "./requests.js";
import { startCluster } from "./servers.js";
import { ToyEtcd } from "./testing/toy-etcd.js";
import { WatchResponseScan } from "./watch.js";

const PUT = encodePrefixedPuts(WATCH_PREFIX, { keySpace: 1, keySize: 8, valueSize: 16 })[0]!;
const RANGE = Buffer.from(etcdserverpb.RangeRequest.encode(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("k") })).finish());

function unary(ch: Channel, method: string, message: Buffer): Promise<Error | null> {
  return new Promise((resolve) => ch.unary(method, toWire(ch, message), resolve));
}

/**
 * watchAnswers opens a Watch on ch, creates one watcher, and resolves with the answers that
 * came before the stream ended or 300 ms passed: "created", "canceled: <reason>" (etcd
 * refuses a watcher it does not permit that way), or "event".
 */
function watchAnswers(ch: Channel): Promise<string[]> {
  return new Promise((resolve) => {
    const seen: string[] = [];
    const scan = new WatchResponseScan();
    const s = ch.stream(WATCH_PATH, {
      onMessage: (buf, start, end) => {
        scan.parse(buf, start, end);
        seen.push(scan.canceled ? `canceled: ${scan.cancelReason}` : scan.created ? "created" : "event");
      },
      onEnd: () => {
        clearTimeout(timer);
        resolve(seen);
      },
    });
    const timer = setTimeout(() => {
      s.cancel();
      resolve(seen);
    }, 300);
    s.send(toWire(ch, encodeWatchCreate(WATCH_PREFIX)));
  });
}

describe("enableAuth and authenticate against a toy etcd", () => {
  let toy: ToyEtcd;
  let other: ToyEtcd | undefined;

  beforeEach(async () => {
    toy = new ToyEtcd();
    await toy.start();
    other = undefined;
  });

  afterEach(() => {
    toy.stop();
    other?.stop();
  });

  it("adds root, grants it the root role, enables auth, authenticates, and checks the token, in that order", async () => {
    const ep = `127.0.0.1:${toy.port}`;
    const token = await enableAuth([ep], 5000);
    expect(toy.authEnabled).toBe(true);
    expect(toy.users.get(AUTH_USER)).toEqual({ password: AUTH_PASSWORD, roles: new Set(["root"]) });
    expect(toy.tokens.has(token)).toBe(true);
    expect(toy.calls).toEqual([
      { method: "UserAdd", token: undefined },
      { method: "UserGrantRole", token: undefined },
      { method: "AuthEnable", token: undefined },
      { method: "Authenticate", token: undefined },
      { method: "Range", token },
    ]);
    // A fresh token on each authenticate (before each workload).
    const again = await authenticate([ep], 5000);
    expect(again).not.toBe(token);
    expect(toy.tokens.has(again)).toBe(true);
  });

  it("names the step and the server's error when a step fails", async () => {
    const ep = `127.0.0.1:${toy.port}`;
    toy.users.set(AUTH_USER, { password: "other", roles: new Set() });
    await expect(enableAuth([ep], 5000)).rejects.toThrow(/^bench: --auth: UserAdd root: .*user name already exists/);
    toy.users.clear();
    await enableAuth([ep], 5000);
    // Once auth is on, the admin calls need a token as well (as in etcd).
    await expect(enableAuth([ep], 5000)).rejects.toThrow(/^bench: --auth: UserAdd root: .*user name is empty/);
    const fresh = new ToyEtcd();
    await fresh.start();
    try {
      await expect(authenticate([`127.0.0.1:${fresh.port}`], 5000)).rejects.toThrow(/Authenticate as root: .*authentication is not enabled/);
    } finally {
      fresh.stop();
    }
  });

  it("waits until every endpoint accepts the token (a follower applies the Authenticate a little later)", async () => {
    other = new ToyEtcd();
    await other.start();
    other.authEnabled = true; // a second member: auth is on, the new token not yet known
    const second = other;
    const ep1 = `127.0.0.1:${toy.port}`;
    const ep2 = `127.0.0.1:${second.port}`;
    const adopt = setInterval(() => {
      for (const t of toy.tokens) second.tokens.add(t);
    }, 200);
    try {
      const token = await enableAuth([ep1, ep2], 5000);
      expect(second.tokens.has(token)).toBe(true);
      const probes = second.calls.filter((c) => c.method === "Range");
      expect(probes.length).toBeGreaterThanOrEqual(1);
      expect(probes.every((c) => c.token === token)).toBe(true);
    } finally {
      clearInterval(adopt);
    }
  });
});

describe.each<[Transport]>([["h2"], ["grpc-js"]])("requests carry the token over %s", (transport) => {
  let toy: ToyEtcd;
  let token: string;
  const open: Channel[] = [];

  beforeEach(async () => {
    toy = new ToyEtcd();
    await toy.start();
    token = await enableAuth([`127.0.0.1:${toy.port}`], 5000);
  });

  afterEach(() => {
    for (const c of open.splice(0)) c.close();
    toy.stop();
  });

  async function channel(withToken: string | undefined): Promise<Channel> {
    const ch = await openChannel(transport, `127.0.0.1:${toy.port}`, 5000, withToken);
    open.push(ch);
    return ch;
  }

  it("on unary calls and on Watch streams of a channel, and are refused without it", async () => {
    const ch = await channel(token);
    expect(await unary(ch, PUT_PATH, PUT)).toBeNull();
    expect(await unary(ch, RANGE_PATH, RANGE)).toBeNull();
    expect(await new Promise<Error | null>((resolve) => ch.call(PUT_PATH, toWire(ch, PUT), (err) => resolve(err)))).toBeNull();
    expect(await watchAnswers(ch)).toEqual(["created"]);
    const bare = await channel(undefined);
    expect(await unary(bare, PUT_PATH, PUT)).not.toBeNull();
    expect(await watchAnswers(bare)).toEqual([]);
    const stale = await channel("not-a-token.1");
    expect(await unary(stale, PUT_PATH, PUT)).not.toBeNull();
    const calls = toy.calls.slice(5);
    expect(calls.slice(0, 4)).toEqual([
      { method: "Put", token },
      { method: "Range", token },
      { method: "Put", token },
      { method: "Watch", token },
    ]);
  });
});

describe("grpc-js helpers carry the token", () => {
  let toy: ToyEtcd;

  beforeEach(async () => {
    toy = new ToyEtcd();
    await toy.start();
  });

  afterEach(() => toy.stop());

  it("unaryCaller, unaryOnce and explainStream", async () => {
    const ep = `127.0.0.1:${toy.port}`;
    const token = await enableAuth([ep], 5000);
    const c = openConnection(ep);
    try {
      await waitReady(c, 5000);
      await expect(unaryOnce(c, PUT_PATH, PUT, 5000, token)).resolves.toBeInstanceOf(Buffer);
      await expect(unaryOnce(c, PUT_PATH, PUT, 5000)).rejects.toThrow(/user name is empty/);
      await expect(unaryOnce(c, PUT_PATH, PUT, 5000, "bogus.1")).rejects.toThrow(/invalid auth token/);
      const caller = unaryCaller(c, PUT_PATH, 5000, token);
      expect(await new Promise<Error | null>((resolve) => caller(PUT, resolve))).toBeNull();
    } finally {
      c.close();
    }
    expect(await explainStream(ep, WATCH_PATH, encodeWatchCreate(WATCH_PREFIX), 2000, token)).toMatch(/was answered/);
    expect(await explainStream(ep, WATCH_PATH, encodeWatchCreate(WATCH_PREFIX), 2000)).toMatch(/user name is empty/);
  });
});

const ETCD = "/usr/bin/etcd";

describe.skipIf(!existsSync(ETCD))("enableAuth against the real etcd", () => {
  it("turns auth on; the token is required afterwards and accepted on unary calls and Watch streams over h2", async () => {
    const root = mkdtempSync(join(tmpdir(), "bench-auth-test-"));
    const cluster = await startCluster(
      { label: "etcd+auth", kind: "etcd", auth: true, argv: [ETCD] },
      { size: 1, dataRoot: root, logDir: root, startTimeoutMs: 30_000 },
    );
    const chans: Channel[] = [];
    try {
      const ep = cluster.endpoints()[0]!;
      const token = await enableAuth(cluster.endpoints(), 5000);
      expect(token).not.toBe("");
      const c = openConnection(ep);
      try {
        await waitReady(c, 5000);
        await expect(unaryOnce(c, RANGE_PATH, RANGE, 5000)).rejects.toThrow(/user name is empty/);
        await expect(unaryOnce(c, RANGE_PATH, RANGE, 5000, token)).resolves.toBeInstanceOf(Buffer);
      } finally {
        c.close();
      }
      const ch = await openChannel("h2", ep, 5000, token);
      chans.push(ch);
      expect(await unary(ch, PUT_PATH, PUT)).toBeNull();
      expect(await watchAnswers(ch)).toEqual(["created"]);
      const bare = await openChannel("h2", ep, 5000);
      chans.push(bare);
      expect(await unary(bare, PUT_PATH, PUT)).not.toBeNull();
      expect((await watchAnswers(bare))[0]).toMatch(/^canceled: .*user name is empty/);
      // Another Authenticate gives another token; both stay valid.
      const second = await authenticate(cluster.endpoints(), 5000);
      expect(second).not.toBe(token);
      expect(await unary(ch, PUT_PATH, PUT)).toBeNull();
    } finally {
      for (const ch of chans) ch.close();
      await cluster.stop();
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
