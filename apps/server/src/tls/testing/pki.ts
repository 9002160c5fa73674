import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCertificate, type PemPair } from "../self_signed.js";

/** PkiFiles are the paths of a throwaway PKI written to a temp dir, for tests. */
export interface PkiFiles {
  dir: string;
  caFile: string;
  /** server: CN=server, valid for 127.0.0.1, ::1 and localhost, server and client auth. */
  serverCert: string;
  serverKey: string;
  /** client: CN=client, no SAN, client auth, signed by the CA. */
  clientCert: string;
  clientKey: string;
  /** otherCa signed otherClient: a CA the servers do not trust. */
  otherCaFile: string;
  otherClientCert: string;
  otherClientKey: string;
  pems: { ca: PemPair; server: PemPair; client: PemPair };
}

const DAY_MS = 24 * 3600 * 1000;

/** makePki creates a CA, a loopback server certificate, a client certificate and an untrusted CA with its own client. */
export async function makePki(): Promise<PkiFiles> {
  const dir = mkdtempSync(join(tmpdir(), "etcd-ts-pki-"));
  const ca = await createCertificate({ commonName: "test CA", isCa: true, validForMs: DAY_MS });
  const server = await createCertificate({ commonName: "server", hosts: ["127.0.0.1", "::1", "localhost"], serverAuth: true, clientAuth: true, validForMs: DAY_MS, issuer: ca });
  const client = await createCertificate({ commonName: "client", clientAuth: true, validForMs: DAY_MS, issuer: ca });
  const otherCa = await createCertificate({ commonName: "other CA", isCa: true, validForMs: DAY_MS });
  const otherClient = await createCertificate({ commonName: "client", clientAuth: true, validForMs: DAY_MS, issuer: otherCa });
  const w = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  return {
    dir,
    caFile: w("ca.pem", ca.certPem),
    serverCert: w("server.pem", server.certPem),
    serverKey: w("server-key.pem", server.keyPem),
    clientCert: w("client.pem", client.certPem),
    clientKey: w("client-key.pem", client.keyPem),
    otherCaFile: w("other-ca.pem", otherCa.certPem),
    otherClientCert: w("other-client.pem", otherClient.certPem),
    otherClientKey: w("other-client-key.pem", otherClient.keyPem),
    pems: { ca, server, client },
  };
}
