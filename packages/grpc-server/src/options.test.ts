import { connect, constants, type ClientHttp2Session } from "node:http2";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { GrpcServer, type GrpcServerOptions } from "./index.js";

// The session options etcd's flags set (--max-concurrent-streams, --grpc-keepalive-interval,
// --grpc-keepalive-timeout, --grpc-keepalive-min-time), each shown to change what a client
// sees. Times are short but every assertion waits for an outcome, never for a duration.

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function serve(o: GrpcServerOptions): Promise<number> {
  const grpc = new GrpcServer(o);
  const net: Server = createServer((socket) => grpc.injectConnection(socket));
  await new Promise<void>((r) => net.listen(0, "127.0.0.1", r));
  cleanups.push(() => {
    grpc.close();
    net.close();
  });
  return (net.address() as AddressInfo).port;
}

function client(port: number): ClientHttp2Session {
  const c = connect(`http://127.0.0.1:${port}`);
  c.on("error", () => undefined);
  cleanups.push(() => c.destroy());
  return c;
}

function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > end) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

/**
 * rawClient speaks just enough HTTP/2 to open a session (preface and empty SETTINGS) and then
 * never answers anything, PINGs included; it records the frame types it receives.
 */
function rawClient(port: number): { frames: number[]; closed: () => boolean } {
  const frames: number[] = [];
  let buf = Buffer.alloc(0);
  let closed = false;
  const s: Socket = createConnection(port, "127.0.0.1", () => {
    s.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  });
  s.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      frames.push(buf[3] as number);
      buf = buf.subarray(9 + len);
    }
  });
  s.on("error", () => undefined);
  s.on("close", () => (closed = true));
  cleanups.push(() => s.destroy());
  return { frames, closed: () => closed };
}

const PING = 0x6;

describe("GrpcServer session options", () => {
  it("announces maxConcurrentStreams in its SETTINGS (default 2^32-1)", async () => {
    const seen = async (o: GrpcServerOptions): Promise<number | undefined> => {
      const c = client(await serve(o));
      return new Promise((resolve) => c.once("remoteSettings", (s) => resolve(s.maxConcurrentStreams)));
    };
    expect(await seen({ maxConcurrentStreams: 5 })).toBe(5);
    expect(await seen({})).toBe(2 ** 32 - 1);
  });

  it("pings each session every keepaliveIntervalMs, and not at all with 0", async () => {
    const pinged = client(await serve({ keepaliveIntervalMs: 50 }));
    let pings = 0;
    pinged.on("ping", () => pings++);
    await until("two server pings", () => pings >= 2);

    const quiet = rawClient(await serve({ keepaliveIntervalMs: 0 }));
    const other = rawClient(await serve({ keepaliveIntervalMs: 50, keepaliveTimeoutMs: 60_000 }));
    await until("a ping on the other session", () => other.frames.includes(PING));
    await until("a few more pings there", () => other.frames.filter((f) => f === PING).length >= 3);
    expect(quiet.frames).not.toContain(PING);
  });

  it("closes a session that does not answer a ping within keepaliveTimeoutMs", async () => {
    const short = rawClient(await serve({ keepaliveIntervalMs: 50, keepaliveTimeoutMs: 100 }));
    const long = rawClient(await serve({ keepaliveIntervalMs: 50, keepaliveTimeoutMs: 60_000 }));
    await until("the unanswered session to be closed", () => short.closed());
    expect(short.frames).toContain(PING);
    await until("pings on the patient session", () => long.frames.filter((f) => f === PING).length >= 5);
    expect(long.closed()).toBe(false);
  });

  it("sends GOAWAY ENHANCE_YOUR_CALM too_many_pings to a client pinging more often than keepaliveMinTimeMs", async () => {
    const flood = async (o: GrpcServerOptions, expectGoaway: boolean): Promise<{ code: number; data: string; last: number } | undefined> => {
      const c = client(await serve(o));
      let away: { code: number; data: string; last: number } | undefined;
      c.on("goaway", (code: number, last: number, data?: Buffer) => (away = { code, data: data?.toString() ?? "", last }));
      await new Promise<void>((r) => c.once("connect", () => r()));
      for (let i = 0; i < 6 && away === undefined && !c.closed && !c.destroyed; i++) {
        try {
          await new Promise<void>((r) => c.ping(() => r()));
        } catch {
          break;
        }
      }
      if (expectGoaway) await until("GOAWAY", () => away !== undefined);
      return away;
    };
    expect(await flood({ keepaliveMinTimeMs: 60_000 }, true)).toEqual({ code: constants.NGHTTP2_ENHANCE_YOUR_CALM, data: "too_many_pings", last: 0 });
    expect(await flood({ keepaliveMinTimeMs: 0 }, false)).toBeUndefined();
  });

  it("does not count pings against a client the server answers between them (grpc-go), and names its last stream in the GOAWAY", async () => {
    const c = client(await serve({ keepaliveMinTimeMs: 60_000 }));
    let away: { code: number; last: number } | undefined;
    c.on("goaway", (code: number, last: number) => (away = { code, last }));
    await new Promise<void>((r) => c.once("connect", () => r()));
    const ping = (): Promise<void> => new Promise<void>((r) => c.ping(() => r()));
    /** call makes a call the server answers (UNIMPLEMENTED, trailers-only) and returns its stream ID. */
    const call = (): Promise<number> =>
      new Promise((resolve) => {
        const st = c.request({ ":method": "POST", ":path": "/x.Y/Z", "content-type": "application/grpc" });
        st.on("error", () => undefined);
        st.on("response", () => resolve(st.id as number));
        st.end();
      });
    let lastId = 0;
    for (let i = 0; i < 8; i++) {
      lastId = await call();
      await ping();
    }
    expect(away).toBeUndefined();
    // Pings with nothing sent between them are strikes again; the GOAWAY names the last call.
    for (let i = 0; i < 6 && away === undefined && !c.destroyed; i++) await ping().catch(() => undefined);
    await until("GOAWAY", () => away !== undefined);
    expect(away).toEqual({ code: constants.NGHTTP2_ENHANCE_YOUR_CALM, last: lastId });
  });
});
