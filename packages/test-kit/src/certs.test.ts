import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { connect, createServer, type TLSSocket } from "node:tls";
import { describe, expect, it } from "vitest";
import { makeTestPki, writeTestPki, type Pem, type TestPki } from "./certs.js";

/** handshake runs a TLS server that requires a client certificate, and tells what it made of the client. */
async function handshake(pki: TestPki, client: Pem): Promise<{ authorized: boolean; cn?: string }> {
  const srv = createServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false });
  const seen = new Promise<{ authorized: boolean; cn?: string }>((resolve) =>
    srv.once("secureConnection", (s: TLSSocket) => {
      const cn = s.getPeerCertificate().subject?.CN;
      resolve({ authorized: s.authorized, ...(typeof cn === "string" ? { cn } : {}) });
      s.end();
    }),
  );
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  const c = connect({ host: "127.0.0.1", port, ca: pki.ca.cert, cert: client.cert, key: client.key, servername: "localhost" });
  c.on("error", () => {});
  try {
    return await seen;
  } finally {
    c.destroy();
    srv.close();
  }
}

describe("makeTestPki", () => {
  const pki = makeTestPki("kit", { clientCn: "root" });

  it("signs a loopback server certificate and a client certificate with its CA", () => {
    const ca = new X509Certificate(pki.ca.cert);
    const server = new X509Certificate(pki.server.cert);
    const client = new X509Certificate(pki.client.cert);
    expect(ca.subject).toBe("CN=kit CA");
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(client.subject).toBe("CN=root");
    expect(new Set([ca.serialNumber, server.serialNumber, client.serialNumber]).size).toBe(3);
  });

  it("gives a client certificate of the same name from a CA nobody trusts", () => {
    const other = new X509Certificate(pki.otherClient.cert);
    expect(other.subject).toBe("CN=root");
    expect(other.verify(new X509Certificate(pki.ca.cert).publicKey)).toBe(false);
    expect(other.verify(new X509Certificate(pki.otherCa.cert).publicKey)).toBe(true);
  });

  it("passes a TLS handshake with client authentication; the untrusted client does not", async () => {
    expect(await handshake(pki, pki.client)).toEqual({ authorized: true, cn: "root" });
    expect((await handshake(pki, pki.otherClient)).authorized).toBe(false);
  });
});

describe("writeTestPki", () => {
  it("writes every PEM file and removes them", () => {
    const pki = makeTestPki();
    const f = writeTestPki(pki);
    expect(readFileSync(f.caFile, "utf8")).toBe(pki.ca.cert);
    expect(readFileSync(f.serverKey, "utf8")).toBe(pki.server.key);
    expect(readFileSync(f.otherClientCert, "utf8")).toBe(pki.otherClient.cert);
    f.remove();
    expect(existsSync(f.dir)).toBe(false);
  });
});
