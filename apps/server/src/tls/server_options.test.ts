import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type ConnectionOptions, type TlsOptions, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientTlsOptions, requiresClientCert, serverTlsOptions } from "./server_options.js";
import { createCrl } from "./testing/crl.js";
import { makePki, type PkiFiles } from "./testing/pki.js";
import type { TlsInfo } from "./tls_info.js";

let pki: PkiFiles;
beforeAll(async () => {
  pki = await makePki();
});
afterAll(() => {
  rmSync(pki.dir, { recursive: true, force: true });
});

function info(p: Partial<TlsInfo>): TlsInfo {
  return { certFile: "", keyFile: "", trustedCaFile: "", clientCertAuth: false, autoTls: false, cipherSuites: [], ...p };
}

type Outcome = { ok: true; cipher: string; version: string; alpn: string | false; clientCn: string | undefined } | { ok: false; error: string };

/** handshake runs one TLS connection between a server and a client on loopback; ok when the client reads the server's greeting. */
async function handshake(serverOpts: TlsOptions, clientOpts: ConnectionOptions): Promise<Outcome> {
  let clientCn: string | undefined;
  const server = createServer(serverOpts, (s: TLSSocket) => {
    const cn = s.getPeerCertificate()?.subject?.CN;
    clientCn = Array.isArray(cn) ? cn[0] : cn;
    s.end("hello");
  });
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<Outcome>((resolve) => {
      const c = connect({ host: "127.0.0.1", port, ...clientOpts });
      let got = "";
      c.on("data", (d: Buffer) => (got += d.toString()));
      c.on("error", (e) => resolve({ ok: false, error: e.message }));
      c.on("end", () => {
        if (got === "hello") {
          resolve({ ok: true, cipher: c.getCipher().name, version: c.getProtocol() ?? "", alpn: c.alpnProtocol ?? false, clientCn });
        } else {
          resolve({ ok: false, error: "closed without greeting" });
        }
        c.destroy();
      });
    });
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe("serverTlsOptions / clientTlsOptions", () => {
  it("serves TLS 1.2+ with the server certificate and offers h2 then http/1.1", async () => {
    const s = serverTlsOptions(info({ certFile: pki.serverCert, keyFile: pki.serverKey }));
    expect(s.minVersion).toBe("TLSv1.2");
    expect(s.ALPNProtocols).toEqual(["h2", "http/1.1"]);
    expect(s.requestCert).toBe(false);
    const r = await handshake(s, { ca: [pki.pems.ca.certPem], ALPNProtocols: ["h2", "http/1.1"] });
    expect(r).toMatchObject({ ok: true, alpn: "h2", clientCn: undefined });
    const old = await handshake(s, { ca: [pki.pems.ca.certPem], maxVersion: "TLSv1.1", minVersion: "TLSv1" });
    expect(old.ok).toBe(false);
  });

  it("with --client-cert-auth refuses a client without a certificate or with one from another CA", async () => {
    const s = serverTlsOptions(info({ certFile: pki.serverCert, keyFile: pki.serverKey, trustedCaFile: pki.caFile, clientCertAuth: true }));
    expect(s.requestCert).toBe(true);
    expect(s.rejectUnauthorized).toBe(true);
    const base = { ca: [pki.pems.ca.certPem] };
    expect((await handshake(s, base)).ok).toBe(false);
    expect((await handshake(s, { ...base, cert: pki.pems.client.certPem, key: pki.pems.client.keyPem })).ok).toBe(true);
    const other = clientTlsOptions(info({ certFile: pki.otherClientCert, keyFile: pki.otherClientKey, trustedCaFile: pki.caFile }));
    expect((await handshake(s, other)).ok).toBe(false);
    const good = clientTlsOptions(info({ certFile: pki.clientCert, keyFile: pki.clientKey, trustedCaFile: pki.caFile }));
    expect(await handshake(s, good)).toMatchObject({ ok: true, clientCn: "client" });
  });

  it("requires client certificates when a trusted CA is given, as etcd does", () => {
    expect(requiresClientCert(info({ trustedCaFile: "ca.pem" }))).toBe(true);
    expect(requiresClientCert(info({ clientCertAuth: true }))).toBe(true);
    expect(requiresClientCert(info({}))).toBe(false);
    expect(serverTlsOptions(info({ certFile: pki.serverCert, keyFile: pki.serverKey, trustedCaFile: pki.caFile })).requestCert).toBe(true);
  });

  it("dials with verification against the trusted CA, and without it for auto TLS", async () => {
    const s = serverTlsOptions(info({ certFile: pki.serverCert, keyFile: pki.serverKey }));
    const wrongCa = clientTlsOptions(info({ trustedCaFile: pki.otherCaFile }));
    expect(wrongCa.rejectUnauthorized).toBe(true);
    const bad = await handshake(s, wrongCa);
    expect(bad.ok).toBe(false);
    const auto = clientTlsOptions(info({ trustedCaFile: pki.otherCaFile, autoTls: true }));
    expect(auto.rejectUnauthorized).toBe(false);
    expect((await handshake(s, auto)).ok).toBe(true);
    expect(clientTlsOptions(info({})).cert).toBeUndefined();
  });

  it("restricts TLS 1.2 to the --cipher-suites given", async () => {
    const only = info({ certFile: pki.serverCert, keyFile: pki.serverKey, cipherSuites: ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"] });
    const s = serverTlsOptions(only);
    const r = await handshake(s, { ca: [pki.pems.ca.certPem], maxVersion: "TLSv1.2" });
    expect(r).toMatchObject({ ok: true, cipher: "ECDHE-RSA-AES256-GCM-SHA384", version: "TLSv1.2" });
    const other = await handshake(s, { ca: [pki.pems.ca.certPem], maxVersion: "TLSv1.2", ciphers: "ECDHE-RSA-AES128-GCM-SHA256" });
    expect(other.ok).toBe(false);
    // Like Go, a cipher list leaves TLS 1.3 enabled.
    expect(await handshake(s, { ca: [pki.pems.ca.certPem] })).toMatchObject({ ok: true, version: "TLSv1.3" });
  });

  it("leaves the CRL out of the handshake: as in etcd, listeners check it after (checkCrl), so a bad CRL file does not stop the start", async () => {
    const revokes = join(pki.dir, "revokes-client.crl");
    writeFileSync(revokes, createCrl(pki.pems.ca, [pki.pems.client.certPem]));
    const garbage = join(pki.dir, "garbage.crl");
    writeFileSync(garbage, "not a CRL");
    const client = clientTlsOptions(info({ certFile: pki.clientCert, keyFile: pki.clientKey, trustedCaFile: pki.caFile }));
    const base = info({ certFile: pki.serverCert, keyFile: pki.serverKey, trustedCaFile: pki.caFile, clientCertAuth: true });
    const s = serverTlsOptions({ ...base, crlFile: revokes });
    expect(s.crl).toBeUndefined();
    expect((await handshake(s, client)).ok).toBe(true);
    expect(serverTlsOptions({ ...base, crlFile: garbage }).crl).toBeUndefined();
    expect(serverTlsOptions({ ...base, crlFile: join(pki.dir, "missing.crl") }).crl).toBeUndefined();
  });

  it("fails at build time on missing files, half a pair, or a key that does not match", () => {
    expect(() => serverTlsOptions(info({ certFile: join(pki.dir, "nope.pem"), keyFile: pki.serverKey }))).toThrow(
      `open ${join(pki.dir, "nope.pem")}: no such file or directory`,
    );
    expect(() => serverTlsOptions(info({ certFile: pki.serverCert }))).toThrow("KeyFile and CertFile must both be present[key: , cert: ");
    expect(() => serverTlsOptions(info({ certFile: pki.serverCert, keyFile: pki.clientKey }))).toThrow("tls: private key does not match public key");
    const garbage = join(pki.dir, "garbage-key.pem");
    writeFileSync(garbage, "not a pem\n");
    expect(() => serverTlsOptions(info({ certFile: pki.serverCert, keyFile: garbage }))).toThrow(/^tls: /);
  });
});
