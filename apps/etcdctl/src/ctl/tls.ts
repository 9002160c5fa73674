import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { TLSOptions } from "@etcd-ts/client";

/** SecureCfg is etcdctl's secureCfg: the TLS flags as given. */
export interface SecureCfg {
  cert: string;
  key: string;
  cacert: string;
  insecureTransport: boolean;
  insecureSkipVerify: boolean;
  /** serverName, when set (DNS discovery), is the name every member's certificate must match. */
  serverName: string;
}

/** TLSConfigError is a bad TLS file or flag combination, with the text Go's etcdctl prints. */
export class TLSConfigError extends Error {}

/**
 * clientTLS is etcdctl's newClientCfg TLS part: any of --cert/--key/--cacert turns TLS on and
 * loads the files (cert and key together, checked to match); --insecure-transport=false
 * alone asks for TLS with the default roots, and so does a server name from DNS discovery;
 * --insecure-skip-tls-verify applies only when TLS is on. Undefined means plain text (except for https:// endpoints).
 */
export function clientTLS(s: SecureCfg): TLSOptions | undefined {
  let tls: TLSOptions | undefined;
  if (s.cert !== "" || s.key !== "" || s.cacert !== "") {
    tls = {};
    if (s.cert !== "" || s.key !== "") {
      if (s.cert === "" || s.key === "") {
        throw new TLSConfigError(`KeyFile and CertFile must both be present[key: ${s.key}, cert: ${s.cert}]`);
      }
      const cert = readGoFile(s.cert);
      const key = readGoFile(s.key);
      checkKeyPair(cert, key);
      tls.cert = cert;
      tls.key = key;
    }
    if (s.cacert !== "") {
      const ca = readGoFile(s.cacert);
      for (const b of pemBlocks(ca)) parseCACert(b.der);
      tls.ca = ca;
    }
  }
  if (s.serverName !== "") {
    tls ??= {};
    tls.serverName = s.serverName;
  }
  if (tls === undefined && !s.insecureTransport) tls = {};
  if (tls !== undefined && s.insecureSkipVerify) tls.insecureSkipVerify = true;
  return tls;
}

/** readGoFile reads path, failing with Go's os error text. */
function readGoFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new TLSConfigError(`open ${path}: no such file or directory`);
    if (code === "EACCES") throw new TLSConfigError(`open ${path}: permission denied`);
    if (code === "EISDIR") throw new TLSConfigError(`read ${path}: is a directory`);
    throw new TLSConfigError(`open ${path}: ${(e as Error).message}`);
  }
}

interface PemBlock {
  type: string;
  der: Buffer;
  text: string;
}

/** pemBlocks decodes the PEM blocks of data in order, like repeated Go pem.Decode calls. */
function pemBlocks(data: Buffer): PemBlock[] {
  const out: PemBlock[] = [];
  const re = /-----BEGIN ([^-\r\n]*)-----\r?\n([\s\S]*?)-----END \1-----/g;
  const s = data.toString("latin1");
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const body = (m[2] ?? "").split(/\r?\n/).filter((l) => !l.includes(":")).join("");
    out.push({ type: m[1] ?? "", der: Buffer.from(body, "base64"), text: m[0] });
  }
  return out;
}

/** checkKeyPair is Go's tls.X509KeyPair: a certificate block, a private key block, and a match. */
function checkKeyPair(certPem: Buffer, keyPem: Buffer): void {
  const certBlocks = pemBlocks(certPem);
  if (certBlocks.length === 0) throw new TLSConfigError("tls: failed to find any PEM data in certificate input");
  const leaf = certBlocks.find((b) => b.type === "CERTIFICATE");
  if (leaf === undefined) {
    throw new TLSConfigError(
      `tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping PEM blocks of the following types: [${certBlocks
        .map((b) => b.type)
        .join(" ")}]`,
    );
  }
  const keyBlocks = pemBlocks(keyPem);
  if (keyBlocks.length === 0) throw new TLSConfigError("tls: failed to find any PEM data in key input");
  const keyBlock = keyBlocks.find((b) => b.type === "PRIVATE KEY" || b.type.endsWith(" PRIVATE KEY"));
  if (keyBlock === undefined) {
    if (keyBlocks.some((b) => b.type === "CERTIFICATE")) {
      throw new TLSConfigError("tls: found a certificate rather than a key in the PEM for the private key");
    }
    throw new TLSConfigError(
      `tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping PEM blocks of the following types: [${keyBlocks
        .map((b) => b.type)
        .join(" ")}]`,
    );
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(leaf.der);
  } catch {
    throw new TLSConfigError(malformedCert(leaf.der));
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyBlock.text);
  } catch {
    throw new TLSConfigError("tls: failed to parse private key");
  }
  if (!x509.checkPrivateKey(key)) throw new TLSConfigError("tls: private key does not match public key");
}

function parseCACert(der: Buffer): void {
  try {
    new X509Certificate(der);
  } catch {
    throw new TLSConfigError(malformedCert(der));
  }
}

/**
 * malformedCert is Go's x509 error for DER that is not a certificate: a SEQUENCE whose first
 * element is not a SEQUENCE (e.g. a private key) fails on the TBS certificate.
 */
function malformedCert(der: Buffer): string {
  if (der[0] === 0x30 && der.length > 2) {
    const l = der[1] as number;
    const off = l < 0x80 ? 2 : 2 + (l & 0x7f);
    if (off < der.length && der[off] !== 0x30) return "x509: malformed tbs certificate";
  }
  return "x509: malformed certificate";
}
