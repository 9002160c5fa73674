/**
 * TlsInfo is one side's TLS configuration (client side: --cert-file ...; peer side:
 * --peer-cert-file ...), as etcd's transport.TLSInfo holds it. Paths are as given on the
 * command line (relative to the working directory). `autoTls` asks for a self-signed
 * certificate under the data dir (see prepareTls); once prepared it also marks the
 * certificate as self-signed, so dialers skip verifying it, as etcd does.
 */
export interface TlsInfo {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  /** clientCertAuth requires and verifies a client certificate at the handshake. */
  clientCertAuth: boolean;
  autoTls: boolean;
  /** cipherSuites are Go cipher suite names (e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), in preference order; empty means the defaults. */
  cipherSuites: string[];
  /**
   * crlFile is a certificate revocation list (PEM or DER) checked against the certificates
   * clients present, after the handshake and re-read for each connection (see checkCrl).
   */
  crlFile?: string;
  /** allowedCn, when set, is the CN a client certificate must carry (peer side only in etcd). */
  allowedCn?: string;
  /** allowedHostname, when set, is a host name or IP a client certificate must be valid for. */
  allowedHostname?: string;
}

/** tlsInfoEmpty reports whether no certificate and key are given (etcd's TLSInfo.Empty). */
export function tlsInfoEmpty(info: TlsInfo): boolean {
  return info.certFile === "" && info.keyFile === "";
}

/** tlsInfoString describes the info the way etcd logs it ("cert = ..., key = ..."). */
export function tlsInfoString(info: TlsInfo): string {
  return `cert = ${info.certFile}, key = ${info.keyFile}, trusted-ca = ${info.trustedCaFile}, client-cert-auth = ${info.clientCertAuth}, crl-file = ${info.crlFile ?? ""}`;
}
