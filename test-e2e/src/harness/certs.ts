import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import forge from "node-forge";

/** TestCerts are PEM files of a throwaway PKI in a temp dir. */
export interface TestCerts {
  dir: string;
  /** caFile is the CA that signed the server and client certificates. */
  caFile: string;
  /** server certificate: CN=etcd-server, valid for 127.0.0.1, ::1 and localhost; server and client auth. */
  serverCert: string;
  serverKey: string;
  /** client certificate: CN=root, client auth. */
  clientCert: string;
  clientKey: string;
  /** a client certificate from another CA, which the server does not trust. */
  strangerCert: string;
  strangerKey: string;
  /** remove deletes the temp dir. */
  remove(): void;
}

interface Issued {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
  keyPem: string;
}

let serial = 1;

/** issue makes an RSA key (Node's native generator) and a certificate for it, signed by `issuer` or self-signed. */
function issue(cn: string, exts: object[], issuer?: Issued): Issued {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = (serial++).toString(16).padStart(2, "0");
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  cert.setSubject([{ name: "commonName", value: cn }]);
  cert.setIssuer(issuer === undefined ? cert.subject.attributes : issuer.cert.subject.attributes);
  cert.setExtensions(exts);
  cert.sign(issuer?.key ?? key, forge.md.sha256.create());
  return { cert, key, keyPem };
}

const CA_EXTS = [
  { name: "basicConstraints", cA: true, critical: true },
  { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
];

function leafExts(server: boolean): object[] {
  const exts: object[] = [
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: server, clientAuth: true },
  ];
  if (server) {
    exts.push({
      name: "subjectAltName",
      altNames: [
        { type: 2, value: "localhost" },
        { type: 7, ip: "127.0.0.1" },
        { type: 7, ip: "::1" },
      ],
    });
  }
  return exts;
}

/** makeTestCerts writes a CA, a loopback server certificate, a client certificate and an untrusted client certificate to a temp dir. */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "e2e-certs-"));
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const ca = issue("etcd-ts e2e CA", CA_EXTS);
  const server = issue("etcd-server", leafExts(true), ca);
  const client = issue("root", leafExts(false), ca);
  const otherCa = issue("stranger CA", CA_EXTS);
  const stranger = issue("root", leafExts(false), otherCa);
  const pem = (c: Issued): string => forge.pki.certificateToPem(c.cert);
  return {
    dir,
    caFile: write("ca.pem", pem(ca)),
    serverCert: write("server.pem", pem(server)),
    serverKey: write("server-key.pem", server.keyPem),
    clientCert: write("client.pem", pem(client)),
    clientKey: write("client-key.pem", client.keyPem),
    strangerCert: write("stranger.pem", pem(stranger)),
    strangerKey: write("stranger-key.pem", stranger.keyPem),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
