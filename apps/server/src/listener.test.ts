import { readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { credentials, Metadata, status as Status, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcError, GrpcServer } from "@etcd-ts/grpc-server";
import { ClientListener } from "./listener.js";
import { Logger } from "./log.js";
import { makePki, type PkiFiles } from "./tls/testing/pki.js";
import type { TlsInfo } from "./tls/tls_info.js";

let pki: PkiFiles;
const open: ClientListener[] = [];
beforeAll(async () => {
  pki = await makePki();
});
afterAll(async () => {
  await Promise.all(open.map((l) => l.close()));
  rmSync(pki.dir, { recursive: true, force: true });
});

const logger = new Logger("error", ["stderr"]);

/** serve starts a ClientListener on an ephemeral loopback port whose KV.Range answers count=42 and whose HTTP handler answers "http ok". */
async function serve(tls: TlsInfo | undefined): Promise<number> {
  const grpc = new GrpcServer({ maxReceiveMessageBytes: 1024, maxConcurrentStreams: 100 });
  grpc.addService(etcdserverpb.KVService, {
    range: async () => etcdserverpb.RangeResponse.fromPartial({ count: 42n }),
    put: async () => {
      throw new GrpcError(Status.INVALID_ARGUMENT, "bad put: 100% wrong ✓");
    },
  });
  const l = await ClientListener.listen("127.0.0.1", 0, grpc, (_req, res) => res.end("http ok"), tls === undefined ? undefined : { info: tls, logger });
  open.push(l);
  return l.port;
}

function range(port: number, creds: ChannelCredentials): Promise<bigint> {
  const c = new etcdserverpb.KVClient(`127.0.0.1:${port}`, creds, { "grpc.ssl_target_name_override": "localhost" });
  return new Promise<bigint>((resolve, reject) => {
    c.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("k") }), new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null, res: etcdserverpb.RangeResponse) => {
      c.close();
      if (err !== null) reject(err);
      else resolve(res.count);
    });
  });
}

function httpsGet(port: number, opts: { cert?: string; key?: string; alpn?: string[] }): Promise<{ body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port, path: "/health", ca: pki.pems.ca.certPem, ...(opts.cert !== undefined ? { cert: opts.cert, key: opts.key } : {}), ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}), agent: false },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ body, alpn: (res.socket as unknown as { alpnProtocol: string | false }).alpnProtocol }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const tlsInfo = (p: Partial<TlsInfo>): TlsInfo => ({ certFile: pki.serverCert, keyFile: pki.serverKey, trustedCaFile: "", clientCertAuth: false, autoTls: false, cipherSuites: [], ...p });

describe("ClientListener", () => {
  it("serves gRPC and HTTP/1.1 on one plaintext port", async () => {
    const port = await serve(undefined);
    expect(await range(port, credentials.createInsecure())).toBe(42n);
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).text()).toBe("http ok");
  });

  it("serves gRPC and HTTP/1.1 on one TLS port with client certificate auth", async () => {
    const port = await serve(tlsInfo({ trustedCaFile: pki.caFile, clientCertAuth: true }));
    const ca = Buffer.from(pki.pems.ca.certPem);
    const withCert = credentials.createSsl(ca, Buffer.from(pki.pems.client.keyPem), Buffer.from(pki.pems.client.certPem));
    expect(await range(port, withCert)).toBe(42n);
    // A client offering both h2 and http/1.1 (curl, browsers) is given http/1.1 and the HTTP handler.
    expect(await httpsGet(port, { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem, alpn: ["h2", "http/1.1"] })).toEqual({ body: "http ok", alpn: "http/1.1" });
    expect(await httpsGet(port, { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem })).toEqual({ body: "http ok", alpn: false });
  });

  it("refuses clients without a certificate from the trusted CA at the handshake", async () => {
    const port = await serve(tlsInfo({ trustedCaFile: pki.caFile, clientCertAuth: true }));
    const err = await range(port, credentials.createSsl(Buffer.from(pki.pems.ca.certPem))).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    expect(err?.code).toBe(14); // UNAVAILABLE
    await expect(httpsGet(port, {})).rejects.toThrow();
    const untrusted = credentials.createSsl(Buffer.from(pki.pems.ca.certPem), Buffer.from(readFileSync(pki.otherClientKey)), Buffer.from(readFileSync(pki.otherClientCert)));
    expect(await range(port, untrusted).catch((e: ServiceError) => e.code)).toBe(14);
  });

  it("serves TLS without client certificates when no CA or client auth is set", async () => {
    const port = await serve(tlsInfo({}));
    expect(await range(port, credentials.createSsl(Buffer.from(pki.pems.ca.certPem)))).toBe(42n);
    expect((await httpsGet(port, {})).body).toBe("http ok");
  });

  it("drops a client whose certificate is not valid for --client-cert-allowed-hostname", async () => {
    const port = await serve(tlsInfo({ trustedCaFile: pki.caFile, clientCertAuth: true, allowedHostname: "localhost" }));
    const server = { cert: pki.pems.server.certPem, key: pki.pems.server.keyPem };
    expect((await httpsGet(port, server)).body).toBe("http ok");
    await expect(httpsGet(port, { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem })).rejects.toThrow();
  });
});

describe("GrpcServer behind the ClientListener", () => {
  const call = <T>(port: number, fn: (c: InstanceType<typeof etcdserverpb.KVClient>, cb: (err: ServiceError | null, res: T) => void) => void) =>
    new Promise<{ err: ServiceError | null; res: T }>((resolve) => {
      const c = new etcdserverpb.KVClient(`127.0.0.1:${port}`, credentials.createInsecure());
      fn(c, (err, res) => {
        c.close();
        resolve({ err, res });
      });
    });

  it("sends handler errors with their code and a percent-encoded message", async () => {
    const port = await serve(undefined);
    const { err } = await call(port, (c, cb) => c.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from("k") }), cb));
    expect(err?.code).toBe(Status.INVALID_ARGUMENT);
    expect(err?.details).toBe("bad put: 100% wrong ✓");
  });

  it("answers methods it does not serve with grpc-go's Unimplemented texts", async () => {
    const port = await serve(undefined);
    const { err } = await call(port, (c, cb) => c.txn(etcdserverpb.TxnRequest.fromPartial({}), cb));
    expect(err?.code).toBe(Status.UNIMPLEMENTED);
    expect(err?.details).toBe("unknown method Txn for service etcdserverpb.KV");
    const m = await new Promise<ServiceError | null>((resolve) => {
      const c = new etcdserverpb.MaintenanceClient(`127.0.0.1:${port}`, credentials.createInsecure());
      c.status({}, (e) => {
        c.close();
        resolve(e);
      });
    });
    expect(m?.code).toBe(Status.UNIMPLEMENTED);
    expect(m?.details).toBe("unknown service etcdserverpb.Maintenance");
  });

  it("refuses a message over the receive limit with ResourceExhausted", async () => {
    const port = await serve(undefined);
    const { err } = await call(port, (c, cb) => c.range(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.alloc(5000, 1) }), cb));
    expect(err?.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(err?.details).toMatch(/^grpc: received message larger than max \(\d+ vs\. 1024\)$/);
  });
});
