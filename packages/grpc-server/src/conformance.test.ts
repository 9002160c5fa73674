import { createServer, type AddressInfo, type Server } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcError, GrpcServer, Status, type BidiStream, type CallContext, type ClientStream, type Interceptor, type ServerStream } from "./index.js";
// @ts-expect-error -- plain JS test service shared with the child server process.
import { EchoService } from "./testing/echo.mjs";

type Msg = Record<string, unknown>;
type Client = grpc.Client & Record<string, (...a: unknown[]) => unknown>;

const EchoClient = grpc.makeGenericClientConstructor(EchoService, "test.Echo") as unknown as new (
  addr: string,
  creds: grpc.ChannelCredentials,
  opts?: grpc.ClientOptions,
) => Client;

/** seen records what handlers observed, for the assertions. */
const seen = {
  ctx: undefined as CallContext | undefined,
  cancelled: [] as string[],
  sendRejected: [] as string[],
  intercepted: [] as string[],
  requests: [] as unknown[],
};

function startServer(server: GrpcServer): Promise<{ net: Server; port: number }> {
  const net = createServer((sock) => server.injectConnection(sock));
  return new Promise((resolve) => net.listen(0, "127.0.0.1", () => resolve({ net, port: (net.address() as AddressInfo).port })));
}

function unary(c: Client, method: string, req: Msg, opts: grpc.CallOptions = {}, md = new grpc.Metadata()): Promise<Msg> {
  return new Promise((resolve, reject) =>
    (c[method] as (r: Msg, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Msg) => void) => void)(
      req,
      md,
      opts,
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
}

const waitFor = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("GrpcServer with a grpc-js client", () => {
  let net: Server;
  let client: Client;
  let gzipClient: Client;
  const tag: Interceptor = async (ctx, next) => {
    seen.intercepted.push(ctx.method);
    if (ctx.method === "/test.Echo/Unary") seen.requests.push(ctx.request);
    if (ctx.metadata.get("deny") !== undefined) throw new GrpcError(Status.PERMISSION_DENIED, "denied by interceptor");
    ctx.values.set(USER, ctx.metadata.get("user") ?? "");
    await next();
  };
  const USER = Symbol("user");

  beforeAll(async () => {
    const server = new GrpcServer({
      maxReceiveMessageBytes: 64 * 1024,
      interceptors: [tag],
      errorToStatus: (err) => (err instanceof RangeError ? { code: Status.OUT_OF_RANGE, message: `mapped: ${err.message}` } : undefined),
    });
    server.addService(EchoService, {
      unary: async (req: Msg, ctx: CallContext) => {
        seen.ctx = ctx;
        if (req["fail"] !== undefined) throw new GrpcError(Status.FAILED_PRECONDITION, String(req["fail"]));
        if (req["range"] !== undefined) throw new RangeError("too far");
        if (req["plain"] !== undefined) throw new Error("plain error");
        if (req["wait"] !== undefined) {
          await new Promise<void>((resolve) => ctx.onCancel(() => resolve()));
          seen.cancelled.push(`unary:${String(ctx.signal.aborted)}`);
          return {};
        }
        return { ...req, user: ctx.values.get(USER), token: ctx.metadata.get("token") ?? null, peer: ctx.peer };
      },
      serverStream: async (req: Msg, call: ServerStream<Msg>) => {
        const n = Number(req["count"]);
        for (let i = 0; i < n; i++) await call.send({ i });
        if (req["failAfter"] !== undefined) throw new GrpcError(Status.ABORTED, "after messages");
        if (req["forever"] !== undefined) {
          try {
            for (let i = 0; ; i++) await call.send({ i, pad: "y".repeat(1000) });
          } catch (err) {
            seen.sendRejected.push((err as GrpcError).message);
            seen.cancelled.push(`stream:${String(call.cancelled)}`);
          }
        }
      },
      clientStream: async (call: ClientStream<Msg>) => {
        let sum = 0;
        for await (const m of call) sum += Number((m as Msg)["n"]);
        return { sum };
      },
      bidi: async (call: BidiStream<Msg, Msg>) => {
        for await (const m of call) {
          if ((m as Msg)["end"] !== undefined) return;
          await call.send({ echo: (m as Msg)["n"] });
        }
      },
    });
    const started = await startServer(server);
    net = started.net;
    client = new EchoClient(`127.0.0.1:${started.port}`, grpc.credentials.createInsecure());
    gzipClient = new EchoClient(`127.0.0.1:${started.port}`, grpc.credentials.createInsecure(), {
      "grpc.default_compression_algorithm": 2,
    });
  });
  afterAll(() => {
    client.close();
    gzipClient.close();
    net.close();
  });

  it("answers a unary call, with metadata, interceptor values and the peer address", async () => {
    const md = new grpc.Metadata();
    md.set("token", "abc");
    md.set("user", "alice");
    const res = await unary(client, "unary", { a: 1 }, {}, md);
    expect(res).toMatchObject({ a: 1, token: "abc", user: "alice" });
    expect(String(res["peer"])).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(seen.intercepted).toContain("/test.Echo/Unary");
    expect(seen.requests).toContainEqual({ a: 1 });
    expect(seen.ctx?.deadline).toBeUndefined();
  });

  it("sends a handler's status code and message, percent-encoded and decoded intact", async () => {
    await expect(unary(client, "unary", { fail: "nope: 100% ünïcode\n" })).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      details: "nope: 100% ünïcode\n",
    });
    await expect(unary(client, "unary", { range: 1 })).rejects.toMatchObject({ code: Status.OUT_OF_RANGE, details: "mapped: too far" });
    await expect(unary(client, "unary", { plain: 1 })).rejects.toMatchObject({ code: Status.UNKNOWN, details: "plain error" });
  });

  it("lets an interceptor refuse a call before its handler", async () => {
    const md = new grpc.Metadata();
    md.set("deny", "1");
    await expect(unary(client, "unary", { a: 1 }, {}, md)).rejects.toMatchObject({ code: Status.PERMISSION_DENIED, details: "denied by interceptor" });
  });

  it("answers Unimplemented for a method without handler and for an unknown service", async () => {
    await expect(unary(client, "rss", {})).rejects.toMatchObject({ code: Status.UNIMPLEMENTED, details: "unknown method Rss for service test.Echo" });
    const Other = grpc.makeGenericClientConstructor({ x: { ...EchoService.unary, path: "/test.Other/X" } }, "test.Other") as unknown as typeof EchoClient;
    const other = new Other(client.getChannel().getTarget().replace(/^dns:/, ""), grpc.credentials.createInsecure());
    await expect(unary(other, "x", {})).rejects.toMatchObject({ code: Status.UNIMPLEMENTED, details: "unknown service test.Other" });
    other.close();
  });

  it("streams server messages, then OK or the handler's error in trailers", async () => {
    const read = (req: Msg): Promise<{ msgs: Msg[]; err?: grpc.ServiceError }> =>
      new Promise((resolve) => {
        const msgs: Msg[] = [];
        const s = (client["serverStream"] as (r: Msg) => grpc.ClientReadableStream<Msg>)(req);
        s.on("data", (m: Msg) => msgs.push(m));
        s.on("error", (err: grpc.ServiceError) => resolve({ msgs, err }));
        s.on("end", () => resolve({ msgs }));
      });
    const ok = await read({ count: 50 });
    expect(ok.msgs.map((m) => m["i"])).toEqual([...Array(50).keys()]);
    expect(ok.err).toBeUndefined();
    const bad = await read({ count: 3, failAfter: 1 });
    expect(bad.msgs).toHaveLength(3);
    expect(bad.err).toMatchObject({ code: Status.ABORTED, details: "after messages" });
  });

  it("reads a client stream to its end", async () => {
    const res = await new Promise<Msg>((resolve, reject) => {
      const s = (client["clientStream"] as (cb: (e: Error | null, r: Msg) => void) => grpc.ClientWritableStream<Msg>)((e, r) =>
        e ? reject(e) : resolve(r),
      );
      for (let n = 1; n <= 100; n++) s.write({ n });
      s.end();
    });
    expect(res).toEqual({ sum: 5050 });
  });

  it("runs a bidirectional stream in lockstep and ends it when the handler returns", async () => {
    const s = (client["bidi"] as () => grpc.ClientDuplexStream<Msg, Msg>)();
    const got: unknown[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      s.on("data", (m: Msg) => {
        got.push(m["echo"]);
        if (got.length < 5) s.write({ n: got.length });
        else s.write({ end: true });
      });
      s.on("end", () => resolve());
      s.on("error", reject);
    });
    s.write({ n: 0 });
    await ended;
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  it("takes gzip-compressed requests from grpc-js", async () => {
    expect(await unary(gzipClient, "unary", { big: "z".repeat(50_000) })).toMatchObject({ big: "z".repeat(50_000) });
  });

  it("refuses a request larger than the receive limit with RESOURCE_EXHAUSTED", async () => {
    await expect(unary(client, "unary", { big: "z".repeat(70_000) })).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/^grpc: received message larger than max \(\d+ vs\. 65536\)$/),
    });
    // The same bytes compressed are small on the wire: the inflated size is what counts.
    await expect(unary(gzipClient, "unary", { big: "z".repeat(70_000) })).rejects.toMatchObject({
      code: Status.RESOURCE_EXHAUSTED,
      details: "grpc: received message after decompression larger than max (65537 vs. 65536)",
    });
  });

  it("cancels the handler when the client cancels: signal, onCancel, pending sends", async () => {
    const s = (client["serverStream"] as (r: Msg) => grpc.ClientReadableStream<Msg>)({ count: 0, forever: true });
    let n = 0;
    s.on("data", () => {
      if (++n === 20) s.cancel();
    });
    s.on("error", () => undefined);
    await waitFor(() => seen.cancelled.includes("stream:true"));
    expect(seen.sendRejected).toContain("context canceled");

    const call = unary(client, "unary", { wait: 1 }, { deadline: Date.now() + 200 });
    await expect(call).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    await waitFor(() => seen.cancelled.includes("unary:true"));
    expect(seen.ctx?.deadline).toBeGreaterThan(Date.now() - 5000);
  });

  it("refuses handlers the service does not have", () => {
    const server = new GrpcServer();
    expect(() => server.addService(EchoService, { nope: async () => ({}) } as never)).toThrow(/no method "nope"/);
    expect(() => server.addService(EchoService, { unary: 42 } as never)).toThrow(/not a function/);
  });
});
