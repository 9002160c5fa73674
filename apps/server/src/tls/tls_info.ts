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
  /**
   * allowedCn (--peer-cert-allowed-cn; peer side only in etcd), when set, is the CN the
   * certificate of the other end must carry: a client's on our listener (when it asks for
   * client certificates), and the server's when we dial with a certificate of our own.
   */
  allowedCn?: string;
  /**
   * allowedHostname (--peer-cert-allowed-hostname, --client-cert-allowed-hostname), when set,
   * is a host name or IP the other end's certificate must be valid for, checked where
   * allowedCn is. etcd refuses both at once (checkAllowedNamesExclusive).
   */
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
