import { createServer, connect, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "@etcd-ts/test-kit";
import { FaultProxy } from "./proxy.js";

/** echo is a TCP server that answers every chunk with the same bytes. */
async function echo(): Promise<{ server: Server; port: number }> {
  const port = await freePort();
  const server = createServer((s) => {
    s.on("error", () => undefined); // the proxy resets its side on partition and close
    s.on("data", (d) => s.write(d));
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return { server, port };
}

function collect(s: Socket): { text: () => string } {
  let buf = "";
  s.on("data", (d: Buffer) => (buf += d.toString()));
  return { text: () => buf };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("FaultProxy", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
  });

  async function setup(): Promise<{ proxy: FaultProxy; client: Socket; got: () => string }> {
    const e = await echo();
    const proxy = await FaultProxy.start(await freePort(), e.port);
    const client = connect(proxy.port, "127.0.0.1");
    client.on("error", () => undefined);
    await new Promise<void>((r) => client.once("connect", () => r()));
    cleanup.push(() => void client.destroy(), () => proxy.close(), () => new Promise<void>((r) => e.server.close(() => r())));
    return { proxy, client, got: collect(client).text };
  }

  it("forwards both ways", async () => {
    const { client, got } = await setup();
    client.write("a");
    await sleep(50);
    expect(got()).toBe("a");
  });

  it("blackhole-in holds bytes toward the member until healed, then delivers them in order", async () => {
    const { proxy, client, got } = await setup();
    proxy.inject("blackhole-in");
    client.write("1");
    client.write("2");
    await sleep(100);
    expect(got()).toBe("");
    proxy.heal();
    client.write("3");
    await sleep(100);
    expect(got()).toBe("123");
  });

  it("blackhole-out holds the member's answers; the member still receives", async () => {
    const { proxy, client, got } = await setup();
    proxy.inject("blackhole-out");
    client.write("x");
    await sleep(100);
    expect(got()).toBe("");
    proxy.heal();
    await sleep(100);
    expect(got()).toBe("x");
  });

  it("partition resets open connections and refuses new ones until healed", async () => {
    const { proxy, client } = await setup();
    const closed = new Promise<void>((r) => client.once("close", () => r()));
    client.on("error", () => undefined);
    proxy.inject("partition");
    await closed;
    const refused = connect(proxy.port, "127.0.0.1");
    refused.on("error", () => undefined);
    const ended = await new Promise<string>((r) => {
      refused.once("error", (e) => r(e.message));
      refused.once("close", () => r("closed"));
    });
    expect(ended).toBeTruthy();
    proxy.heal();
    const again = connect(proxy.port, "127.0.0.1");
    again.on("error", () => undefined);
    const got = collect(again);
    await new Promise<void>((r) => again.once("connect", () => r()));
    again.write("ok");
    await sleep(50);
    expect(got.text()).toBe("ok");
    again.destroy();
  });

  it("delay forwards after the delay", async () => {
    const { proxy, client, got } = await setup();
    proxy.inject("delay", 150);
    client.write("d");
    await sleep(60);
    expect(got()).toBe("");
    await sleep(300);
    expect(got()).toBe("d");
  });
});
