// child_server.mjs: a GrpcServer in its own process (for RSS measurements), listening on a
// free loopback port it prints as "port <n>". Handlers: Unary waits 2s then echoes; ClientStream
// never reads; ServerStream sends `count` messages of `size` bytes awaiting each send; Rss
// answers process.memoryUsage().rss after a GC when exposed.
import { createServer } from "node:net";
import { GrpcServer } from "../../dist/index.js";
import { EchoService } from "./echo.mjs";

const server = new GrpcServer({ maxReceiveMessageBytes: 1024 * 1024 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
server.addService(EchoService, {
  unary: async (req) => {
    await sleep(2000);
    return req;
  },
  never: async (call) => {
    await new Promise((resolve) => call.onCancel(resolve));
    return {};
  },
  serverStream: async (req, call) => {
    const pad = "x".repeat(req.size);
    for (let i = 0; i < req.count; i++) await call.send({ i, pad });
  },
  rss: async () => {
    globalThis.gc?.();
    return { rss: process.memoryUsage().rss };
  },
});
const net = createServer((sock) => server.injectConnection(sock));
net.listen(0, "127.0.0.1", () => console.log(`port ${net.address().port}`));
