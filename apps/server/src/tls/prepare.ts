import { join } from "node:path";
import type { Logger } from "../log.js";
import { selfCert } from "./self_signed.js";
import { tlsInfoEmpty, type TlsInfo } from "./tls_info.js";

/**
 * prepareTls resolves --auto-tls / --peer-auto-tls into real files, as etcd's
 * ClientSelfCert / PeerSelfCert do. Without auto TLS, `info` is returned as is. With auto TLS
 * and a certificate or key given, auto TLS is ignored (with a warning): `info` is returned
 * with autoTls off, so that dialers verify the peers' certificates (and their allowed CN or
 * hostname), as etcd does with the certificates given.
 * Otherwise a self-signed certificate for `hosts` ("host:port" of the listen URLs, as etcd
 * passes them) is made under <dataDir>/fixtures/<kind> (or reused when already there), and
 * the result holds only it and the cipher suites: like etcd, the trusted CA, client
 * certificate authentication, CRL and allowed CN/hostname are dropped, and autoTls stays set
 * so that dialers skip verifying the self-signed certificate.
 */
export async function prepareTls(
  info: TlsInfo,
  dataDir: string,
  kind: "client" | "peer",
  hosts: readonly string[],
  logger?: Logger,
): Promise<TlsInfo> {
  if (!info.autoTls) return info;
  if (!tlsInfoEmpty(info)) {
    logger?.warn(`ignoring ${kind} auto TLS since certs given`);
    return { ...info, autoTls: false };
  }
  const dir = join(dataDir, "fixtures", kind);
  const made = await selfCert(dir, hosts);
  if (made.created) {
    logger?.info("created cert file", { path: made.certFile });
    logger?.info("created key file", { path: made.keyFile });
  }
  return {
    certFile: made.certFile,
    keyFile: made.keyFile,
    trustedCaFile: "",
    clientCertAuth: false,
    autoTls: true,
    cipherSuites: info.cipherSuites,
  };
}
