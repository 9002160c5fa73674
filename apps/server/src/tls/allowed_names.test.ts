import { X509Certificate } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type ConnectionOptions, type PeerCertificate, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CERT_NOT_ALLOWED,
  certificateAllowed,
  certificateNames,
  checkAllowedNamesExclusive,
  commonName,
  formatIp,
  parseIp,
  subjectAltNames,
  verifyHostname,
} from "./allowed_names.js";
import { createCertificate, type PemPair } from "./self_signed.js";
import { clientTlsOptions, serverTlsOptions } from "./server_options.js";
import { makePki, type PkiFiles } from "./testing/pki.js";
import type { TlsInfo } from "./tls_info.js";

let pki: PkiFiles;
beforeAll(async () => {
  pki = await makePki();
});
afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));

const info = (p: Partial<TlsInfo>): TlsInfo => ({ certFile: "", keyFile: "", trustedCaFile: "", clientCertAuth: false, autoTls: false, cipherSuites: [], ...p });

/** peerCert is a PEM certificate as Node's TLS hands it over (subject, subjectaltname). */
function peerCert(pem: string): PeerCertificate {
  const x = new X509Certificate(pem);
  const subject: Record<string, string | string[]> = {};
  for (const line of x.subject.split("\n")) {
    const eq = line.indexOf("=");
    const k = line.slice(0, eq);
    const v = line.slice(eq + 1);
    const had = subject[k];
    subject[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
  }
  return { subject, subjectaltname: x.subjectAltName, raw: x.raw } as unknown as PeerCertificate;
}

/** issue makes a certificate signed by the test CA with the given CN and SANs (server and client auth). */
const issue = (commonName: string | undefined, hosts: string[]): Promise<PemPair> =>
  createCertificate({ ...(commonName === undefined ? {} : { commonName }), hosts, serverAuth: true, clientAuth: true, validForMs: 3600_000, issuer: pki.pems.ca });

describe("certificate names as Go reads them", () => {
  it("takes the CN of the subject, the last one when there are several, and '' without one", () => {
    expect(commonName({ subject: { CN: "etcd-peer", O: "etcd" } } as unknown as PeerCertificate)).toBe("etcd-peer");
    expect(commonName({ subject: { CN: ["first", "second"] } } as unknown as PeerCertificate)).toBe("second");
    expect(commonName({ subject: { O: "etcd" } } as unknown as PeerCertificate)).toBe("");
  });

  it("reads DNS and IP SANs from Node's text, quoted values included", () => {
    const cert = { subjectaltname: 'DNS:a.example, DNS:"b, c.example", IP Address:10.0.0.1, URI:spiffe://x, IP Address:0:0:0:0:0:0:0:1' } as unknown as PeerCertificate;
    expect(subjectAltNames(cert)).toEqual({ dns: ["a.example", "b, c.example"], ips: ["10.0.0.1", "0:0:0:0:0:0:0:1"] });
    expect(certificateNames(cert)).toEqual({ dns: ["a.example", "b, c.example"], ips: ["10.0.0.1", "::1"] });
    expect(subjectAltNames({} as PeerCertificate)).toEqual({ dns: [], ips: [] });
  });

  it("parses and writes IPs as Go's net.ParseIP and IP.String", () => {
    const w = (s: string): string | undefined => {
      const b = parseIp(s);
      return b === undefined ? undefined : formatIp(b);
    };
    expect(w("127.0.0.1")).toBe("127.0.0.1");
    expect(w("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(w("0:0:0:0:0:FFFF:7F00:1")).toBe("127.0.0.1");
    expect(w("0:0:0:0:0:0:0:1")).toBe("::1");
    expect(w("2001:DB8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    expect(w("1:0:0:2:0:0:0:3")).toBe("1:0:0:2::3");
    expect(w("1:2:3:4:5:6:7:0")).toBe("1:2:3:4:5:6:7:0");
    expect(w("::1.2.3.4")).toBe("::102:304");
    expect(w("1.2.3.04")).toBeUndefined();
    expect(w("fe80::1%eth0")).toBeUndefined();
    expect(w("localhost")).toBeUndefined();
  });
});

describe("verifyHostname (Go's x509 VerifyHostname)", () => {
  it("matches IPs against IP SANs only, IPv4-mapped and bracketed forms included", async () => {
    const c = peerCert((await issue("10.0.0.7", ["10.0.0.7", "::1", "ip.example"])).certPem);
    expect(verifyHostname(c, "10.0.0.7")).toBe(true);
    expect(verifyHostname(c, "::ffff:10.0.0.7")).toBe(true);
    expect(verifyHostname(c, "::1")).toBe(true);
    expect(verifyHostname(c, "[::1]")).toBe(true);
    expect(verifyHostname(c, "0:0:0:0:0:0:0:1")).toBe(true);
    expect(verifyHostname(c, "10.0.0.8")).toBe(false);
  });

  it("matches names against DNS SANs: any case, a trailing dot, one left-most wildcard label", async () => {
    const c = peerCert((await issue("node.example", ["etcd-1.example.com", "*.peers.example.com"])).certPem);
    expect(verifyHostname(c, "etcd-1.example.com")).toBe(true);
    expect(verifyHostname(c, "ETCD-1.Example.COM")).toBe(true);
    expect(verifyHostname(c, "etcd-1.example.com.")).toBe(true);
    expect(verifyHostname(c, "a.peers.example.com")).toBe(true);
    expect(verifyHostname(c, "a.b.peers.example.com")).toBe(false);
    expect(verifyHostname(c, "peers.example.com")).toBe(false);
    expect(verifyHostname(c, "etcd-2.example.com")).toBe(false);
  });

  it("never falls back to the CN (Go 1.15 and later), unlike Node's checkServerIdentity", async () => {
    const c = peerCert((await issue("etcd-1.example.com", [])).certPem);
    expect(verifyHostname(c, "etcd-1.example.com")).toBe(false);
  });

  it("compares names that are not valid host names exactly", () => {
    const c = { subjectaltname: "DNS:*.example.com, DNS:weird!name" } as unknown as PeerCertificate;
    expect(verifyHostname(c, "weird!name")).toBe(true);
    expect(verifyHostname(c, "x!.example.com")).toBe(false);
    expect(verifyHostname(c, "*.example.com")).toBe(true);
  });
});

describe("etcd's allowed CN and hostname", () => {
  it("allows by hostname when one is set, else by CN, else anything", async () => {
    const c = peerCert((await issue("etcd-peer", ["peer.example.com"])).certPem);
    expect(certificateAllowed(info({ allowedCn: "etcd-peer" }), c)).toBe(true);
    expect(certificateAllowed(info({ allowedCn: "other" }), c)).toBe(false);
    expect(certificateAllowed(info({ allowedHostname: "peer.example.com" }), c)).toBe(true);
    expect(certificateAllowed(info({ allowedHostname: "etcd-peer" }), c)).toBe(false);
    expect(certificateAllowed(info({}), c)).toBe(true);
  });

  it("refuses both at once with etcd's error, on the server and the client side", () => {
    const both = info({ certFile: pki.serverCert, keyFile: pki.serverKey, allowedCn: "a", allowedHostname: "b" });
    const msg = 'AllowedCN and AllowedHostname are mutually exclusive (cn="a", hostname="b")';
    expect(() => checkAllowedNamesExclusive(both)).toThrow(msg);
    expect(() => serverTlsOptions(both)).toThrow(msg);
    expect(() => clientTlsOptions(both)).toThrow(msg);
    expect(() => checkAllowedNamesExclusive(info({ allowedCn: "a" }))).not.toThrow();
  });
});

/** dial connects with `client` to a TLS server with the given certificate; "ok" or the client's error. */
async function dial(server: PemPair, client: ConnectionOptions): Promise<string> {
  const s = createServer(serverTlsOptions(info({ certFile: write("srv.pem", server.certPem), keyFile: write("srv-key.pem", server.keyPem) })), (sock: TLSSocket) => {
    sock.on("error", () => undefined);
    sock.end("hello");
  });
  s.on("tlsClientError", () => undefined);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  try {
    return await new Promise<string>((resolve) => {
      const c = connect({ ...client, host: "127.0.0.1", port });
      c.on("data", () => {
        resolve("ok");
        c.destroy();
      });
      c.on("error", (e: Error & { code?: string }) => resolve(`${e.code ?? ""}: ${e.message}`));
    });
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
}

function write(name: string, text: string): string {
  const p = join(pki.dir, `${Math.random().toString(36).slice(2)}-${name}`);
  writeFileSync(p, text);
  return p;
}

describe("dialing with an allowed CN or hostname (etcd's client configuration checks the server too)", () => {
  it("refuses a server whose certificate does not carry the allowed CN, after the usual checks", async () => {
    const peer = await issue("etcd-peer", ["127.0.0.1"]);
    const intruder = await issue("intruder", ["127.0.0.1"]);
    const as = (p: Partial<TlsInfo>): ConnectionOptions => clientTlsOptions(info({ certFile: pki.clientCert, keyFile: pki.clientKey, trustedCaFile: pki.caFile, ...p }));
    expect(await dial(peer, as({ allowedCn: "etcd-peer" }))).toBe("ok");
    expect(await dial(intruder, as({ allowedCn: "etcd-peer" }))).toBe(`ERR_TLS_CERT_NOT_ALLOWED: ${CERT_NOT_ALLOWED}`);
    expect(await dial(peer, as({ allowedHostname: "127.0.0.1" }))).toBe("ok");
    expect(await dial(peer, as({ allowedHostname: "peer.example.com" }))).toBe(`ERR_TLS_CERT_NOT_ALLOWED: ${CERT_NOT_ALLOWED}`);
    // Node's own check of the host dialed comes first.
    const elsewhere = await issue("etcd-peer", ["10.9.9.9"]);
    expect(await dial(elsewhere, as({ allowedCn: "etcd-peer" }))).toMatch(/^ERR_TLS_CERT_ALTNAME_INVALID: /);
  });

  it("checks nothing without a certificate of its own, as etcd's client configuration then has no check", async () => {
    const intruder = await issue("intruder", ["127.0.0.1"]);
    const opts = clientTlsOptions(info({ trustedCaFile: pki.caFile, allowedCn: "etcd-peer" }));
    expect(opts.checkServerIdentity).toBeUndefined();
    expect(await dial(intruder, opts)).toBe("ok");
  });
});
