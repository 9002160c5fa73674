import { makeTestPki, writeTestPki, type Pem } from "@etcd-ts/test-kit";
import type { PemPair } from "../self_signed.js";

/** PkiPem is a test-kit Pem that is also this package's PemPair. */
export type PkiPem = Pem & PemPair;

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
  pems: { ca: PkiPem; server: PkiPem; client: PkiPem };
}

const pair = (p: Pem): PkiPem => ({ ...p, certPem: p.cert, keyPem: p.key });

/** makePki creates a CA, a loopback server certificate, a client certificate and an untrusted CA with its own client (test-kit's, with this package's names). */
export async function makePki(): Promise<PkiFiles> {
  const f = writeTestPki(makeTestPki("test", { serverCn: "server", clientCn: "client" }));
  return {
    dir: f.dir,
    caFile: f.caFile,
    serverCert: f.serverCert,
    serverKey: f.serverKey,
    clientCert: f.clientCert,
    clientKey: f.clientKey,
    otherCaFile: f.otherCaFile,
    otherClientCert: f.otherClientCert,
    otherClientKey: f.otherClientKey,
    pems: { ca: pair(f.pki.ca), server: pair(f.pki.server), client: pair(f.pki.client) },
  };
}
