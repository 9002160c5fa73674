import { generateKeyPairSync } from "node:crypto";
import forge from "node-forge";

/** Pem is one certificate with its private key, PEM encoded. */
export interface Pem {
  cert: string;
  key: string;
}

/** TestPki is a throwaway CA with a server certificate and a client certificate signed by it. */
export interface TestPki {
  ca: Pem;
  /** server is valid for 127.0.0.1, ::1 and localhost (serverAuth and clientAuth). */
  server: Pem;
  /** client identifies a TLS client (clientAuth). */
  client: Pem;
}

let serial = 1;

/** newKey makes an RSA key with Node's native generator (node-forge's pure JS one is slow). */
function newKey(): { pem: string; forgeKey: forge.pki.rsa.PrivateKey; forgePub: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  const forgePub = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { pem, forgeKey, forgePub };
}

function newCert(
  cn: string,
  pub: forge.pki.PublicKey,
  issuer: forge.pki.CertificateField[],
  signer: forge.pki.rsa.PrivateKey,
  exts: object[],
): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  c.serialNumber = (serial++).toString(16).padStart(2, "0");
  const now = Date.now();
  c.validity.notBefore = new Date(now - 3600_000);
  c.validity.notAfter = new Date(now + 24 * 3600_000);
  c.setSubject([{ name: "commonName", value: cn }]);
  c.setIssuer(issuer);
  c.setExtensions(exts);
  c.sign(signer, forge.md.sha256.create());
  return c;
}

/** makeTestPki creates a CA, a loopback server certificate and a client certificate. */
export function makeTestPki(name = "etcd-ts test"): TestPki {
  const caKey = newKey();
  const caSubject = [{ name: "commonName", value: `${name} CA` }];
  const ca = newCert(`${name} CA`, caKey.forgePub, caSubject, caKey.forgeKey, [
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
  ]);
  const leaf = (cn: string, serverToo: boolean): Pem => {
    const k = newKey();
    const exts: object[] = [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: serverToo, clientAuth: true },
    ];
    if (serverToo) {
      exts.push({
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      });
    }
    const c = newCert(cn, k.forgePub, ca.subject.attributes, caKey.forgeKey, exts);
    return { cert: forge.pki.certificateToPem(c), key: k.pem };
  };
  return {
    ca: { cert: forge.pki.certificateToPem(ca), key: caKey.pem },
    server: leaf(`${name} server`, true),
    client: leaf(`${name} client`, false),
  };
}
