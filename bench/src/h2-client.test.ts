import * as grpc from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openConnection, unaryCaller } from "./grpc-caller.js";
import { grpcFrame, H2Connection, requestHeaderBlock } from "./h2-client.js";
import { ClosedLoop, SequentialSource } from "./loop.js";

const id = (b: Buffer): Buffer => b;

/** A grpc-js server with test methods taking and returning raw bytes. */
let server: grpc.Server;
let port: number;
let hung: grpc.sendUnaryData<Buffer>[] = [];

function method(path: string): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream: false,
    responseStream: false,
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
    },
    {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([call.request, call.request])),
      Big: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(200_000, 7)),
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb({ code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: key is not provided" }),
      Hang: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        hung.push(cb);
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
