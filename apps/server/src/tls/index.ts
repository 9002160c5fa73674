/**
 * tls: etcd's transport security for the client and peer listeners: the TLS configuration
 * read from the flags, self-signed certificates for --auto-tls, and Node TLS options.
 */
export { type TlsInfo, tlsInfoEmpty, tlsInfoString } from "./tls_info.js";
export { opensslCiphers, unknownCipherSuite, TLS13_SUITES } from "./cipher_suites.js";
export { createCertificate, selfCert, hostOf, ONE_YEAR_MS, type CertificateRequest, type PemPair } from "./self_signed.js";
export { serverTlsOptions, clientTlsOptions, requiresClientCert, readPem } from "./server_options.js";
export { checkClientCertificate, checkCertSan } from "./verify.js";
export { CERT_NOT_ALLOWED, certificateAllowed, certificateNames, verifyHostname } from "./allowed_names.js";
export { prepareTls } from "./prepare.js";
