import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError, type AuthErrorCode } from "./errors.js";
import { RSA_CERT } from "./testing/etcd_jwt_fixtures.js";
import { DEFAULT_JWT_TTL_NS, decomposeTokenOptions, firstPemBlock, parseTokenOptions, type JwtOptions } from "./token_options.js";

let dir = "";
const f: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etcd-ts-jwt-opts-"));
  const write = (name: string, text: string | Buffer): void => {
    f[name] = join(dir, name);
    writeFileSync(f[name], text);
  };
  const rsaA = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const rsaB = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ecA = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ecB = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ec384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const ed = generateKeyPairSync("ed25519");
  write("rsa.pkcs1", rsaA.privateKey.export({ type: "pkcs1", format: "pem" }));
  write("rsa.pkcs8", rsaA.privateKey.export({ type: "pkcs8", format: "pem" }));
  write("rsa.pub", rsaA.publicKey.export({ type: "spki", format: "pem" }));
  write("rsa.pub-pkcs1", rsaA.publicKey.export({ type: "pkcs1", format: "pem" }));
  write("rsaB.key", rsaB.privateKey.export({ type: "pkcs8", format: "pem" }));
  write("rsaB.pub", rsaB.publicKey.export({ type: "spki", format: "pem" }));
  write("ec.sec1", ecA.privateKey.export({ type: "sec1", format: "pem" }));
  write("ec.pkcs8", ecA.privateKey.export({ type: "pkcs8", format: "pem" }));
  write("ec.pub", ecA.publicKey.export({ type: "spki", format: "pem" }));
  write("ecB.pub", ecB.publicKey.export({ type: "spki", format: "pem" }));
  write("ec384.key", ec384.privateKey.export({ type: "sec1", format: "pem" }));
  write("ed.key", ed.privateKey.export({ type: "pkcs8", format: "pem" }));
  // What `openssl ecparam -genkey` writes: the parameters block first, which Go's pem.Decode takes.
  write("ec.params-first", `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${ecA.privateKey.export({ type: "sec1", format: "pem" })}`);
  write("cert.pem", RSA_CERT);
  write("secret", "s3cret\n");
  write("empty", "");
  write("text", "not a key at all\n");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** jwt parses a "jwt,..." value built from k=v pairs, with file names resolved in the temp dir. */
function jwt(pairs: Record<string, string>): { jwt: JwtOptions; unknownOptions: readonly string[] } {
  const opt = ["jwt", ...Object.entries(pairs).map(([k, v]) => `${k}=${f[v] ?? v}`)].join(",");
  const o = parseTokenOptions(opt);
  if (o.type !== "jwt") throw new Error(`not jwt: ${o.type}`);
  return o;
}

function refusal(fn: () => unknown): { code: AuthErrorCode; message: string; cause: unknown } {
  try {
    fn();
  } catch (err) {
    if (err instanceof AuthError) return { code: err.code, message: err.message, cause: err.cause };
    throw err;
  }
  throw new Error("not refused");
}

describe("decomposeTokenOptions", () => {
  it("splits the type and the k=v pairs", () => {
    const { type, options } = decomposeTokenOptions("jwt,pub-key=/a,priv-key=/b,sign-method=RS256,ttl=1h");
    expect(type).toBe("jwt");
    expect([...options]).toEqual([
      ["pub-key", "/a"],
      ["priv-key", "/b"],
      ["sign-method", "RS256"],
      ["ttl", "1h"],
    ]);
  });

  it.each([
    ["jwt,sign-method", "no ="],
    ["jwt,pub-key=/a=b,sign-method=RS256", "two ="],
    ["jwt,,sign-method=RS256", "an empty pair"],
    ["jwt,sign-method=RS256,", "a trailing comma"],
    ["simple,foo", "a malformed pair after simple"],
    ["jwt,sign-method=RS256,sign-method=RS256", "a duplicate key"],
    ["jwt,ttl=1h,sign-method=RS256,ttl=2h", "a duplicate key with other values"],
  ])("refuses %j (%s) with 'auth: invalid auth options'", (opt) => {
    const r = refusal(() => decomposeTokenOptions(opt));
    expect(r.code).toBe("invalid_auth_opts");
    expect(r.message).toBe("auth: invalid auth options");
    // parseTokenOptions refuses it too, before looking at the type.
    expect(refusal(() => parseTokenOptions(opt)).code).toBe("invalid_auth_opts");
  });
});

describe("parseTokenOptions", () => {
  it("takes simple (ignoring further options, as etcd does) and the empty value (etcd's nop provider)", () => {
    expect(parseTokenOptions("simple")).toEqual({ type: "simple" });
    expect(parseTokenOptions("simple,whatever=1")).toEqual({ type: "simple" });
    expect(parseTokenOptions("")).toEqual({ type: "nop" });
  });

  it.each(["bogus", "JWT", "Simple", "jwt2,sign-method=HS256"])("refuses the unknown token type %j", (opt) => {
    const r = refusal(() => parseTokenOptions(opt));
    expect(r.message).toBe("auth: invalid auth options");
    expect(String(r.cause)).toContain("unknown token type");
  });

  it("loads RSA keys in PKCS#1 and PKCS#8, with a PKIX public key or a certificate", () => {
    for (const priv of ["rsa.pkcs1", "rsa.pkcs8"]) {
      const { jwt: o } = jwt({ "sign-method": "RS256", "priv-key": priv, "pub-key": "rsa.pub" });
      expect(o.signMethod).toBe("RS256");
      expect(o.signKey?.type).toBe("private");
      expect(o.verifyKey.type).toBe("public");
      expect(o.ttlNs).toBe(DEFAULT_JWT_TTL_NS);
    }
    const ps = jwt({ "sign-method": "PS512", "priv-key": "rsa.pkcs8" }).jwt;
    expect(ps.signKey?.asymmetricKeyType).toBe("rsa");
    // A certificate as pub-key alone: verify-only.
    const cert = jwt({ "sign-method": "RS256", "pub-key": "cert.pem" }).jwt;
    expect(cert.signKey).toBeUndefined();
    expect(cert.verifyKey.asymmetricKeyType).toBe("rsa");
  });

  it("loads ECDSA keys in SEC 1 and PKCS#8 for the method's curve", () => {
    for (const priv of ["ec.sec1", "ec.pkcs8"]) {
      const { jwt: o } = jwt({ "sign-method": "ES256", "priv-key": priv, "pub-key": "ec.pub" });
      expect(o.signKey?.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    }
    expect(jwt({ "sign-method": "ES384", "priv-key": "ec384.key" }).jwt.signKey?.type).toBe("private");
  });

  it("takes an HMAC priv-key file's bytes as they are as the secret, and ignores pub-key", () => {
    const { jwt: o } = jwt({ "sign-method": "HS384", "priv-key": "secret", "pub-key": "rsa.pub" });
    expect(o.signKey?.export()).toEqual(Buffer.from("s3cret\n"));
    expect(o.verifyKey).toBe(o.signKey);
  });

  it("makes a provider verify-only when only pub-key is given", () => {
    expect(jwt({ "sign-method": "RS256", "pub-key": "rsa.pub" }).jwt.signKey).toBeUndefined();
    expect(jwt({ "sign-method": "PS384", "pub-key": "rsa.pub" }).jwt.signKey).toBeUndefined();
    expect(jwt({ "sign-method": "ES256", "pub-key": "ec.pub" }).jwt.signKey).toBeUndefined();
    // An empty priv-key file counts as none (etcd: len(key) == 0).
    expect(jwt({ "sign-method": "RS256", "pub-key": "rsa.pub", "priv-key": "empty" }).jwt.signKey).toBeUndefined();
  });

  it("reads ttl as a Go duration, 5m by default and when empty", () => {
    expect(jwt({ "sign-method": "HS256", "priv-key": "secret", ttl: "1h30m" }).jwt.ttlNs).toBe(5_400_000_000_000n);
    expect(jwt({ "sign-method": "HS256", "priv-key": "secret", ttl: "" }).jwt.ttlNs).toBe(300_000_000_000n);
    expect(jwt({ "sign-method": "HS256", "priv-key": "secret", ttl: "0" }).jwt.ttlNs).toBe(0n);
  });

  it("reports options etcd does not know (it warns and goes on)", () => {
    expect(jwt({ "sign-method": "HS256", "priv-key": "secret", foo: "bar", "": "x" }).unknownOptions).toEqual(["foo", ""]);
    expect(jwt({ "sign-method": "HS256", "priv-key": "secret" }).unknownOptions).toEqual([]);
  });

  it("refuses what etcd's jwtOptions.Parse refuses with 'auth: invalid auth options'", () => {
    const noMethod = refusal(() => parseTokenOptions("jwt"));
    expect(noMethod.message).toBe("auth: invalid auth options");
    // etcd's cause, which it logs and wraps.
    expect(noMethod.cause).toBeInstanceOf(AuthError);
    expect((noMethod.cause as AuthError).message).toBe("auth: invalid auth signature method");
    for (const method of ["rs256", "RS1024", "HS", "invalid"]) {
      expect(refusal(() => jwt({ "sign-method": method, "priv-key": "rsa.pkcs8" })).code).toBe("invalid_auth_opts");
    }
    const ttl = refusal(() => jwt({ "sign-method": "RS256", "priv-key": "rsa.pkcs8", ttl: "forever" }));
    expect(ttl.code).toBe("invalid_auth_opts");
    expect((ttl.cause as Error).message).toBe('time: invalid duration "forever"');
    const missing = refusal(() => jwt({ "sign-method": "HS256", "priv-key": join(dir, "missing-file") }));
    expect(missing.code).toBe("invalid_auth_opts");
    expect((missing.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
    // A missing pub-key file is refused even for HMAC, which does not use it.
    expect(refusal(() => jwt({ "sign-method": "HS256", "priv-key": "secret", "pub-key": join(dir, "nope") })).code).toBe("invalid_auth_opts");
  });

  it("refuses none and EdDSA, which golang-jwt knows and etcd cannot use, as an invalid signature method", () => {
    for (const method of ["none", "EdDSA"]) {
      const r = refusal(() => jwt({ "sign-method": method, "priv-key": "ed.key" }));
      expect(r.code).toBe("invalid_auth_method");
      expect(r.message).toBe("auth: invalid auth signature method");
    }
  });

  it.each([
    ["RS256", {}],
    ["PS256", {}],
    ["ES512", {}],
    ["HS256", {}],
    ["HS256", { "pub-key": "rsa.pub" }],
    ["HS256", { "priv-key": "empty" }],
    ["RS256", { "priv-key": "empty", "pub-key": "empty" }],
  ])("refuses %s with keys %j: 'auth: missing key data'", (method, keys) => {
    const r = refusal(() => jwt({ "sign-method": method, ...keys }));
    expect(r.code).toBe("missing_key");
    expect(r.message).toBe("auth: missing key data");
  });

  it("refuses a public key that is not the private key's, whatever the format", () => {
    for (const [method, priv, pub] of [
      ["RS256", "rsa.pkcs8", "rsaB.pub"],
      ["PS256", "rsaB.key", "rsa.pub"],
      ["RS256", "rsa.pkcs1", "cert.pem"],
      ["ES256", "ec.sec1", "ecB.pub"],
    ] as const) {
      const r = refusal(() => jwt({ "sign-method": method, "priv-key": priv, "pub-key": pub }));
      expect(r.code).toBe("key_mismatch");
      expect(r.message).toBe("auth: public and private keys don't match");
    }
  });

  it.each([
    ["RS256", "priv-key", "text", "key_must_be_pem", "invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key"],
    ["RS256", "pub-key", "secret", "key_must_be_pem", "invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key"],
    ["RS256", "priv-key", "rsa.pub", "not_rsa_private_key", "key is not a valid RSA private key"],
    ["RS256", "priv-key", "cert.pem", "not_rsa_private_key", "key is not a valid RSA private key"],
    ["RS256", "priv-key", "ec.pkcs8", "not_rsa_private_key", "key is not a valid RSA private key"],
    ["PS256", "priv-key", "ed.key", "not_rsa_private_key", "key is not a valid RSA private key"],
    ["RS256", "pub-key", "rsa.pkcs8", "not_rsa_public_key", "key is not a valid RSA public key"],
    // Go's x509 reads PKIX public keys and certificates only, not PKCS#1 "RSA PUBLIC KEY".
    ["RS256", "pub-key", "rsa.pub-pkcs1", "not_rsa_public_key", "key is not a valid RSA public key"],
    ["RS256", "pub-key", "ec.pub", "not_rsa_public_key", "key is not a valid RSA public key"],
    ["ES256", "priv-key", "rsa.pkcs8", "not_ec_private_key", "key is not a valid ECDSA private key"],
    ["ES256", "priv-key", "ec.pub", "not_ec_private_key", "key is not a valid ECDSA private key"],
    ["ES256", "priv-key", "ec.params-first", "not_ec_private_key", "key is not a valid ECDSA private key"],
    ["ES256", "pub-key", "cert.pem", "not_ec_public_key", "key is not a valid ECDSA public key"],
    ["ES256", "pub-key", "ec.sec1", "not_ec_public_key", "key is not a valid ECDSA public key"],
    ["ES256", "priv-key", "ec384.key", "invalid_key", "key is invalid"],
    ["ES512", "pub-key", "ec.pub", "invalid_key", "key is invalid"],
  ])("refuses %s with %s=%s: %s", (method, which, file, code, message) => {
    const r = refusal(() => jwt({ "sign-method": method, [which]: file }));
    expect(r.code).toBe(code);
    expect(r.message).toBe(message);
  });
});

describe("firstPemBlock", () => {
  it("takes the first well-formed block whatever its label, skipping text around it", () => {
    const pem = "junk\n-----BEGIN A-----\nAQID\n-----END A-----\n-----BEGIN B-----\nBAUG\n-----END B-----\n";
    expect(firstPemBlock(Buffer.from(pem))).toEqual(Buffer.from([1, 2, 3]));
    const crlf = "-----BEGIN A-----\r\nAQID\r\nBAUG\r\n-----END A-----\r\n";
    expect(firstPemBlock(Buffer.from(crlf))).toEqual(Buffer.from([1, 2, 3, 4, 5, 6]));
  });

  it("skips a block with bad base64 or mismatched labels, and headers (an encrypted key then fails to parse)", () => {
    const pem = "-----BEGIN A-----\n!!!!\n-----END A-----\n-----BEGIN B-----\nAQID\n-----END C-----\n-----BEGIN D-----\nBAUG\n-----END D-----\n";
    expect(firstPemBlock(Buffer.from(pem))).toEqual(Buffer.from([4, 5, 6]));
    const enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAQID\n-----END RSA PRIVATE KEY-----\n";
    expect(firstPemBlock(Buffer.from(enc))).toEqual(Buffer.from([1, 2, 3]));
    expect(firstPemBlock(Buffer.from("no pem here"))).toBeUndefined();
  });
});
