import * as grpc from "@grpc/grpc-js";
import { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openConnection, unaryCaller } from "./grpc-caller.js";
import { grpcFrame, H2Connection, MessageReader, requestHeaderBlock, unframe, type H2StreamHandler } from "./h2-client.js";
import { ClosedLoop, SequentialSource } from "./loop.js";

const id = (b: Buffer): Buffer => b;

/** A grpc-js server with test methods taking and returning raw bytes. */
let server: grpc.Server;
let port: number;
let hung: grpc.sendUnaryData<Buffer>[] = [];

function method(path: string, streaming = false): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  };
}

beforeEach(async () => {
  hung = [];
  server = new grpc.Server();
  server.addService(
    {
      Echo: method("/test.T/Echo"),
      Big: method("/test.T/Big"),
      Fail: method("/test.T/Fail"),
      Hang: method("/test.T/Hang"),
      Headers: method("/test.T/Headers"),
      Chat: method("/test.T/Chat", true),
      Burst: method("/test.T/Burst", true),
      Refuse: method("/test.T/Refuse", true),
    },
    {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([call.request, call.request])),
      Big: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(200_000, 7)),
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb({ code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: key is not provided" }),
      Hang: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        hung.push(cb);
      },
      // Headers answers with the request's metadata (the custom headers node:http2 decoded), as JSON.
      Headers: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, Buffer.from(JSON.stringify(call.metadata.getMap()))),
      // Chat echoes every message twice, the second time reversed.
      Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on("data", (b: Buffer) => {
          call.write(b);
          call.write(Buffer.from(b).reverse());
        });
        call.on("end", () => call.end());
      },
      // Burst answers a message "n,size" with n messages of size bytes (byte i = i % 251), then ends OK.
      Burst: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.once("data", (b: Buffer) => {
          const [n, size] = b.toString().split(",").map(Number) as [number, number];
          const msg = Buffer.alloc(size);
          for (let i = 0; i < size; i++) msg[i] = i % 251;
          for (let i = 0; i < n; i++) call.write(msg);
          call.end();
        });
      },
      Refuse: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "no such thing" });
      },
    },
  );
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
});

afterEach(() => {
  server.forceShutdown();
});

function call(c: H2Connection, path: string, msg: Buffer): Promise<Error | null> {
  return new Promise((resolve) => c.unary(requestHeaderBlock(path, `127.0.0.1:${port}`), grpcFrame(msg), resolve));
}

describe("H2Connection", () => {
  it("completes many concurrent calls, past the server's initial flow-control window", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    try {
      const msg = Buffer.alloc(1000, 1);
      // 300 x 1 kB = 300 kB > the 64 kB connection window: needs the server's WINDOW_UPDATEs
      const results = await Promise.all(Array.from({ length: 300 }, () => call(c, "/test.T/Echo", msg)));
      expect(results.filter((r) => r !== null)).toEqual([]);
      expect(c.outstanding).toBe(0);
    } finally {
      c.close();
    }
  });

  it("receives responses larger than one frame and the initial window", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    try {
      const results = await Promise.all(Array.from({ length: 5 }, () => call(c, "/test.T/Big", Buffer.alloc(1))));
      expect(results).toEqual([null, null, null, null, null]);
    } finally {
      c.close();
    }
  });

  it("reports a gRPC error status as a failed call", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    try {
      const err = await call(c, "/test.T/Fail", Buffer.alloc(1));
      expect(err?.message).toMatch(/without a message/);
      expect(await call(c, "/test.T/Echo", Buffer.from("ok"))).toBeNull();
      const missing = await call(c, "/test.T/Nope", Buffer.alloc(1));
      expect(missing).not.toBeNull();
    } finally {
      c.close();
    }
  });

  it("fails a call that outlives its deadline and keeps the connection usable", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 300);
    try {
      const err = await call(c, "/test.T/Hang", Buffer.alloc(1));
      expect(err?.message).toMatch(/deadline of 300 ms exceeded/);
      expect(await call(c, "/test.T/Echo", Buffer.from("ok"))).toBeNull();
    } finally {
      c.close();
    }
  });

  it("fails outstanding and later calls when the server goes away", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    const pending = call(c, "/test.T/Hang", Buffer.alloc(1));
    while (hung.length === 0) await new Promise((r) => setTimeout(r, 5));
    server.forceShutdown();
    expect((await pending)?.message).toMatch(/^h2: /);
    expect((await call(c, "/test.T/Echo", Buffer.alloc(1)))?.message).toMatch(/^h2: /);
    c.close();
  });

  it("rejects connecting to a port nobody listens on", async () => {
    server.forceShutdown();
    await expect(H2Connection.connect("127.0.0.1", port, 2000)).rejects.toThrow(/h2: /);
  });

  it("fails calls after close", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    c.close();
    expect((await call(c, "/test.T/Echo", Buffer.alloc(1)))?.message).toMatch(/closed by client/);
  });
});

/**
 * STRICT_PEER is an HTTP/2 server in a thread of its own (so it runs while the test's thread
 * is busy): after the client preface it sends an empty SETTINGS frame and drops the connection
 * unless the client acknowledges it within workerData.ackWithinMs, as etcd-ts's client listener
 * does (after 5 s). It posts its port, then "acked" or "dropped".
 */
const STRICT_PEER = `
const { parentPort, workerData } = require("node:worker_threads");
const net = require("node:net");
const srv = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  let timer;
  let sent = false;
  sock.on("error", () => undefined);
  sock.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    if (!sent) {
      if (buf.length < 24) return;
      sent = true;
      buf = buf.subarray(24);
      sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      timer = setTimeout(() => { parentPort.postMessage("dropped"); sock.destroy(); }, workerData.ackWithinMs);
    }
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3], flags = buf[4];
      buf = buf.subarray(9 + len);
      if (type === 4 && (flags & 1) !== 0) { clearTimeout(timer); parentPort.postMessage("acked"); }
    }
  });
});
srv.listen(0, "127.0.0.1", () => parentPort.postMessage(srv.address().port));
`;

describe("H2Connection handshake", () => {
  it("acknowledges the server's SETTINGS before connect resolves, so work right after connecting cannot hold the ACK back", async () => {
    const peer = new Worker(STRICT_PEER, { eval: true, workerData: { ackWithinMs: 500 } });
    const inbox: unknown[] = [];
    let wake: (() => void) | undefined;
    peer.on("message", (m: unknown) => {
      inbox.push(m);
      wake?.();
    });
    const next = async (): Promise<unknown> => {
      while (inbox.length === 0) await new Promise<void>((r) => (wake = r));
      return inbox.shift();
    };
    try {
      const peerPort = (await next()) as number;
      const c = await H2Connection.connect("127.0.0.1", peerPort, 5000);
      // Long synchronous work right after connecting, as the defrag workload's request encoding.
      const t = Date.now();
      while (Date.now() - t < 1500) {
        /* busy */
      }
      expect(await next()).toBe("acked");
      c.close();
    } finally {
      await peer.terminate();
    }
  });
});

/** collect opens a stream and gathers what comes back until it ends. */
function collect(c: H2Connection, path: string): { messages: Buffer[]; ended: Promise<[Error, number]>; stream: ReturnType<H2Connection["openStream"]> } {
  const messages: Buffer[] = [];
  let end!: (v: [Error, number]) => void;
  const ended = new Promise<[Error, number]>((r) => (end = r));
  const handler: H2StreamHandler = {
    onMessage: (b, s, e) => messages.push(Buffer.from(b.subarray(s, e))),
    onEnd: (err, n) => end([err, n]),
  };
  const stream = c.openStream(requestHeaderBlock(path, `127.0.0.1:${port}`), handler);
  return { messages, ended, stream };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe("H2Connection streams", () => {
  it("sends and receives messages both ways on one stream, alongside unary calls", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    try {
      const { messages, stream } = collect(c, "/test.T/Chat");
      for (let i = 0; i < 50; i++) stream.send(grpcFrame(Buffer.from(`m${i}`)));
      expect(await call(c, "/test.T/Echo", Buffer.from("x"))).toBeNull();
      await until(() => messages.length === 100);
      expect(messages.slice(0, 4).map(String)).toEqual(["m0", "0m", "m1", "1m"]);
      expect(stream.queuedBytes).toBe(0);
    } finally {
      c.close();
    }
  });

  it("reassembles messages larger than a frame and sends ones larger than the window", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    try {
      const b = collect(c, "/test.T/Burst");
      b.stream.send(grpcFrame(Buffer.from("3,100000")));
      const [err, n] = await b.ended;
      expect(err.message).toMatch(/server ended the stream after 3 messages/);
      expect(n).toBe(3);
      expect(b.messages.map((m) => m.length)).toEqual([100000, 100000, 100000]);
      expect(b.messages.every((m) => m.every((x, i) => x === i % 251))).toBe(true);
      // 200 kB from the client: more than the server's 64 kB initial stream window
      const chat = collect(c, "/test.T/Chat");
      const big = Buffer.alloc(200_000, 9);
      chat.stream.send(grpcFrame(big));
      expect(chat.stream.queuedBytes).toBeGreaterThan(0); // waits for the server's WINDOW_UPDATEs
      await until(() => chat.messages.length === 2);
      expect(chat.messages[0]!.equals(big)).toBe(true);
    } finally {
      c.close();
    }
  });

  it("reports a refused stream, and a cancelled stream reports nothing", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    try {
      const refused = collect(c, "/test.T/Refuse");
      const [err, n] = await refused.ended;
      expect(err.message).toMatch(/^h2: /);
      expect(n).toBe(0);
      const chat = collect(c, "/test.T/Chat");
      let ended = false;
      void chat.ended.then(() => (ended = true));
      chat.stream.send(grpcFrame(Buffer.from("a")));
      await until(() => chat.messages.length === 2);
      chat.stream.cancel();
      chat.stream.send(grpcFrame(Buffer.from("dropped")));
      expect(await call(c, "/test.T/Echo", Buffer.from("still usable"))).toBeNull();
      await new Promise((r) => setTimeout(r, 50));
      expect(ended).toBe(false);
      expect(chat.messages.length).toBe(2);
    } finally {
      c.close();
    }
  });

  it("ends open streams when the connection goes", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    const chat = collect(c, "/test.T/Chat");
    chat.stream.send(grpcFrame(Buffer.from("a")));
    await until(() => chat.messages.length === 2);
    c.close();
    const [err, n] = await chat.ended;
    expect(err.message).toMatch(/closed by client/);
    expect(n).toBe(2);
  });

  it("call() hands back the response message", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    try {
      const res = await new Promise<Buffer | undefined>((resolve, reject) =>
        c.call(requestHeaderBlock("/test.T/Echo", `127.0.0.1:${port}`), grpcFrame(Buffer.from("abc")), (err, r) => (err ? reject(err) : resolve(r))),
      );
      expect(res?.toString()).toBe("abcabc");
      const big = await new Promise<Buffer | undefined>((resolve, reject) =>
        c.call(requestHeaderBlock("/test.T/Big", `127.0.0.1:${port}`), grpcFrame(Buffer.alloc(1)), (err, r) => (err ? reject(err) : resolve(r))),
      );
      expect(big?.length).toBe(200_000);
      const failed = await new Promise<Error | null>((resolve) =>
        c.call(requestHeaderBlock("/test.T/Fail", `127.0.0.1:${port}`), grpcFrame(Buffer.alloc(1)), (err) => resolve(err)),
      );
      expect(failed?.message).toMatch(/without a message/);
    } finally {
      c.close();
    }
  });
});

describe("MessageReader", () => {
  it("reassembles messages however the bytes are split", () => {
    const msgs = [Buffer.alloc(0), Buffer.from("hello"), Buffer.alloc(3000, 7), Buffer.from("x")];
    const wire = Buffer.concat(msgs.map(grpcFrame));
    for (const step of [1, 2, 3, 5, 7, 64, 4096, wire.length]) {
      const got: Buffer[] = [];
      const r = new MessageReader(1 << 20, (b, s, e) => got.push(Buffer.from(b.subarray(s, e))));
      for (let p = 0; p < wire.length; p += step) r.push(wire, p, Math.min(wire.length, p + step));
      expect(got).toEqual(msgs);
      expect(r.messages).toBe(4);
      expect(r.partial).toBe(false);
    }
  });

  it("refuses compressed and oversized messages", () => {
    const r = new MessageReader(10, () => {});
    expect(() => r.push(Buffer.from([1, 0, 0, 0, 1, 0]), 0, 6)).toThrow(/compressed/);
    const r2 = new MessageReader(10, () => {});
    expect(() => r2.push(grpcFrame(Buffer.alloc(11)), 0, 16)).toThrow(/above the limit/);
  });

  it("unframe checks a unary response is exactly one message", () => {
    expect(unframe([grpcFrame(Buffer.from("ab")).subarray(0, 4), grpcFrame(Buffer.from("ab")).subarray(4)], 100).toString()).toBe("ab");
    expect(() => unframe([Buffer.from([0, 0, 0])], 100)).toThrow(/shorter/);
    expect(() => unframe([Buffer.concat([grpcFrame(Buffer.from("a")), Buffer.from("z")])], 100)).toThrow(/announced/);
  });
});

describe("requestHeaderBlock and grpcFrame", () => {
  it("encode the request headers without Huffman coding or indexing", () => {
    const b = requestHeaderBlock("/etcdserverpb.KV/Range", "127.0.0.1:2379");
    expect(b[0]).toBe(0x83);
    expect(b[1]).toBe(0x86);
    expect(b.includes(Buffer.from("/etcdserverpb.KV/Range"))).toBe(true);
    expect(b.includes(Buffer.from("application/grpc"))).toBe(true);
    expect(b.includes(Buffer.from("trailers"))).toBe(true);
    const long = requestHeaderBlock(`/${"x".repeat(200)}`, "a");
    expect(long[2]).toBe(0x04); // :path literal, static name index 4
    expect(long[3]).toBe(0x7f); // 201-byte string: 7-bit prefix overflows
    expect(long[4]).toBe(201 - 127);
  });

  it("adds an auth token as a literal header without indexing, after the fixed headers", () => {
    const plain = requestHeaderBlock("/etcdserverpb.KV/Put", "127.0.0.1:2379");
    const token = "KJHqwErtyUIOpaSD.42";
    const b = requestHeaderBlock("/etcdserverpb.KV/Put", "127.0.0.1:2379", token);
    // The block without a token is unchanged and is the prefix of the one with it.
    expect(b.subarray(0, plain.length).equals(plain)).toBe(true);
    // 0x00: literal without indexing, new name; then name and value, each length-prefixed, no Huffman.
    expect([...b.subarray(plain.length)]).toEqual([0x00, 5, ...Buffer.from("token"), token.length, ...Buffer.from(token)]);
    // A long token overflows the 7-bit length prefix: 0x7f, then the rest as an HPACK varint.
    const long = "t".repeat(300);
    const lb = requestHeaderBlock("/p", "a", long);
    const tail = lb.subarray(requestHeaderBlock("/p", "a").length);
    // 300 - 127 = 173 = 0b1_0101101: low 7 bits with the continuation bit (0xad), then 1.
    expect([...tail.subarray(0, 10)]).toEqual([0x00, 5, ...Buffer.from("token"), 0x7f, 0xad, 0x01]);
    expect(tail.length).toBe(10 + 300);
    expect(() => requestHeaderBlock("/p", "a", "bad token")).toThrow(/visible ASCII/);
  });

  it("a token header block decodes, in a real HPACK decoder (node:http2 under grpc-js), to the token metadata", async () => {
    const c = await H2Connection.connect("127.0.0.1", port, 5000);
    const headersOf = (token?: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) =>
        c.call(requestHeaderBlock("/test.T/Headers", `127.0.0.1:${port}`, token), grpcFrame(Buffer.alloc(0)), (err, r) =>
          err || r === undefined ? reject(err ?? new Error("no response")) : resolve(JSON.parse(r.toString()) as Record<string, unknown>),
        ),
      );
    try {
      expect((await headersOf("abcDEF.7")).token).toBe("abcDEF.7");
      // Reused on the same connection (no dynamic-table state), and without a token: none.
      expect((await headersOf("abcDEF.7")).token).toBe("abcDEF.7");
      expect((await headersOf("x".repeat(300))).token).toBe("x".repeat(300));
      expect(await headersOf()).not.toHaveProperty("token");
    } finally {
      c.close();
    }
  });

  it("grpcFrame writes the uncompressed flag and the big-endian length", () => {
    expect([...grpcFrame(Buffer.from([9, 8, 7]))]).toEqual([0, 0, 0, 0, 3, 9, 8, 7]);
  });
});

describe("ClosedLoop over real connections", () => {
  it("drives the same requests through h2 and grpc-js", async () => {
    const h2 = await H2Connection.connect("127.0.0.1", port, 5000);
    const headers = requestHeaderBlock("/test.T/Echo", `127.0.0.1:${port}`);
    const gc = openConnection(`127.0.0.1:${port}`);
    try {
      const reqs = Array.from({ length: 200 }, (_, i) => Buffer.from(`req-${i}`));
      const viaH2 = new ClosedLoop({
        callers: [(req, done) => h2.unary(headers, req, done)],
        clients: 10,
        source: new SequentialSource(reqs.map(grpcFrame)),
        now: () => 0,
        maxRequests: 1e6,
        errorBackoffMs: 1,
      });
      const viaGrpc = new ClosedLoop({
        callers: [unaryCaller(gc, "/test.T/Echo", 5000)],
        clients: 10,
        source: new SequentialSource(reqs),
        now: () => 0,
        maxRequests: 1e6,
        errorBackoffMs: 1,
      });
      viaH2.start();
      viaGrpc.start();
      const [a, b] = await Promise.all([viaH2.done, viaGrpc.done]);
      expect([a.totalOk, a.totalErrors, b.totalOk, b.totalErrors]).toEqual([200, 0, 200, 0]);
    } finally {
      h2.close();
      gc.close();
    }
  });
});
