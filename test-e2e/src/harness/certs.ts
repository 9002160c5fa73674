import { makeTestPki, writeTestPki } from "@etcd-ts/test-kit";

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
  /** a client certificate (CN=root) from another CA, which the server does not trust. */
  strangerCert: string;
  strangerKey: string;
  /** remove deletes the temp dir. */
  remove(): void;
}

/** makeTestCerts writes a CA, a loopback server certificate, a client certificate and an untrusted client certificate to a temp dir. */
export function makeTestCerts(): TestCerts {
  const f = writeTestPki(makeTestPki("etcd-ts e2e", { serverCn: "etcd-server", clientCn: "root" }));
  return {
    dir: f.dir,
    caFile: f.caFile,
    serverCert: f.serverCert,
    serverKey: f.serverKey,
    clientCert: f.clientCert,
    clientKey: f.clientKey,
    strangerCert: f.otherClientCert,
    strangerKey: f.otherClientKey,
    remove: f.remove,
  };
}
