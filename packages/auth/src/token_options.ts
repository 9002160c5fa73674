import { createPrivateKey, createPublicKey, createSecretKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { AuthError, type AuthErrorCode } from "./errors.js";
import { parseGoDuration } from "./go_duration.js";

/** DEFAULT_JWT_TTL_NS is the life of a JWT when --auth-token gives no ttl: etcd's 5 minutes, in nanoseconds. */
export const DEFAULT_JWT_TTL_NS = 300_000_000_000n;

/** JwtSignMethod is a signing method etcd 3.4 takes as `sign-method=`. */
export type JwtSignMethod =
  | "HS256"
  | "HS384"
  | "HS512"
  | "RS256"
  | "RS384"
  | "RS512"
  | "PS256"
  | "PS384"
  | "PS512"
  | "ES256"
  | "ES384"
  | "ES512";

/** JwtFamily is how a method signs: HMAC with a shared secret, RSA PKCS#1 v1.5, RSA-PSS or ECDSA. */
export type JwtFamily = "hmac" | "rsa" | "rsa-pss" | "ecdsa";

/** JwtMethodSpec is what signing and checking with one method needs. */
export interface JwtMethodSpec {
  readonly family: JwtFamily;
  /** hash is node:crypto's name of the digest. */
  readonly hash: "sha256" | "sha384" | "sha512";
  /** curve is node:crypto's name of the curve an ECDSA key must be on. */
  readonly curve?: "prime256v1" | "secp384r1" | "secp521r1";
  /** keySize is the byte length of r and of s in an ECDSA signature (the signature is r || s). */
  readonly keySize?: number;
}

/** JWT_SIGN_METHODS are the methods etcd 3.4 signs and checks tokens with (golang-jwt's, minus none and EdDSA). */
export const JWT_SIGN_METHODS: Readonly<Record<JwtSignMethod, JwtMethodSpec>> = {
  HS256: { family: "hmac", hash: "sha256" },
  HS384: { family: "hmac", hash: "sha384" },
  HS512: { family: "hmac", hash: "sha512" },
  RS256: { family: "rsa", hash: "sha256" },
  RS384: { family: "rsa", hash: "sha384" },
  RS512: { family: "rsa", hash: "sha512" },
  PS256: { family: "rsa-pss", hash: "sha256" },
  PS384: { family: "rsa-pss", hash: "sha384" },
  PS512: { family: "rsa-pss", hash: "sha512" },
  ES256: { family: "ecdsa", hash: "sha256", curve: "prime256v1", keySize: 32 },
  ES384: { family: "ecdsa", hash: "sha384", curve: "secp384r1", keySize: 48 },
  ES512: { family: "ecdsa", hash: "sha512", curve: "secp521r1", keySize: 66 },
};

/**
 * Methods golang-jwt knows but etcd 3.4 cannot make a key for (its options.go has no case for
 * them): a sign-method that names one is refused as an invalid signature method, where any
 * other unknown name is refused as invalid options (etcd wraps that error).
 */
const KNOWN_UNSUPPORTED = new Set(["none", "EdDSA"]);

/** The JWT options etcd knows; others are accepted and reported (etcd logs "unknown JWT options"). */
const JWT_OPTION_NAMES = new Set(["sign-method", "pub-key", "priv-key", "ttl"]);

/** JwtOptions is a loaded JWT provider configuration: the method, the token life and the parsed keys. */
export interface JwtOptions {
  readonly signMethod: JwtSignMethod;
  /** ttlNs is how long a token is valid after it is made, in nanoseconds (Go's Duration; may be 0 or negative, as in etcd). */
  readonly ttlNs: bigint;
  /**
   * signKey signs tokens: the private key (RSA, ECDSA) or the shared secret (HMAC); undefined
   * when only a public key was given, which makes the provider verify-only.
   */
  readonly signKey: KeyObject | undefined;
  /** verifyKey checks signatures: the public key (the private key's own when one is given) or the secret. */
  readonly verifyKey: KeyObject;
}

/**
 * TokenOptions is a parsed --auth-token: etcd's simple tokens; JWTs with their loaded keys
 * (and the option names etcd does not know, which it warns about and ignores); or, for an
 * empty value, etcd's nop provider, which issues no token (Authenticate fails with
 * "auth: authentication failed, invalid user ID or password") and accepts none.
 */
export type TokenOptions =
  | { readonly type: "simple" }
  | { readonly type: "nop" }
  | { readonly type: "jwt"; readonly jwt: JwtOptions; readonly unknownOptions: readonly string[] };

/**
 * decomposeTokenOptions splits an --auth-token value as etcd's decomposeOpts does: the token
 * type, then comma-separated "key=value" pairs. A pair without exactly one "=" (an empty one
 * included) or a key given twice is refused with "auth: invalid auth options".
 */
export function decomposeTokenOptions(opt: string): { type: string; options: Map<string, string> } {
  const parts = opt.split(",");
  const options = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const pair = part.split("=");
    if (pair.length !== 2) throw new AuthError("invalid_auth_opts", { cause: new Error(`invalid token option ${JSON.stringify(part)}`) });
    const [k, v] = pair as [string, string];
    if (options.has(k)) throw new AuthError("invalid_auth_opts", { cause: new Error(`duplicate token option ${JSON.stringify(k)}`) });
    options.set(k, v);
  }
  return { type: parts[0] as string, options };
}

/**
 * parseTokenOptions reads etcd's --auth-token value: "simple" (further options ignored, as in
 * etcd), "jwt,sign-method=<alg>,pub-key=<file>,priv-key=<file>,ttl=<Go duration>", or "" for
 * etcd's nop provider; any other type is refused. For JWTs it reads the key files (through
 * `readFile`, for tests) and parses the keys once, refusing as etcd 3.4 does:
 *
 * - a ttl that is not a Go duration, a key file that cannot be read, or a sign-method golang-jwt
 *   does not know (names are case-sensitive; one is required): "auth: invalid auth options";
 *   `none` and `EdDSA`, which golang-jwt knows but etcd cannot use: "auth: invalid auth
 *   signature method". ttl defaults to 5m; an empty value counts as not given.
 * - HS256/384/512: the priv-key file's bytes, as they are, are the shared secret; pub-key is
 *   read but not used; no (or an empty) priv-key: "auth: missing key data".
 * - RS*, PS* (RSA keys) and ES256/384/512 (ECDSA on P-256, P-384, P-521): PEM files, of which
 *   the first block counts, as with Go's pem.Decode. priv-key is PKCS#1 or PKCS#8 (RSA), SEC 1
 *   or PKCS#8 (ECDSA); pub-key is a PKIX public key or a certificate. Neither key: "auth:
 *   missing key data"; a pub-key alone makes the provider verify-only. Both keys must be one
 *   pair: "auth: public and private keys don't match". A file that is not PEM, or holds
 *   another kind of key, gets golang-jwt's message ("invalid key: Key must be a PEM encoded
 *   PKCS1 or PKCS8 key", "key is not a valid RSA private key", ...); an ECDSA key on another
 *   curve than the method's: "key is invalid".
 *
 * Two deliberate differences from etcd 3.4: a mismatched key pair is always refused (etcd's
 * check only fires when every field differs, so it passes most mismatched pairs and then
 * ignores the public key), and an ECDSA key on the wrong curve is refused here rather than on
 * each sign, where etcd fails every Authenticate with "key is invalid".
 */
export function parseTokenOptions(opt: string, readFile: (path: string) => Buffer = readFileSync): TokenOptions {
  const { type, options } = decomposeTokenOptions(opt);
  switch (type) {
    case "simple":
      return { type: "simple" };
    case "":
      return { type: "nop" };
    case "jwt": {
      const unknownOptions = [...options.keys()].filter((k) => !JWT_OPTION_NAMES.has(k));
      return { type: "jwt", jwt: parseJwtOptions(options, readFile), unknownOptions };
    }
    default:
      throw new AuthError("invalid_auth_opts", { cause: new Error(`unknown token type ${JSON.stringify(type)}`) });
  }
}

/** parseJwtOptions loads the options of a "jwt" --auth-token (see parseTokenOptions). */
export function parseJwtOptions(options: ReadonlyMap<string, string>, readFile: (path: string) => Buffer = readFileSync): JwtOptions {
  const opt = (k: string): string => options.get(k) ?? "";
  // The order of etcd's jwtOptions.Parse: ttl, then the files, then the method.
  let ttlNs = DEFAULT_JWT_TTL_NS;
  if (opt("ttl") !== "") {
    try {
      ttlNs = parseGoDuration(opt("ttl"));
    } catch (err) {
      throw new AuthError("invalid_auth_opts", { cause: err });
    }
  }
  const read = (k: string): Buffer | undefined => {
    if (opt(k) === "") return undefined;
    try {
      return readFile(opt(k));
    } catch (err) {
      throw new AuthError("invalid_auth_opts", { cause: err });
    }
  };
  const pubData = read("pub-key");
  const privData = read("priv-key");
  const method = opt("sign-method");
  if (KNOWN_UNSUPPORTED.has(method)) {
    throw new AuthError("invalid_auth_method", { cause: new Error(`unsupported signing method: ${method}`) });
  }
  if (!Object.hasOwn(JWT_SIGN_METHODS, method)) {
    throw new AuthError("invalid_auth_opts", { cause: new AuthError("invalid_auth_method") });
  }
  const signMethod = method as JwtSignMethod;
  const spec = JWT_SIGN_METHODS[signMethod];

  if (spec.family === "hmac") {
    // Empty key data counts as none, as in etcd (len(key) == 0).
    if (privData === undefined || privData.length === 0) throw new AuthError("missing_key");
    const secret = createSecretKey(privData);
    return { signMethod, ttlNs, signKey: secret, verifyKey: secret };
  }

  const priv = privData !== undefined && privData.length > 0 ? loadPrivateKey(privData, spec) : undefined;
  const pub = pubData !== undefined && pubData.length > 0 ? loadPublicKey(pubData, spec) : undefined;
  if (priv === undefined) {
    if (pub === undefined) throw new AuthError("missing_key");
    return { signMethod, ttlNs, signKey: undefined, verifyKey: pub };
  }
  const own = createPublicKey(priv);
  if (pub !== undefined && !spki(pub).equals(spki(own))) throw new AuthError("key_mismatch");
  return { signMethod, ttlNs, signKey: priv, verifyKey: own };
}

const spki = (k: KeyObject): Buffer => k.export({ type: "spki", format: "der" });

/**
 * firstPemBlock returns the DER bytes of the first well-formed PEM block in data, whatever its
 * label, as Go's pem.Decode does (and golang-jwt after it), or undefined when there is none.
 * RFC 1421 headers ("Proc-Type: ...") are skipped: an encrypted key then fails to parse.
 */
export function firstPemBlock(data: Buffer): Buffer | undefined {
  const text = data.toString("latin1");
  const re = /(?:^|\n)-----BEGIN ([^\r\n]*)-----[ \t]*\r?\n([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    let lines = (m[2] as string).split("\n");
    if ((lines[0] ?? "").includes(":")) {
      const blank = lines.findIndex((l) => l.trim() === "");
      if (blank < 0) continue;
      lines = lines.slice(blank + 1);
    }
    const b64 = lines.join("").replace(/[ \t\r]/g, "");
    if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) continue;
    return Buffer.from(b64, "base64");
  }
  return undefined;
}

const keyTypeOf = (spec: JwtMethodSpec): "rsa" | "ec" => (spec.family === "ecdsa" ? "ec" : "rsa");

/** checkKey refuses a key of another type than the method's, or an ECDSA key on another curve. */
function checkKey(key: KeyObject, spec: JwtMethodSpec, wrongType: AuthErrorCode): KeyObject {
  if (key.asymmetricKeyType !== keyTypeOf(spec)) throw new AuthError(wrongType);
  if (spec.curve !== undefined && key.asymmetricKeyDetails?.namedCurve !== spec.curve) throw new AuthError("invalid_key");
  return key;
}

/** loadPrivateKey parses an RSA (PKCS#1, PKCS#8) or ECDSA (SEC 1, PKCS#8) private key from a PEM file's first block. */
function loadPrivateKey(data: Buffer, spec: JwtMethodSpec): KeyObject {
  const der = firstPemBlock(data);
  if (der === undefined) throw new AuthError("key_must_be_pem");
  const ec = spec.family === "ecdsa";
  const wrongType: AuthErrorCode = ec ? "not_ec_private_key" : "not_rsa_private_key";
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: "der", type: ec ? "sec1" : "pkcs1" });
  } catch {
    try {
      key = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    } catch (err) {
      throw new AuthError(wrongType, { cause: err });
    }
  }
  return checkKey(key, spec, wrongType);
}

/** loadPublicKey parses a PKIX public key, or a certificate's public key, from a PEM file's first block. */
function loadPublicKey(data: Buffer, spec: JwtMethodSpec): KeyObject {
  const der = firstPemBlock(data);
  if (der === undefined) throw new AuthError("key_must_be_pem");
  const wrongType: AuthErrorCode = spec.family === "ecdsa" ? "not_ec_public_key" : "not_rsa_public_key";
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: "der", type: "spki" });
  } catch {
    try {
      key = new X509Certificate(der).publicKey;
    } catch (err) {
      throw new AuthError(wrongType, { cause: err });
    }
  }
  return checkKey(key, spec, wrongType);
}
