import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Logger } from "../log.js";
import { TcpProxy, type SrvTarget } from "./tcp_proxy.js";

const logger = new Logger("error");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** echoServer answers every line with "<name>:<line>". */
async function echoServer(name: string): Promise<{ port: number; server: Server }> {
  const server = createServer((s) => s.on("data", (d) => s.write(`${name}:${d.toString()}`)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return { port: (server.address() as { port: number }).port, server };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function startProxy(endpoints: SrvTarget[], monitorIntervalMs = 60_000, random?: (n: number) => number): Promise<{ proxy: TcpProxy; port: number }> {
  const listener = createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", () => r()));
  const proxy = new TcpProxy({ listener, endpoints, monitorIntervalMs, logger, ...(random ? { random } : {}) });
  proxy.run();
  cleanups.push(() => proxy.stop());
  return { proxy, port: (listener.address() as { port: number }).port };
}

/** ask connects through the proxy, sends "hi" and returns the answer. */
async function ask(port: number): Promise<string> {
  const s: Socket = connect({ port, host: "127.0.0.1" });
  try {
    return await new Promise<string>((resolve, reject) => {
      s.once("data", (d) => resolve(d.toString()));
      s.once("error", reject);
      s.once("close", () => reject(new Error("closed")));
      s.write("hi");
    });
  } finally {
    s.destroy();
  }
}

const plain = (port: number): SrvTarget => ({ target: "127.0.0.1", port, priority: 0, weight: 0 });

describe("TcpProxy (etcd's gateway)", () => {
  it("spreads connections over the endpoints in turn and carries bytes both ways", async () => {
    const a = await echoServer("a");
    const b = await echoServer("b");
    const { port } = await startProxy([plain(a.port), plain(b.port)]);
    expect([await ask(port), await ask(port), await ask(port), await ask(port)]).toEqual(["a:hi", "b:hi", "a:hi", "b:hi"]);
  });

  it("skips an endpoint that refuses connections, and takes it back once the monitor reaches it", async () => {
    const a = await echoServer("a");
    const downPort = await freePort();
    const { proxy, port } = await startProxy([plain(downPort), plain(a.port)], 100);
    expect(await ask(port)).toBe("a:hi");
    expect(proxy.active()).toEqual([`127.0.0.1:${a.port}`]);
    expect(await ask(port)).toBe("a:hi");
    // The endpoint comes up: the monitor dials it and it takes connections again.
    const b = createServer((s) => s.on("data", (d) => s.write(`b:${d.toString()}`)));
    await new Promise<void>((r) => b.listen(downPort, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise((r) => b.close(() => r())));
    await new Promise((r) => setTimeout(r, 300));
    expect(proxy.active()).toHaveLength(2);
    const answers = new Set([await ask(port), await ask(port)]);
    expect(answers).toEqual(new Set(["a:hi", "b:hi"]));
  });

  it("closes the client's connection when no endpoint answers", async () => {
    const { port } = await startProxy([plain(await freePort())]);
    // Closed with the client's bytes unread: a reset, as with etcd's gateway.
    await expect(ask(port)).rejects.toThrow(/closed|ECONNRESET/);
  });

  it("prefers the lowest SRV priority and picks by weight within it", async () => {
    const a = await echoServer("a");
    const b = await echoServer("b");
    const c = await echoServer("c");
    let next = 0;
    const draws = [0, 50, 99];
    const { port } = await startProxy(
      [
        { target: "127.0.0.1", port: a.port, priority: 10, weight: 50 },
        { target: "127.0.0.1", port: b.port, priority: 10, weight: 50 },
        { target: "127.0.0.1", port: c.port, priority: 20, weight: 100 },
      ],
      60_000,
      () => draws[next++ % draws.length] as number,
    );
    // choose 0 -> a (0-50 <= 0); 50 -> a (50-50 = 0); 99 -> b (99-50 = 49 > 0, 49-50 <= 0). c (priority 20) never.
    expect([await ask(port), await ask(port), await ask(port)]).toEqual(["a:hi", "a:hi", "b:hi"]);
  });
});
