import { spawn, type ChildProcess } from "node:child_process";
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Status } from "./index.js";
// @ts-expect-error -- plain JS test service shared with the child server process.
import { EchoService } from "./testing/echo.mjs";

// The server runs in a child process so that its RSS is its own: each test feeds it an input
// that made the first server hold memory without bound, and checks RSS stays flat.
const MAX = 1024 * 1024;
/** RSS_SLACK_BYTES is how much the server's RSS may grow while it is fed hundreds of MB. */
const RSS_SLACK_BYTES = 40 * 1024 * 1024;

let child: ChildProcess;
let port = 0;
let rssClient: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
let session: ClientHttp2Session;

function rss(): Promise<number> {
  return new Promise((resolve, reject) =>
    (rssClient["rss"] as (r: object, cb: (e: Error | null, r: { rss: number }) => void) => void)({}, (e, r) => (e ? reject(e) : resolve(r.rss))),
  );
}

function open(method: string, extra: Record<string, string> = {}): ClientHttp2Stream {
  return session.request({
    ":method": "POST",
    ":path": `/test.Echo/${method}`,
    "content-type": "application/grpc",
    te: "trailers",
    ...extra,
  });
}

/** status resolves with the grpc-status and grpc-message the server sends (headers or trailers). */
function status(s: ClientHttp2Stream): Promise<{ code: number; message: string }> {
  return new Promise((resolve, reject) => {
    const take = (h: Record<string, unknown>): boolean => {
      if (h["grpc-status"] === undefined) return false;
      resolve({ code: Number(h["grpc-status"]), message: decodeURIComponent(String(h["grpc-message"] ?? "")) });
      return true;
    };
    s.on("response", (h) => take(h));
    s.on("trailers", (h) => take(h));
    s.on("error", reject);
    s.on("data", () => undefined);
  });
}

/**
 * pump writes chunk to s for up to ms or until total bytes, waiting for 'drain' (at most
 * 500 ms at a time) when the stream's buffer is full; it returns the bytes the stream accepted.
 */
async function pump(s: ClientHttp2Stream, chunk: Buffer, total: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let sent = 0;
  while (sent < total && Date.now() < end && !s.closed && !s.destroyed) {
    sent += chunk.length;
    if (!s.write(chunk)) {
      const drained = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 500);
        s.once("drain", () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      if (!drained) continue;
    }
  }
  return sent;
}

function header(len: number, compressed = false): Buffer {
  const h = Buffer.alloc(5);
  h[0] = compressed ? 1 : 0;
  h.writeUInt32BE(len, 1);
  return h;
}

describe("GrpcServer under inputs that once grew memory without bound", () => {
  beforeAll(async () => {
    const script = fileURLToPath(new URL("./testing/child_server.mjs", import.meta.url));
    child = spawn(process.execPath, ["--expose-gc", script], { stdio: ["ignore", "pipe", "inherit"] });
    port = await new Promise<number>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`child server exited with ${String(code)}`)));
      child.stdout?.on("data", (b: Buffer) => {
        const m = /port (\d+)/.exec(b.toString());
        if (m) resolve(Number(m[1]));
      });
    });
    const Client = grpc.makeGenericClientConstructor(EchoService, "test.Echo") as unknown as new (a: string, c: grpc.ChannelCredentials) => typeof rssClient;
    rssClient = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    session = connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
  });
  afterAll(() => {
    session?.destroy();
    rssClient?.close();
    child?.kill();
  });

  it("answers a unary request that keeps sending after its message, and reads no more of it", async () => {
    const before = await rss();
    for (const fill of [0x00, 0xff]) {
      const s = open("Unary");
      const st = status(s);
      s.write(Buffer.concat([header(10), Buffer.from('{"n":1234}')]));
      const sent = await pump(s, Buffer.alloc(64 * 1024, fill), 300 * 1024 * 1024, 3000);
      const { code, message } = await st;
      if (fill === 0xff) {
        // The bytes after the message declare a 4 GiB message.
        expect({ code, message }).toEqual({ code: Status.RESOURCE_EXHAUSTED, message: `grpc: received message larger than max (4294967295 vs. ${MAX})` });
      } else {
        expect(code).toBe(Status.INTERNAL);
        expect(message).toMatch(/second request message/);
      }
      // Flow control stopped the client long before it could send 300 MB.
      expect(sent).toBeLessThan(32 * 1024 * 1024);
      s.destroy();
    }
    expect((await rss()) - before).toBeLessThan(RSS_SLACK_BYTES);
  });

  it("refuses a gzip message whose inflated size passes the limit, without inflating it", async () => {
    const before = await rss();
    const bomb = gzipSync(Buffer.alloc(300 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(MAX);
    const s = open("Unary", { "grpc-encoding": "gzip" });
    const st = status(s);
    s.end(Buffer.concat([header(bomb.length, true), bomb]));
    expect(await st).toEqual({
      code: Status.RESOURCE_EXHAUSTED,
      message: `grpc: received message after decompression larger than max (${MAX + 1} vs. ${MAX})`,
    });
    expect((await rss()) - before).toBeLessThan(RSS_SLACK_BYTES);
  });

  it("answers malformed requests with grpc-go's status and text", async () => {
    const call = async (body: Buffer, extra: Record<string, string> = {}): Promise<{ code: number; message: string }> => {
      const s = open("Rss", extra);
      const st = status(s);
      s.end(body);
      return st;
    };
    const bad = Buffer.from("{not json");
    expect(await call(Buffer.concat([header(bad.length), bad]))).toEqual({
      code: Status.INTERNAL,
      message: expect.stringMatching(/^grpc: error unmarshalling request: /) as unknown as string,
    });
    const flagged = Buffer.concat([header(2), Buffer.from("{}")]);
    flagged[0] = 2;
    expect(await call(flagged)).toEqual({ code: Status.INTERNAL, message: "grpc: received unexpected payload format 2" });
    expect(await call(Buffer.concat([header(2, true), Buffer.from("{}")]))).toEqual({
      code: Status.INTERNAL,
      message: "grpc: compressed flag set with identity or empty encoding",
    });
    expect(await call(Buffer.concat([header(2), Buffer.from("{}")]), { "grpc-encoding": "snappy" })).toEqual({
      code: Status.UNIMPLEMENTED,
      message: 'grpc: Decompressor is not installed for grpc-encoding "snappy"',
    });
    expect(await call(Buffer.concat([header(2), Buffer.from("{}")]), { "grpc-timeout": "soon" })).toEqual({
      code: Status.INTERNAL,
      message: "transport: malformed grpc-timeout: soon",
    });
    expect(await call(Buffer.concat([header(10), Buffer.from("{}")]))).toEqual({
      code: Status.INTERNAL,
      message: "grpc: the request stream ended inside a message",
    });
    expect(await call(Buffer.alloc(0))).toEqual({
      code: Status.INTERNAL,
      message: "grpc: the request stream ended without a request message",
    });
  });

  it("stops reading a client stream its handler does not read", async () => {
    const before = await rss();
    const s = open("Never");
    const msg = Buffer.concat([header(65_536 - 5), Buffer.from(`"${"q".repeat(65_536 - 7)}"`)]);
    const sent = await pump(s, msg, 300 * 1024 * 1024, 3000);
    expect(sent).toBeLessThan(32 * 1024 * 1024);
    expect((await rss()) - before).toBeLessThan(RSS_SLACK_BYTES);
    s.close();
  });

  it("holds no more than its write buffer for a client that stops reading a server stream", async () => {
    const before = await rss();
    const req = Buffer.from(JSON.stringify({ count: 100_000, size: 10_000 }));
    const s = open("ServerStream");
    s.end(Buffer.concat([header(req.length), req]));
    s.pause();
    let got = 0;
    s.on("data", (b: Buffer) => (got += b.length));
    await new Promise((r) => setTimeout(r, 2000));
    expect((await rss()) - before).toBeLessThan(RSS_SLACK_BYTES);
    // A client that reads again gets the stream going again.
    s.resume();
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toBeGreaterThan(0);
    s.close();
  });
});
