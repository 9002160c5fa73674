import { readFileSync } from "node:fs";
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate, type TlsOptions } from "node:tls";
import { CERT_NOT_ALLOWED, certificateAllowed, checkAllowedNamesExclusive, hasAllowedNames } from "./allowed_names.js";
import { opensslCiphers } from "./cipher_suites.js";
import { tlsInfoEmpty, type TlsInfo } from "./tls_info.js";

/** MIN_VERSION is the oldest protocol etcd accepts (tls.VersionTLS12). */
const MIN_VERSION = "TLSv1.2";

/**
 * readPem reads a PEM file; a missing or unreadable file fails with Go's wording
 * ("open <path>: no such file or directory"), which is what etcd prints.
 */
export function readPem(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "ENOENT" ? "no such file or directory" : e.code === "EACCES" ? "permission denied" : e.message;
    throw new Error(`open ${path}: ${why}`);
  }
}

/** requiresClientCert reports whether a server with `info` demands a verified client cert (etcd: a trusted CA or --client-cert-auth). */
export function requiresClientCert(info: TlsInfo): boolean {
  return info.trustedCaFile !== "" || info.clientCertAuth;
}

/**
 * serverTlsOptions builds the options of a TLS server from `info` (etcd's
 * TLSInfo.ServerConfig): our certificate and key; TLS 1.2 or newer; the cipher suites from
 * --cipher-suites; ALPN h2 then http/1.1; a client certificate signed by the trusted CA
 * required at the handshake when --client-cert-auth or a trusted CA is set. The CRL is not
 * part of the handshake: as in etcd, listeners check it after the handshake (see checkCrl);
 * so are the allowed CN and hostname (checkClientCertificate), which Node's TLS server has
 * no hook for during the handshake. Files are read now; a bad file, a key that does not match
 * the certificate, or both an allowed CN and an allowed hostname (etcd's error) throws.
 */
export function serverTlsOptions(info: TlsInfo): TlsOptions {
  if (info.certFile === "" || info.keyFile === "") {
    throw new Error(`KeyFile and CertFile must both be present[key: ${info.keyFile}, cert: ${info.certFile}]`);
  }
  checkAllowedNamesExclusive(info);
  const opts: TlsOptions = {
    cert: readPem(info.certFile),
    key: readPem(info.keyFile),
    minVersion: MIN_VERSION,
    ALPNProtocols: ["h2", "http/1.1"],
  };
  const ciphers = opensslCiphers(info.cipherSuites);
  if (ciphers !== undefined) opts.ciphers = ciphers;
  if (info.trustedCaFile !== "") opts.ca = readPem(info.trustedCaFile);
  if (requiresClientCert(info)) {
    opts.requestCert = true;
    opts.rejectUnauthorized = true;
  } else {
    opts.requestCert = false;
    opts.rejectUnauthorized = false;
  }
  checkContext(opts);
  return opts;
}

/**
 * clientTlsOptions builds the options for dialing a TLS server with `info` (etcd's
 * TLSInfo.ClientConfig), as a member dialing its peers does: our certificate and key when
 * given (the peer may require them), the server verified against the trusted CA (or Node's
 * default roots without one), TLS 1.2 or newer, ALPN h2. With auto TLS the server's
 * certificate is self-signed and is not verified, as in etcd. With a certificate of our own,
 * the allowed CN or hostname (--peer-cert-allowed-cn, --peer-cert-allowed-hostname) applies
 * to the server's certificate too, as etcd's client configuration checks it: a server whose
 * verified certificate does not match is refused with etcd's error (see allowedServerIdentity).
 */
export function clientTlsOptions(info: TlsInfo): ConnectionOptions {
  const opts: ConnectionOptions = {
    minVersion: MIN_VERSION,
    ALPNProtocols: ["h2"],
    rejectUnauthorized: !info.autoTls,
  };
  if (!tlsInfoEmpty(info)) {
    if (info.certFile === "" || info.keyFile === "") {
      throw new Error(`KeyFile and CertFile must both be present[key: ${info.keyFile}, cert: ${info.certFile}]`);
    }
    checkAllowedNamesExclusive(info);
    opts.cert = readPem(info.certFile);
    opts.key = readPem(info.keyFile);
    if (hasAllowedNames(info)) opts.checkServerIdentity = allowedServerIdentity(info);
  }
  if (info.trustedCaFile !== "") opts.ca = readPem(info.trustedCaFile);
  const ciphers = opensslCiphers(info.cipherSuites);
  if (ciphers !== undefined) opts.ciphers = ciphers;
  checkContext(opts);
  return opts;
}

/**
 * allowedServerIdentity is the server check of a dialer with an allowed CN or hostname: Node's
 * usual check of the server's certificate against the host dialed, then etcd's check of the
 * allowed name on that certificate. Node runs it once the chain is verified; the error it
 * returns fails the connection (ERR_TLS_CERT_NOT_ALLOWED, etcd's message).
 */
function allowedServerIdentity(info: TlsInfo): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const err = checkServerIdentity(host, cert);
    if (err !== undefined) return err;
    if (certificateAllowed(info, cert)) return undefined;
    return Object.assign(new Error(CERT_NOT_ALLOWED), { code: "ERR_TLS_CERT_NOT_ALLOWED" });
  };
}

/** checkContext builds a secure context once so a bad key pair, CA or cipher list fails at start, not at the first connection. */
function checkContext(opts: TlsOptions | ConnectionOptions): void {
  try {
    createSecureContext(opts);
  } catch (err) {
    const msg = (err as Error).message;
    if (/key values mismatch/.test(msg)) throw new Error("tls: private key does not match public key");
    if (/no cipher match/.test(msg)) throw new Error("tls: none of the cipher suites in --cipher-suites is supported by this OpenSSL build");
    throw new Error(`tls: ${msg}`);
  }
}
