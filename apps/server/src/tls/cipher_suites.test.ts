import { describe, expect, it } from "vitest";
import { opensslCiphers, TLS13_SUITES, unknownCipherSuite } from "./cipher_suites.js";

describe("cipher suites", () => {
  it("maps Go names to OpenSSL names in order, then all TLS 1.3 suites", () => {
    expect(opensslCiphers(["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"])).toBe(
      ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", "AES128-SHA", ...TLS13_SUITES].join(":"),
    );
  });

  it("accepts etcd's CHACHA20 aliases and TLS 1.3 names, without duplicates", () => {
    expect(opensslCiphers(["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"])).toBe(
      ["ECDHE-RSA-CHACHA20-POLY1305", ...TLS13_SUITES].join(":"),
    );
  });

  it("leaves Node's defaults when no suite is given", () => {
    expect(opensslCiphers([])).toBeUndefined();
  });

  it("finds the first unknown name, as etcd's error names it", () => {
    expect(unknownCipherSuite(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "TLS_FOO"])).toBe("ECDHE-RSA-AES128-GCM-SHA256");
    expect(unknownCipherSuite(["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_CHACHA20_POLY1305_SHA256"])).toBeUndefined();
    expect(() => opensslCiphers(["TLS_FOO"])).toThrow('unexpected TLS cipher suite "TLS_FOO"');
  });
});
