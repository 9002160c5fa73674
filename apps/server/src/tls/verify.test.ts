import { rmSync } from "node:fs";
import type { PeerCertificate } from "node:tls";
import { connect, createServer, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCertificate } from "./self_signed.js";
import { serverTlsOptions } from "./server_options.js";
import { makePki, type PkiFiles } from "./testing/pki.js";
import type { TlsInfo } from "./tls_info.js";
import { checkCertSan, checkClientCertificate } from "./verify.js";

let pki: PkiFiles;
beforeAll(async () => {
  pki = await makePki();
});
afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));

const san = (text: string | undefined): PeerCertificate => ({ subjectaltname: text }) as unknown as PeerCertificate;

describe("checkCertSan", () => {
  it("passes a certificate naming no IPs or DNS names", async () => {
    expect(await checkCertSan(san(undefined), "10.0.0.1")).toBeUndefined();
  });

  it("matches the remote address against IP SANs, IPv4-mapped addresses included", async () => {
    expect(await checkCertSan(san("IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"), "::ffff:127.0.0.1")).toBeUndefined();
    // IPv6 compares as an address: Node writes the SAN in full, the remote address compressed.
    expect(await checkCertSan(san("IP Address:0:0:0:0:0:0:0:1"), "::1")).toBeUndefined();
    expect(await checkCertSan(san("IP Address:0:0:0:0:0:0:0:1"), "::2")).toBe("x509: certificate is valid for ::1, not ::2");
    expect(await checkCertSan(san("IP Address:127.0.0.1"), "127.0.0.2")).toBe("x509: certificate is valid for 127.0.0.1, not 127.0.0.2");
  });

  it("resolves DNS SANs when no IP matches", async () => {
    expect(await checkCertSan(san("IP Address:10.9.9.9, DNS:localhost"), "127.0.0.1")).toBeUndefined();
    expect(await checkCertSan(san("DNS:localhost"), "127.0.0.2")).toBe('tls: "127.0.0.2" does not match any of DNSNames ["localhost"]');
  });
});

/** verdict runs one handshake against a server that requires client certs, and returns checkClientCertificate's verdict. */
async function verdict(info: TlsInfo, client: { cert: string; key: string } | undefined, kind: "client" | "peer"): Promise<string | undefined> {
  let result: Promise<string | undefined> | undefined;
  const server = createServer(serverTlsOptions({ ...info, certFile: pki.serverCert, keyFile: pki.serverKey }), (s: TLSSocket) => {
    result = checkClientCertificate(info, s, kind === "peer");
    s.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => {
    const c = connect({ host: "127.0.0.1", port, ca: [pki.pems.ca.certPem], ...(client ?? {}) });
    c.on("error", () => resolve());
    c.on("close", () => resolve());
    c.resume();
  });
  await new Promise<void>((r) => server.close(() => r()));
  if (result === undefined) throw new Error("no connection reached the server");
  return result;
}

describe("checkClientCertificate", () => {
  const base: TlsInfo = { certFile: "", keyFile: "", trustedCaFile: "", clientCertAuth: false, autoTls: false, cipherSuites: [] };

  it("checks the allowed CN of a verified client certificate", async () => {
    const info = { ...base, trustedCaFile: pki.caFile, clientCertAuth: true, allowedCn: "client" };
    const client = { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem };
    expect(await verdict(info, client, "client")).toBeUndefined();
    expect(await verdict({ ...info, allowedCn: "someone-else" }, client, "client")).toBe("client certificate authentication failed");
  });

  it("checks the allowed hostname against the certificate's SANs", async () => {
    const info = { ...base, trustedCaFile: pki.caFile, clientCertAuth: true, allowedHostname: "localhost" };
    const server = { cert: pki.pems.server.certPem, key: pki.pems.server.keyPem };
    expect(await verdict(info, server, "client")).toBeUndefined();
    expect(await verdict({ ...info, allowedHostname: "example.com" }, server, "client")).toBe("client certificate authentication failed");
  });

  it("checks no CN or hostname on a listener that asks for no client certificate, as etcd (Go runs VerifyPeerCertificate only then)", async () => {
    const info = { ...base, certFile: "x", allowedCn: "client" };
    expect(await verdict(info, undefined, "client")).toBeUndefined();
    expect(await verdict({ ...base, certFile: "x", allowedHostname: "localhost" }, undefined, "client")).toBeUndefined();
  });

  it("checks the allowed hostname as Go does: never against the CN", async () => {
    const info = { ...base, trustedCaFile: pki.caFile, clientCertAuth: true, allowedHostname: "localhost" };
    const cnOnly = await createCertificate({ commonName: "localhost", clientAuth: true, validForMs: 60_000, issuer: pki.pems.ca });
    expect(await verdict(info, { cert: cnOnly.certPem, key: cnOnly.keyPem }, "client")).toBe("client certificate authentication failed");
  });

  it("checks the allowed CN before the SAN, as etcd's handshake does", async () => {
    const info = { ...base, trustedCaFile: pki.caFile, clientCertAuth: true, allowedCn: "peer" };
    const elsewhere = await createCertificate({ commonName: "intruder", hosts: ["10.1.2.3"], clientAuth: true, validForMs: 60_000, issuer: pki.pems.ca });
    expect(await verdict(info, { cert: elsewhere.certPem, key: elsewhere.keyPem }, "peer")).toBe("client certificate authentication failed");
  });

  it("on peer listeners checks the certificate's SANs against the remote address", async () => {
    const info = { ...base, trustedCaFile: pki.caFile, clientCertAuth: true };
    // The server certificate names 127.0.0.1, where the test connects from; the client one names nothing.
    expect(await verdict(info, { cert: pki.pems.server.certPem, key: pki.pems.server.keyPem }, "peer")).toBeUndefined();
    expect(await verdict(info, { cert: pki.pems.client.certPem, key: pki.pems.client.keyPem }, "peer")).toBeUndefined();
    const elsewhere = await createCertificate({ commonName: "peer", hosts: ["10.1.2.3"], clientAuth: true, validForMs: 60_000, issuer: pki.pems.ca });
    expect(await verdict(info, { cert: elsewhere.certPem, key: elsewhere.keyPem }, "peer")).toBe("x509: certificate is valid for 10.1.2.3, not 127.0.0.1");
    expect(await verdict(info, { cert: elsewhere.certPem, key: elsewhere.keyPem }, "client")).toBeUndefined();
  });
});
