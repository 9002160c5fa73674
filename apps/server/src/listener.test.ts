import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { credentials, Metadata, status as Status, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { etcdserverpb } from "@etcd-ts/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcError, GrpcServer } from "@etcd-ts/grpc-server";
import { ClientListener, isTlsUrl, listenTarget } from "./listener.js";
import { Logger } from "./log.js";
import { createCrl, crlToDer } from "./tls/testing/crl.js";
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

/** kvServer is a gRPC server whose KV.Range answers count=42 and whose KV.Put fails. */
function kvServer(): GrpcServer {
  const grpc = new GrpcServer({ maxReceiveMessageBytes: 1024, maxConcurrentStreams: 100 });
  grpc.addService(etcdserverpb.KVService, {
    range: async () => etcdserverpb.RangeResponse.fromPartial({ count: 42n }),
    put: async () => {
      throw new GrpcError(Status.INVALID_ARGUMENT, "bad put: 100% wrong ✓");
    },
  });
  return grpc;
}

/** serve starts a ClientListener on an ephemeral loopback port serving kvServer() and an HTTP handler answering "http ok". */
async function serve(tls: TlsInfo | undefined): Promise<number> {
  const l = await ClientListener.listen("127.0.0.1", 0, kvServer(), (_req, res) => res.end("http ok"), tls === undefined ? undefined : { info: tls, logger });
  open.push(l);
  return l.port;
}

/** range calls KV.Range on a loopback port or a grpc-js target ("unix:/path"). */
function range(target: number | string, creds: ChannelCredentials): Promise<bigint> {
  const address = typeof target === "number" ? `127.0.0.1:${target}` : target;
  const c = new etcdserverpb.KVClient(address, creds, { "grpc.ssl_target_name_override": "localhost" });
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
  it("keeps a client that acknowledges the server's SETTINGS only seconds after connecting (as grpc-go's server does)", async () => {
    const port = await serve(undefined);
    const sock = connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    let closed = false;
    sock.on("data", (d: Buffer) => got.push(d));
    sock.on("close", () => (closed = true));
    await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
    // The client preface and an empty SETTINGS frame, then nothing for 6 s.
    sock.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    await new Promise((r) => setTimeout(r, 6000));
    expect(closed).toBe(false);
    // Now the SETTINGS ACK and a PING: the HTTP/2 session that took over answers the PING.
    sock.write(Buffer.concat([Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]), Buffer.from([0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])]));
    const pingAck = (): boolean => {
      const all = Buffer.concat(got);
      for (let i = 0; i + 9 <= all.length; ) {
        const len = all.readUIntBE(i, 3);
        if (all[i + 3] === 6 && ((all[i + 4] as number) & 1) === 1) return true;
        i += 9 + len;
      }
      return false;
    };
    const deadline = Date.now() + 5000;
    while (!pingAck() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sock.destroy();
    expect(pingAck()).toBe(true);
  }, 20_000);

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

  it("refuses a client certificate revoked by a DER or PEM --client-crl-file after the handshake, and serves others", async () => {
    const pem = createCrl(pki.pems.ca, [pki.pems.client.certPem]);
    const files = { pem: join(pki.dir, "listener.pem.crl"), der: join(pki.dir, "listener.der.crl") };
    writeFileSync(files.pem, pem);
    writeFileSync(files.der, crlToDer(pem));
    const ca = Buffer.from(pki.pems.ca.certPem);
    const revoked = credentials.createSsl(ca, Buffer.from(pki.pems.client.keyPem), Buffer.from(pki.pems.client.certPem));
    const good = credentials.createSsl(ca, Buffer.from(pki.pems.server.keyPem), Buffer.from(pki.pems.server.certPem));
    for (const crlFile of [files.pem, files.der]) {
      const port = await serve(tlsInfo({ trustedCaFile: pki.caFile, clientCertAuth: true, crlFile }));
      expect(await range(port, revoked).catch((e: ServiceError) => e.code)).toBe(Status.UNAVAILABLE);
      await expect(httpsGet(port, { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem })).rejects.toThrow();
      expect(await range(port, good)).toBe(42n);
      expect((await httpsGet(port, { cert: pki.pems.server.certPem, key: pki.pems.server.keyPem })).body).toBe("http ok");
    }
  });

  it("drops a client whose certificate is not valid for --client-cert-allowed-hostname", async () => {
    const port = await serve(tlsInfo({ trustedCaFile: pki.caFile, clientCertAuth: true, allowedHostname: "localhost" }));
    const server = { cert: pki.pems.server.certPem, key: pki.pems.server.keyPem };
    expect((await httpsGet(port, server)).body).toBe("http ok");
    await expect(httpsGet(port, { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem })).rejects.toThrow();
  });
});

describe("ClientListener on unix sockets", () => {
  it("maps unix:// and unixs:// URLs to the socket file host:port, as etcd does, and TCP URLs to host and port", () => {
    expect(listenTarget(new URL("unix://localhost:12345"))).toEqual({ path: "localhost:12345" });
    expect(listenTarget(new URL("unixs://127.0.0.1:2379"))).toEqual({ path: "127.0.0.1:2379" });
    expect(listenTarget(new URL("http://localhost:2379"))).toEqual({ host: "127.0.0.1", port: 2379 });
    expect(listenTarget(new URL("https://[::1]:2379"))).toEqual({ host: "::1", port: 2379 });
    expect([isTlsUrl(new URL("unixs://a:1")), isTlsUrl(new URL("https://a:1")), isTlsUrl(new URL("unix://a:1")), isTlsUrl(new URL("http://a:1"))]).toEqual([true, true, false, false]);
  });

  it("serves gRPC and HTTP/1.1 on a unix socket, and removes the socket file on close", async () => {
    const path = join(pki.dir, "plain.sock");
    const l = await ClientListener.listenOn({ path }, kvServer(), (_req, res) => res.end("http ok"));
    try {
      expect(statSync(path).isSocket()).toBe(true);
      expect(await range(`unix:${path}`, credentials.createInsecure())).toBe(42n);
      expect(await unixGet(path, undefined)).toBe("http ok");
      // Like etcd's client listener, an existing file is not replaced.
      await expect(ClientListener.listenOn({ path }, kvServer(), (_req, res) => res.end())).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await l.close();
    }
    expect(existsSync(path)).toBe(false);
  });

  it("serves TLS on a unix socket (unixs://), with the CRL checked", async () => {
    const path = join(pki.dir, "tls.sock");
    const crlFile = join(pki.dir, "unix.crl");
    writeFileSync(crlFile, crlToDer(createCrl(pki.pems.ca, [pki.pems.client.certPem])));
    const l = await ClientListener.listenOn({ path }, kvServer(), (_req, res) => res.end("https ok"), {
      info: tlsInfo({ trustedCaFile: pki.caFile, clientCertAuth: true, crlFile }),
      logger,
    });
    try {
      expect(await unixGet(path, { cert: pki.pems.server.certPem, key: pki.pems.server.keyPem })).toBe("https ok");
      await expect(unixGet(path, { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem })).rejects.toThrow();
      await expect(unixGet(path, {})).rejects.toThrow();
    } finally {
      await l.close();
    }
  });
});

/** unixGet GETs /health over the unix socket at `path`: plain HTTP, or HTTPS presenting `tls`'s certificate. */
function unixGet(path: string, tls: { cert?: string; key?: string } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const done = (res: IncomingMessage): void => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
    };
    const req =
      tls === undefined
        ? httpRequest({ socketPath: path, path: "/health", agent: false }, done)
        : httpsRequest({ socketPath: path, path: "/health", agent: false, ca: pki.pems.ca.certPem, servername: "localhost", ...tls }, done);
    req.on("error", reject);
    req.end();
  });
}

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
