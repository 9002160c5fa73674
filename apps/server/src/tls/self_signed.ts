import { generateKeyPair, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import forge from "node-forge";

/** PemPair is a certificate and its private key, PEM encoded. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** CertificateRequest describes a certificate for createCertificate to issue. */
export interface CertificateRequest {
  /** commonName is the subject CN; omitted when undefined. */
  commonName?: string;
  /** organization is the subject O; omitted when undefined. */
  organization?: string;
  /** hosts become subjectAltName entries: IP addresses as IPs, anything else as DNS names. */
  hosts?: readonly string[];
  /** isCa makes a CA certificate (basicConstraints cA, keyCertSign). */
  isCa?: boolean;
  /** serverAuth and clientAuth set the extended key usages of a leaf certificate. */
  serverAuth?: boolean;
  clientAuth?: boolean;
  /** validForMs is the validity from now, in milliseconds. */
  validForMs: number;
  /** issuer signs the certificate; self-signed when undefined. Its key must be RSA. */
  issuer?: PemPair;
}

/** RSA_BITS is the size of generated keys. */
const RSA_BITS = 2048;

/** ONE_YEAR_MS is the validity etcd gives an auto-generated certificate. */
export const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/**
 * createCertificate makes a new RSA key (Node's native generator) and an X.509 v3 certificate
 * for it, signed with SHA-256 by the issuer or by the key itself.
 */
export async function createCertificate(req: CertificateRequest): Promise<PemPair> {
  const keyPem = await new Promise<string>((resolve, reject) => {
    generateKeyPair("rsa", { modulusLength: RSA_BITS, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } }, (err, _pub, priv) =>
      err ? reject(new Error(`tls: cannot generate RSA key: ${err.message}`)) : resolve(priv),
    );
  });
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  // A positive 128-bit serial, like Go's rand.Int(2^128).
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  cert.serialNumber = serial.toString("hex");
  const now = Date.now();
  cert.validity.notBefore = new Date(now);
  cert.validity.notAfter = new Date(now + req.validForMs);
  const subject: forge.pki.CertificateField[] = [];
  if (req.organization !== undefined) subject.push({ name: "organizationName", value: req.organization });
  if (req.commonName !== undefined) subject.push({ name: "commonName", value: req.commonName });
  cert.setSubject(subject);

  const exts: object[] = [];
  if (req.isCa === true) {
    exts.push({ name: "basicConstraints", cA: true, critical: true });
    exts.push({ name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true });
  } else {
    exts.push({ name: "basicConstraints", cA: false, critical: true });
    exts.push({ name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true });
    exts.push({ name: "extKeyUsage", serverAuth: req.serverAuth === true, clientAuth: req.clientAuth === true });
  }
  const alt = (req.hosts ?? []).filter((h) => h !== "").map((h) => (isIP(h) !== 0 ? { type: 7, ip: h } : { type: 2, value: h }));
  if (alt.length > 0) exts.push({ name: "subjectAltName", altNames: alt });
  exts.push({ name: "subjectKeyIdentifier" });

  let signer = key;
  if (req.issuer === undefined) {
    cert.setIssuer(subject);
  } else {
    const issuerCert = forge.pki.certificateFromPem(req.issuer.certPem);
    cert.setIssuer(issuerCert.subject.attributes);
    signer = forge.pki.privateKeyFromPem(req.issuer.keyPem) as forge.pki.rsa.PrivateKey;
    const skid = issuerCert.getExtension("subjectKeyIdentifier") as { subjectKeyIdentifier?: string } | null;
    if (skid?.subjectKeyIdentifier !== undefined) {
      exts.push({ name: "authorityKeyIdentifier", keyIdentifier: forge.util.hexToBytes(skid.subjectKeyIdentifier) });
    }
  }
  cert.setExtensions(exts);
  cert.sign(signer, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** hostOf strips the port (and IPv6 brackets) from "host:port"; a bare host is kept. */
export function hostOf(hostPort: string): string {
  const m = /^\[([^\]]*)\](?::\d*)?$/.exec(hostPort);
  if (m !== null) return m[1] as string;
  const colon = hostPort.lastIndexOf(":");
  if (colon >= 0 && hostPort.indexOf(":") === colon) return hostPort.slice(0, colon);
  return hostPort;
}

/**
 * selfCert returns <dir>/cert.pem and <dir>/key.pem, generating them first unless both exist:
 * a self-signed certificate (O=etcd, valid one year, server and client auth) for `hosts`
 * ("host:port" or bare hosts, as etcd's transport.SelfCert takes them).
 */
export async function selfCert(dir: string, hosts: readonly string[]): Promise<{ certFile: string; keyFile: string; created: boolean }> {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile, created: false };
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const names = [...new Set(hosts.map(hostOf))];
    const pair = await createCertificate({ organization: "etcd", hosts: names, serverAuth: true, clientAuth: true, validForMs: ONE_YEAR_MS });
    await writeFile(certFile, pair.certPem, { mode: 0o644 });
    await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
    await chmod(keyFile, 0o600);
  } catch (err) {
    throw new Error(`tls: cannot create self-signed certificate in ${dir}: ${(err as Error).message}`);
  }
  return { certFile, keyFile, created: true };
}
