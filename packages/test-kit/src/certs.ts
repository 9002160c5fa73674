import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import forge from "node-forge";

/** Pem is one certificate with its private key, PEM encoded. */
export interface Pem {
  cert: string;
  key: string;
}

/** TestPki is a throwaway CA with certificates it signed, and an untrusted CA with its own client. */
export interface TestPki {
  ca: Pem;
  /** server is valid for 127.0.0.1, ::1 and localhost, or the serverDnsNames given (serverAuth and clientAuth). */
  server: Pem;
  /** client identifies a TLS client (clientAuth, no SAN). */
  client: Pem;
  /** otherCa is a CA no server trusts (made on first use). */
  otherCa: Pem;
  /** otherClient has the client's common name but is signed by otherCa (made on first use). */
  otherClient: Pem;
}

/** PkiNames are the common names of a TestPki's certificates. */
export interface PkiNames {
  /** serverCn defaults to "<name> server". */
  serverCn?: string;
  /** clientCn defaults to "<name> client"; etcd takes it as the user name with client-cert-auth. */
  clientCn?: string;
  /** serverDnsNames, when given, are the server certificate's only names (no loopback names or addresses). */
  serverDnsNames?: readonly string[];
}

let serial = 1;

/** nextSerial is a new serial number as DER hex: whole bytes, positive (a leading 00 where the top bit is set). */
function nextSerial(): string {
  let hex = (serial++).toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return parseInt(hex.slice(0, 2), 16) >= 0x80 ? `00${hex}` : hex;
}

interface Issued {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
  keyPem: string;
}

/**
 * issue makes an RSA key (Node's native generator: node-forge's pure JS one is slow) and a
 * certificate for it valid from an hour ago for a day, signed by `issuer` or self-signed.
 */
function issue(cn: string, exts: object[], issuer?: Issued): Issued {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = nextSerial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 3600_000);
  cert.validity.notAfter = new Date(now + 24 * 3600_000);
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

function leafExts(server: boolean, dnsNames?: readonly string[]): object[] {
  const exts: object[] = [
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: server, clientAuth: true },
  ];
  if (server) {
    exts.push({
      name: "subjectAltName",
      altNames:
        dnsNames !== undefined
          ? dnsNames.map((value) => ({ type: 2, value }))
          : [
              { type: 2, value: "localhost" },
              { type: 7, ip: "127.0.0.1" },
              { type: 7, ip: "::1" },
            ],
    });
  }
  return exts;
}

const pem = (c: Issued): Pem => ({ cert: forge.pki.certificateToPem(c.cert), key: c.keyPem });

/**
 * makeTestPki creates a CA "<name> CA" with a loopback server certificate and a client
 * certificate; the untrusted CA and its client are made when first read.
 */
export function makeTestPki(name = "etcd-ts test", names: PkiNames = {}): TestPki {
  const clientCn = names.clientCn ?? `${name} client`;
  const ca = issue(`${name} CA`, CA_EXTS);
  let other: { ca: Pem; client: Pem } | undefined;
  const untrusted = (): { ca: Pem; client: Pem } => {
    if (other === undefined) {
      const otherCa = issue(`${name} other CA`, CA_EXTS);
      other = { ca: pem(otherCa), client: pem(issue(clientCn, leafExts(false), otherCa)) };
    }
    return other;
  };
  return {
    ca: pem(ca),
    server: pem(issue(names.serverCn ?? `${name} server`, leafExts(true, names.serverDnsNames), ca)),
    client: pem(issue(clientCn, leafExts(false), ca)),
    get otherCa() {
      return untrusted().ca;
    },
    get otherClient() {
      return untrusted().client;
    },
  };
}

/** PkiFiles are the paths of a TestPki written to a directory. */
export interface PkiFiles {
  dir: string;
  pki: TestPki;
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCaFile: string;
  otherClientCert: string;
  otherClientKey: string;
  /** remove deletes the directory. */
  remove(): void;
}

/** writeTestPki writes a TestPki's PEM files (mode 0600) to dir, or to a new temp dir. */
export function writeTestPki(pki: TestPki = makeTestPki(), dir?: string): PkiFiles {
  const d = dir ?? mkdtempSync(join(tmpdir(), "etcd-ts-pki-"));
  const write = (file: string, text: string): string => {
    const p = join(d, file);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  return {
    dir: d,
    pki,
    caFile: write("ca.pem", pki.ca.cert),
    serverCert: write("server.pem", pki.server.cert),
    serverKey: write("server-key.pem", pki.server.key),
    clientCert: write("client.pem", pki.client.cert),
    clientKey: write("client-key.pem", pki.client.key),
    otherCaFile: write("other-ca.pem", pki.otherCa.cert),
    otherClientCert: write("other-client.pem", pki.otherClient.cert),
    otherClientKey: write("other-client-key.pem", pki.otherClient.key),
    remove: () => rmSync(d, { recursive: true, force: true }),
  };
}
