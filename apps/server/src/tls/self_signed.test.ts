import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createCertificate, hostOf, ONE_YEAR_MS, selfCert } from "./self_signed.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "etcd-ts-selfcert-"));
  dirs.push(d);
  return d;
}

describe("self-signed certificates", () => {
  it("hostOf strips ports and IPv6 brackets", () => {
    expect(hostOf("127.0.0.1:2379")).toBe("127.0.0.1");
    expect(hostOf("[::1]:2379")).toBe("::1");
    expect(hostOf("example.com:2380")).toBe("example.com");
    expect(hostOf("example.com")).toBe("example.com");
    expect(hostOf("::1")).toBe("::1");
  });

  it("selfCert writes an O=etcd certificate for the listen hosts, valid a year, with a private key file", async () => {
    const dir = join(tempDir(), "fixtures", "client");
    const before = Date.now();
    const r = await selfCert(dir, ["127.0.0.1:2379", "[::1]:2379", "node1.example:2379", "127.0.0.1:22379"]);
    expect(r).toEqual({ certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem"), created: true });
    const cert = new X509Certificate(readFileSync(r.certFile));
    expect(cert.subject).toBe("O=etcd");
    expect(cert.subjectAltName).toBe("IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:node1.example");
    expect(cert.issuer).toBe("O=etcd");
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    const notAfter = Date.parse(cert.validTo);
    expect(notAfter).toBeGreaterThanOrEqual(Math.floor((before + ONE_YEAR_MS) / 1000) * 1000 - 1000);
    expect(notAfter).toBeLessThanOrEqual(Date.now() + ONE_YEAR_MS);
    expect(cert.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
    expect(statSync(r.keyFile).mode & 0o777).toBe(0o600);
    expect(cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(readFileSync(r.keyFile)))).toBe(true);
  });

  it("selfCert reuses existing files", async () => {
    const dir = tempDir();
    const first = await selfCert(dir, ["localhost:2379"]);
    const pem = readFileSync(first.certFile, "utf8");
    const again = await selfCert(dir, ["other:1"]);
    expect(again.created).toBe(false);
    expect(readFileSync(again.certFile, "utf8")).toBe(pem);
  });

  it("createCertificate issues leaves that chain to a CA", async () => {
    const ca = await createCertificate({ commonName: "CA", isCa: true, validForMs: 60_000 });
    const leaf = await createCertificate({ commonName: "leaf", organization: "org", clientAuth: true, validForMs: 60_000, issuer: ca });
    const caCert = new X509Certificate(ca.certPem);
    const leafCert = new X509Certificate(leaf.certPem);
    expect(caCert.ca).toBe(true);
    expect(leafCert.subject).toBe("O=org\nCN=leaf");
    expect(leafCert.issuer).toBe("CN=CA");
    expect(leafCert.verify(caCert.publicKey)).toBe(true);
    expect(leafCert.checkIssued(caCert)).toBe(true);
    expect(leafCert.subjectAltName).toBeUndefined();
  });
});
