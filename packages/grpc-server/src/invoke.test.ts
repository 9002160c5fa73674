import { describe, expect, it } from "vitest";
import { GrpcError, GrpcServer, Metadata, Status, type CallObserver, type Interceptor, type ServerStream } from "./index.js";
// @ts-expect-error -- plain JS test service shared with the child server process.
import { EchoService } from "./testing/echo.mjs";

type Msg = Record<string, unknown>;
const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const dec = (b: Buffer): Msg => JSON.parse(b.toString("utf8")) as Msg;
const opts = (out: Msg[], metadata: Record<string, string> = {}) => ({
  metadata: new Metadata(metadata),
  peer: "127.0.0.1:1",
  onMessage: (b: Buffer) => void out.push(dec(b)),
});

describe("GrpcServer.invoke (in-process calls)", () => {
  it("runs a unary call through the interceptors with its metadata and returns the response", async () => {
    const seen: string[] = [];
    const ic: Interceptor = async (ctx, next) => {
      seen.push(`${ctx.method} ${ctx.metadata.get("x-who") ?? ""} ${JSON.stringify(ctx.request)}`);
      await next();
    };
    const s = new GrpcServer({ interceptors: [ic] });
    s.addService(EchoService, { unary: async (req: Msg) => ({ echo: req["v"] }) });
    const out: Msg[] = [];
    const st = await s.invoke("/test.Echo/Unary", [enc({ v: 1 })], opts(out, { "x-who": "me" })).done;
    expect(st).toEqual({ code: Status.OK, message: "" });
    expect(out).toEqual([{ echo: 1 }]);
    expect(seen).toEqual(['/test.Echo/Unary me {"v":1}']);
  });

  it("maps a handler's error with errorToStatus, and an interceptor's refusal too", async () => {
    const s = new GrpcServer({
      errorToStatus: (e) => (e instanceof RangeError ? { code: Status.OUT_OF_RANGE, message: "mapped" } : undefined),
      interceptors: [
        async (ctx, next) => {
          if (ctx.metadata.get("deny") !== undefined) throw new GrpcError(Status.PERMISSION_DENIED, "denied");
          await next();
        },
      ],
    });
    s.addService(EchoService, {
      unary: async () => {
        throw new RangeError("x");
      },
    });
    expect(await s.invoke("/test.Echo/Unary", [enc({})], opts([])).done).toEqual({ code: Status.OUT_OF_RANGE, message: "mapped" });
    expect(await s.invoke("/test.Echo/Unary", [enc({})], opts([], { deny: "1" })).done).toEqual({ code: Status.PERMISSION_DENIED, message: "denied" });
  });

  it("answers an unknown service or method as a network call would", async () => {
    const s = new GrpcServer();
    s.addService(EchoService, { unary: async (req: Msg) => req });
    expect(await s.invoke("/test.Nope/X", [enc({})], opts([])).done).toEqual({ code: Status.UNIMPLEMENTED, message: "unknown service test.Nope" });
    expect(await s.invoke("/test.Echo/Bidi", [enc({})], opts([])).done).toEqual({
      code: Status.UNIMPLEMENTED,
      message: "unknown method Bidi for service test.Echo",
    });
  });

  it("streams a bidi call's responses after half-closing its requests, until the caller cancels", async () => {
    const s = new GrpcServer();
    let cancelled = false;
    s.addService(EchoService, {
      bidi: async (call: ServerStream<Msg> & AsyncIterable<Msg>) => {
        call.onCancel(() => (cancelled = true));
        for await (const m of call) await call.send({ got: m["n"] });
        await call.send({ halfClosed: true });
        await new Promise<void>((resolve) => call.onCancel(() => resolve()));
      },
    });
    const out: Msg[] = [];
    const c = s.invoke("/test.Echo/Bidi", [enc({ n: 1 }), enc({ n: 2 })], opts(out));
    await new Promise((r) => setTimeout(r, 20));
    expect(out).toEqual([{ got: 1 }, { got: 2 }, { halfClosed: true }]);
    c.cancel();
    expect(await c.done).toEqual({ code: Status.CANCELLED, message: "context canceled" });
    expect(cancelled).toBe(true);
  });

  it("reports in-process calls to the observer like network calls", async () => {
    const events: string[] = [];
    const observer: CallObserver = {
      method: (info) => ({
        started: () => events.push(`${info.method} started`),
        received: () => events.push(`${info.method} received`),
        sent: () => events.push(`${info.method} sent`),
        handled: (code) => events.push(`${info.method} handled ${code}`),
      }),
    };
    const s = new GrpcServer({ observer });
    s.addService(EchoService, {
      serverStream: async (req: Msg, call: ServerStream<Msg>) => {
        await call.send(req);
        await call.send(req);
      },
    });
    const out: Msg[] = [];
    expect((await s.invoke("/test.Echo/ServerStream", [enc({ a: 1 })], opts(out)).done).code).toBe(Status.OK);
    expect(out).toEqual([{ a: 1 }, { a: 1 }]);
    expect(events).toEqual(["ServerStream started", "ServerStream received", "ServerStream sent", "ServerStream sent", "ServerStream handled 0"]);
  });
});
