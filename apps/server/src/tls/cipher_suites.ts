/**
 * cipher_suites.ts maps --cipher-suites, which takes Go's crypto/tls names (what etcd 3.4
 * accepts: tls.CipherSuites(), tls.InsecureCipherSuites() and two CHACHA20 aliases), to the
 * OpenSSL names Node's `ciphers` option takes.
 */

/** GO_TO_OPENSSL maps each TLS 1.0-1.2 suite name Go knows to OpenSSL's name for it. */
const GO_TO_OPENSSL: ReadonlyMap<string, string> = new Map([
  ["TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"],
  ["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"],
  ["TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"],
  ["TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"],
  ["TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"],
  ["TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"],
  ["TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"],
  ["TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"],
  ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"],
  ["TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"],
  ["TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"],
  ["TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"],
  ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"],
  ["TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"],
  ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"],
  ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"],
  ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"],
  ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"],
  ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"],
  ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"],
  ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"],
  ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"],
  // Aliases etcd's tlsutil accepts besides Go's own names.
  ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"],
  ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"],
]);

/**
 * TLS13_SUITES are the TLS 1.3 suites. Go accepts their names in the list but never lets a
 * configuration restrict TLS 1.3, so they are always enabled, whatever --cipher-suites says.
 */
export const TLS13_SUITES: readonly string[] = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

/**
 * unknownCipherSuite returns the first name in `names` that is not a Go cipher suite name
 * (what etcd refuses with `unexpected TLS cipher suite "<name>"`), or undefined.
 */
export function unknownCipherSuite(names: readonly string[]): string | undefined {
  return names.find((n) => !GO_TO_OPENSSL.has(n) && !TLS13_SUITES.includes(n));
}

/**
 * opensslCiphers turns Go cipher suite names into Node's `ciphers` string: the TLS 1.2 suites
 * in the given order, then all TLS 1.3 suites (see TLS13_SUITES). An empty list gives
 * undefined: Node's defaults. Throws on a name unknownCipherSuite would report.
 */
export function opensslCiphers(names: readonly string[]): string | undefined {
  if (names.length === 0) return undefined;
  const out: string[] = [];
  for (const n of names) {
    if (TLS13_SUITES.includes(n)) continue;
    const o = GO_TO_OPENSSL.get(n);
    if (o === undefined) throw new Error(`unexpected TLS cipher suite ${JSON.stringify(n)}`);
    if (!out.includes(o)) out.push(o);
  }
  return [...out, ...TLS13_SUITES].join(":");
}
