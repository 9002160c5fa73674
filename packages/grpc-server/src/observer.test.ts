import { createServer, type AddressInfo, type Server } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcError, GrpcServer, Status, type BidiStream, type CallObserver, type ClientStream, type MethodInfo, type ServerStream } from "./index.js";
// @ts-expect-error -- plain JS test service shared with the child server process.
import { EchoService } from "./testing/echo.mjs";

type Msg = Record<string, unknown>;
type Client = grpc.Client & Record<string, (...a: unknown[]) => unknown>;

const EchoClient = grpc.makeGenericClientConstructor(EchoService, "test.Echo") as unknown as new (
  addr: string,
  creds: grpc.ChannelCredentials,
) => Client;

/** Tally is what the observer saw of one method. */
interface Tally {
  info: MethodInfo;
  started: number;
  received: number;
  sent: number;
  handled: number[];
  seconds: number[];
}

/** recorder is a CallObserver that tallies every event by method name. */
function recorder(): { observer: CallObserver; by: Map<string, Tally> } {
  const by = new Map<string, Tally>();
  const observer: CallObserver = {
    method(info) {
      const t: Tally = { info, started: 0, received: 0, sent: 0, handled: [], seconds: [] };
      by.set(info.method, t);
      return {
        started: () => void t.started++,
        received: () => void t.received++,
        sent: () => void t.sent++,
        handled: (code, seconds) => {
          t.handled.push(code);
          t.seconds.push(seconds);
        },
      };
    },
  };
  return { observer, by };
}

const waitFor = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("GrpcServer's CallObserver", () => {
  let net: Server;
  let client: Client;
  const rec = recorder();

  beforeAll(async () => {
    const server = new GrpcServer({ observer: rec.observer });
    server.addService(EchoService, {
      unary: async (req: Msg) => {
        if (req["fail"] !== undefined) throw new GrpcError(Status.NOT_FOUND, "no such thing");
        return req;
      },
      serverStream: async (req: Msg, call: ServerStream<Msg>) => {
        for (let i = 0; i < Number(req["count"]); i++) await call.send({ i });
        if (req["hang"] !== undefined) await new Promise<void>((resolve) => call.onCancel(() => resolve()));
      },
      clientStream: async (call: ClientStream<Msg>) => {
        let n = 0;
        for await (const _ of call) n++;
        return { n };
      },
      bidi: async (call: BidiStream<Msg, Msg>) => {
        for await (const m of call) await call.send(m);
      },
    });
    net = createServer((sock) => server.injectConnection(sock));
    await new Promise<void>((resolve) => net.listen(0, "127.0.0.1", () => resolve()));
    client = new EchoClient(`127.0.0.1:${(net.address() as AddressInfo).port}`, grpc.credentials.createInsecure());
  });
  afterAll(() => {
    client.close();
    net.close();
  });

  const unary = (req: Msg): Promise<Msg> =>
    new Promise((resolve, reject) =>
      (client["unary"] as (r: Msg, cb: (e: grpc.ServiceError | null, r: Msg) => void) => void)(req, (err, res) => (err ? reject(err) : resolve(res))),
    );

  it("asks for one observer per registered method, with its service, name and call kind", () => {
    expect(rec.by.get("Unary")?.info).toEqual({ service: "test.Echo", method: "Unary", requestStream: false, responseStream: false });
    expect(rec.by.get("ServerStream")?.info).toMatchObject({ requestStream: false, responseStream: true });
    expect(rec.by.get("ClientStream")?.info).toMatchObject({ requestStream: true, responseStream: false });
    expect(rec.by.get("Bidi")?.info).toMatchObject({ requestStream: true, responseStream: true });
    // Methods without a handler answer Unimplemented before any handler: nothing to observe.
    expect(rec.by.has("Rss")).toBe(false);
  });

  it("reports unary calls: started, one message each way, and the status code", async () => {
    await unary({ a: 1 });
    await unary({ a: 2 });
    await expect(unary({ fail: 1 })).rejects.toMatchObject({ code: Status.NOT_FOUND });
    const t = rec.by.get("Unary") as Tally;
    expect(t.started).toBe(3);
    expect(t.received).toBe(3);
    expect(t.sent).toBe(2);
    expect(t.handled).toEqual([Status.OK, Status.OK, Status.NOT_FOUND]);
    for (const s of t.seconds) expect(s).toBeGreaterThanOrEqual(0);
  });

  it("reports every message of the streaming kinds", async () => {
    await new Promise<void>((resolve, reject) => {
      const s = (client["serverStream"] as (r: Msg) => grpc.ClientReadableStream<Msg>)({ count: 3 });
      s.on("data", () => undefined);
      s.on("end", () => resolve());
      s.on("error", reject);
    });
    await new Promise<void>((resolve, reject) => {
      const s = (client["clientStream"] as (cb: (e: grpc.ServiceError | null, r: Msg) => void) => grpc.ClientWritableStream<Msg>)((e) => (e ? reject(e) : resolve()));
      s.write({ n: 1 });
      s.write({ n: 2 });
      s.end();
    });
    await new Promise<void>((resolve, reject) => {
      const s = (client["bidi"] as () => grpc.ClientDuplexStream<Msg, Msg>)();
      s.on("data", () => undefined);
      s.on("end", () => resolve());
      s.on("error", reject);
      s.write({ n: 1 });
      s.write({ n: 2 });
      s.end();
    });
    await waitFor(() => (rec.by.get("Bidi")?.handled.length ?? 0) === 1);
    expect(rec.by.get("ServerStream")).toMatchObject({ started: 1, received: 1, sent: 3, handled: [Status.OK] });
    expect(rec.by.get("ClientStream")).toMatchObject({ started: 1, received: 2, sent: 1, handled: [Status.OK] });
    expect(rec.by.get("Bidi")).toMatchObject({ started: 1, received: 2, sent: 2, handled: [Status.OK] });
  });

  it("reports a call the client cancels as CANCELLED, once", async () => {
    const s = (client["serverStream"] as (r: Msg) => grpc.ClientReadableStream<Msg>)({ count: 1, hang: 1 });
    s.on("error", () => undefined);
    await new Promise<void>((resolve) => s.once("data", () => resolve()));
    s.cancel();
    await waitFor(() => (rec.by.get("ServerStream")?.handled.length ?? 0) === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(rec.by.get("ServerStream")).toMatchObject({ started: 2, received: 2, sent: 4, handled: [Status.OK, Status.CANCELLED] });
  });
});
