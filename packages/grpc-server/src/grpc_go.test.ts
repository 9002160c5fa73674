import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcServer, type CallContext } from "./index.js";

// The real etcdctl 3.4 (Debian's etcd-client) is a grpc-go client: these tests drive every
// call kind etcd uses (unary, server-streaming Snapshot, bidirectional Watch and
// LeaseKeepAlive) through it against services made up here, so that what is tested is the
// transport, not etcd-ts's server.

const header = (): etcdserverpb.ResponseHeader => ({ clusterId: 1n, memberId: 2n, revision: 7n, raftTerm: 3n });
const kv = (key: string, value: string): mvccpb.KeyValue => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  createRevision: 5n,
  modRevision: 7n,
  version: 2n,
  lease: 0n,
});
const SNAPSHOT_DATA = Buffer.concat([...Array(300).keys()].map((i) => Buffer.alloc(4096, i & 0xff)));
/** SNAPSHOT ends with the SHA-256 of what precedes it, which etcdctl checks. */
const SNAPSHOT = Buffer.concat([SNAPSHOT_DATA, createHash("sha256").update(SNAPSHOT_DATA).digest()]);

const seen = { watchCancelled: false, keepAlives: 0, slowCancelled: false, slowCtx: undefined as CallContext | undefined };

function etcdctl(port: number, args: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("etcdctl", [`--endpoints=127.0.0.1:${port}`, ...args], { timeout: timeoutMs, env: { ...process.env, ETCDCTL_API: "3" } }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stdout, stderr }),
    );
  });
}

/** etcdctlUntil runs a long-lived etcdctl command until its stdout matches, then kills it. */
function etcdctlUntil(port: number, args: string[], done: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("etcdctl", [`--endpoints=127.0.0.1:${port}`, ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
    let out = "";
    const t = setTimeout(() => {
      p.kill();
      reject(new Error(`etcdctl ${args.join(" ")} printed only: ${out}`));
    }, 15_000);
    p.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (done.test(out)) {
        clearTimeout(t);
        p.kill();
        resolve(out);
      }
    });
  });
}

describe("GrpcServer with grpc-go clients (the real etcdctl 3.4)", () => {
  let net: Server;
  let port = 0;
  let dir = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "grpc-go-"));
    const server = new GrpcServer({ maxReceiveMessageBytes: 4096 });
    server.addService(etcdserverpb.KVService, {
      range: async (req) => ({ header: header(), kvs: [kv(req.key.toString(), "from-server")], more: false, count: 1n }),
      put: async (req, ctx) => {
        if (req.key.toString() === "slow") {
          seen.slowCtx = ctx;
          await new Promise<void>((resolve) => ctx.onCancel(() => resolve()));
          seen.slowCancelled = true;
        }
        return { header: header(), prevKv: undefined };
      },
    });
    server.addService(etcdserverpb.WatchService, {
      watch: async (call) => {
        call.onCancel(() => (seen.watchCancelled = true));
        for await (const req of call) {
          const create = req.createRequest;
          if (create === undefined) continue;
          await call.send({ header: header(), watchId: 0n, created: true, canceled: false, compactRevision: 0n, cancelReason: "", fragment: false, events: [] });
          for (let i = 0; i < 3; i++) {
            await call.send({
              header: header(),
              watchId: 0n,
              created: false,
              canceled: false,
              compactRevision: 0n,
              cancelReason: "",
              fragment: false,
              events: [{ type: mvccpb.Event_EventType.PUT, kv: kv(create.key.toString(), `v${i}`), prevKv: undefined }],
            });
          }
        }
      },
    });
    server.addService(etcdserverpb.LeaseService, {
      leaseKeepAlive: async (call) => {
        for await (const req of call) {
          seen.keepAlives++;
          await call.send({ header: header(), ID: req.ID, TTL: 42n });
        }
      },
    });
    server.addService(etcdserverpb.MaintenanceService, {
      snapshot: async (_req, call) => {
        for (let off = 0; off < SNAPSHOT.length; off += 32 * 1024) {
          const blob = SNAPSHOT.subarray(off, off + 32 * 1024);
          await call.send({ header: header(), remainingBytes: BigInt(SNAPSHOT.length - off - blob.length), blob });
        }
      },
    });
    net = createServer((sock) => server.injectConnection(sock));
    await new Promise<void>((resolve) => net.listen(0, "127.0.0.1", () => resolve()));
    port = (net.address() as AddressInfo).port;
  });
  afterAll(() => {
    net?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves unary calls", async () => {
    const r = await etcdctl(port, ["get", "foo"]);
    expect(r).toMatchObject({ code: 0, stdout: "foo\nfrom-server\n" });
    expect(await etcdctl(port, ["put", "foo", "bar"])).toMatchObject({ code: 0, stdout: "OK\n" });
  });

  it("refuses a request over the receive limit with grpc-go's ResourceExhausted", async () => {
    const r = await etcdctl(port, ["put", "foo", "x".repeat(5000)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/code = ResourceExhausted desc = grpc: received message larger than max \(\d+ vs\. 4096\)/);
  });

  it("ends a call at the client's deadline and cancels its handler", async () => {
    const r = await etcdctl(port, ["--command-timeout=1s", "put", "slow", "x"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/context deadline exceeded/);
    expect(seen.slowCtx?.deadline).toBeDefined();
    await new Promise((res) => setTimeout(res, 200));
    expect(seen.slowCancelled).toBe(true);
  });

  it("serves a bidirectional Watch stream and sees the client go away", async () => {
    const out = await etcdctlUntil(port, ["watch", "k1"], /v2\n/);
    expect(out).toBe("PUT\nk1\nv0\nPUT\nk1\nv1\nPUT\nk1\nv2\n");
    for (let i = 0; i < 50 && !seen.watchCancelled; i++) await new Promise((res) => setTimeout(res, 100));
    expect(seen.watchCancelled).toBe(true);
  });

  it("serves a bidirectional LeaseKeepAlive stream", async () => {
    const out = await etcdctlUntil(port, ["lease", "keep-alive", "--once", "694d5765fc71500b"], /keepalived/);
    expect(out).toBe("lease 694d5765fc71500b keepalived with TTL(42)\n");
    expect(seen.keepAlives).toBeGreaterThan(0);
  });

  it("serves a server-streaming Snapshot that etcdctl saves byte for byte", async () => {
    const file = join(dir, "snap.db");
    const r = await etcdctl(port, ["snapshot", "save", file]);
    expect(r.stdout + r.stderr).toContain(`Snapshot saved at ${file}`);
    expect(readFileSync(file).equals(SNAPSHOT)).toBe(true);
  });
});
