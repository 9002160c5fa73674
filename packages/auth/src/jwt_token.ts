import { constants, createHmac, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { AuthError } from "./errors.js";
import type { AuthInfo, AuthListener } from "./store.js";
import { JWT_SIGN_METHODS, type JwtOptions, type JwtSignMethod } from "./token_options.js";

/** DEFAULT_JWT_CACHE_SIZE is how many verified tokens a JwtTokens remembers. */
export const DEFAULT_JWT_CACHE_SIZE = 1024;

const TWO_64 = 1n << 64n;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** A verified token as remembered: who, at which auth revision, and its time bounds in Unix seconds. */
interface Verified {
  readonly info: AuthInfo;
  /** exp: valid while now < exp (Infinity: the token has no exp). */
  readonly exp: number;
  /** notBefore: valid once now >= notBefore (the larger of iat and nbf; -Infinity: neither). */
  readonly notBefore: number;
}

const b64url = (s: string | Buffer): string => Buffer.from(s).toString("base64url");

/** floorDiv divides rounding toward minus infinity, as Go's Time.Unix does for times before 1970. */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/**
 * goJsonString encodes a string as Go's encoding/json does (etcd 3.4, Go 1.19): `"`, `\` and
 * \n, \r, \t escaped, other control characters and <, >, & as \u00XX, U+2028 and U+2029
 * escaped, and text that is not valid UTF-16 (a lone surrogate, invalid UTF-8 in Go) as
 * U+FFFD; the rest as is.
 */
export function goJsonString(s: string): string {
  if (/^[\x20-\x7e]*$/.test(s) && !/["\\<>&]/.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) out += `\\u00${c.toString(16).padStart(2, "0")}`;
    else if (c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16)}`;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[i] as string;
        out += s[i + 1] as string;
        i++;
      } else out += "\ufffd";
    } else if (c >= 0xdc00 && c <= 0xdfff) out += "\ufffd";
    else out += s[i] as string;
  }
  return `${out}"`;
}

/** isObject reports whether a parsed JSON value is an object (not null, not an array). */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * JwtTokens is etcd's JWT token provider (auth/jwt.go), on node:crypto: stateless tokens any
 * member (or a verify-only member holding just the public key) can check.
 *
 * `assign` signs {"exp":<unix seconds>,"revision":<auth revision>,"username":<name>} under the
 * header {"alg":"<method>","typ":"JWT"}, byte for byte what etcd's golang-jwt writes (Go
 * marshals both maps with sorted keys), so a token made here is the token etcd makes at the
 * same second. `info` accepts a token when, as golang-jwt and etcd's key function decide:
 * it has three base64url parts; its header's alg is the configured method (anything else,
 * "none" included, is refused); the signature checks with the configured key (RSA-PSS
 * accepting any salt length, ECDSA only as r || s of the curve's size); the claims are a JSON
 * object whose username is a string and revision a non-negative integer; and the time claims
 * hold: now < exp, now >= iat, now >= nbf, in whole Unix seconds, each only when present and
 * non-zero (golang-jwt's rule: a token without exp does not expire; one from etcd always has
 * one). A time claim that is not a number makes the token invalid. The exp bound is that of
 * golang-jwt 4.4.3, which Debian's etcd 3.4.23 is built with (checked: it refuses a token in
 * its exp second); golang-jwt v3 accepted a token through that second.
 *
 * Checking runs on every request, so keys are parsed once (by parseTokenOptions) and tokens
 * that verified are remembered (up to `cacheSize`, oldest dropped first) with their time
 * bounds, which are checked again on each use; a token is a signed, immutable value, so a
 * remembered signature check stays true. Time comes from the injected clock (milliseconds).
 *
 * Like etcd's, the provider keeps no per-user state: enabling, disabling auth or changing a
 * user does not revoke a JWT (the auth revision it carries does that, checked by the store).
 */
export class JwtTokens implements AuthListener {
  readonly signMethod: JwtSignMethod;
  private readonly ttlNs: bigint;
  private readonly headerSegment: string;
  private readonly signer: ((input: Buffer) => Buffer) | undefined;
  private readonly checker: (input: Buffer, signature: Buffer) => boolean;
  private readonly verified = new Map<string, Verified>();

  constructor(
    options: JwtOptions,
    private readonly now: () => number,
    private readonly cacheSize: number = DEFAULT_JWT_CACHE_SIZE,
  ) {
    this.signMethod = options.signMethod;
    this.ttlNs = options.ttlNs;
    this.headerSegment = b64url(`{"alg":"${options.signMethod}","typ":"JWT"}`);
    const spec = JWT_SIGN_METHODS[options.signMethod];
    const { hash } = spec;
    const key = options.verifyKey;
    const signKey = options.signKey;
    switch (spec.family) {
      case "hmac": {
        this.signer = signKey === undefined ? undefined : (input) => createHmac(hash, signKey).update(input).digest();
        this.checker = (input, sig) => {
          const mac = createHmac(hash, key).update(input).digest();
          return sig.length === mac.length && timingSafeEqual(sig, mac);
        };
        break;
      }
      case "rsa": {
        this.signer = signKey === undefined ? undefined : (input) => cryptoSign(hash, input, signKey);
        this.checker = (input, sig) => cryptoVerify(hash, input, key, sig);
        break;
      }
      case "rsa-pss": {
        // golang-jwt signs with a salt as long as the hash and accepts any salt length.
        const pss = { padding: constants.RSA_PKCS1_PSS_PADDING } as const;
        const signWith = signKey === undefined ? undefined : { key: signKey, ...pss, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
        const verifyWith = { key, ...pss, saltLength: constants.RSA_PSS_SALTLEN_AUTO };
        this.signer = signWith === undefined ? undefined : (input) => cryptoSign(hash, input, signWith);
        this.checker = (input, sig) => cryptoVerify(hash, input, verifyWith, sig);
        break;
      }
      case "ecdsa": {
        const sigLength = 2 * (spec.keySize as number);
        const signWith = signKey === undefined ? undefined : { key: signKey, dsaEncoding: "ieee-p1363" as const };
        const verifyWith = { key, dsaEncoding: "ieee-p1363" as const };
        this.signer = signWith === undefined ? undefined : (input) => cryptoSign(hash, input, signWith);
        this.checker = (input, sig) => sig.length === sigLength && cryptoVerify(hash, input, verifyWith, sig);
        break;
      }
    }
  }

  /** verifyOnly is true when the provider has only a public key: it checks tokens but cannot make them. */
  get verifyOnly(): boolean {
    return this.signer === undefined;
  }

  /** size is the number of verified tokens remembered. */
  get size(): number {
    return this.verified.size;
  }

  /**
   * assign makes a token for user at the auth revision `revision`, expiring one TTL from now
   * (in whole seconds, rounded down as Go's Time.Unix). A verify-only provider refuses with
   * "auth: token signing attempted with verify-only key".
   */
  assign(user: string, revision: bigint): string {
    if (this.signer === undefined) throw new AuthError("verify_only");
    if (revision < 0n || revision >= TWO_64) throw new RangeError(`revision ${revision} is not a uint64`);
    const nowNs = BigInt(Math.floor(this.now())) * 1_000_000n;
    const exp = floorDiv(nowNs + this.ttlNs, 1_000_000_000n);
    const payload = `{"exp":${exp},"revision":${revision},"username":${goJsonString(user)}}`;
    const input = `${this.headerSegment}.${b64url(payload)}`;
    return `${input}.${this.signer(Buffer.from(input, "latin1")).toString("base64url")}`;
  }

  /** info returns the user and auth revision a valid token carries, or undefined for any token that is not (see the class). */
  info(token: string): AuthInfo | undefined {
    const nowSec = Math.floor(this.now() / 1000);
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      if (nowSec >= hit.exp) {
        this.verified.delete(token);
        return undefined;
      }
      return nowSec >= hit.notBefore ? hit.info : undefined;
    }
    const v = this.check(token);
    if (v === undefined || nowSec >= v.exp || nowSec < v.notBefore) return undefined;
    if (this.cacheSize > 0) {
      if (this.verified.size >= this.cacheSize) {
        const oldest = this.verified.keys().next();
        if (oldest.done !== true) this.verified.delete(oldest.value);
      }
      this.verified.set(token, v);
    }
    return v.info;
  }

  /** check verifies a token's form, header, signature and claims, leaving its time bounds to the caller. */
  private check(token: string): Verified | undefined {
    const dot1 = token.indexOf(".");
    const dot2 = token.indexOf(".", dot1 + 1);
    if (dot1 < 0 || dot2 < 0 || token.indexOf(".", dot2 + 1) >= 0) return undefined;
    const header = token.slice(0, dot1);
    const payload = token.slice(dot1 + 1, dot2);
    const signature = token.slice(dot2 + 1);
    if (!isBase64Url(header) || !isBase64Url(payload) || !isBase64Url(signature)) return undefined;
    try {
      if (header !== this.headerSegment) {
        const h: unknown = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
        if (!isObject(h) || h["alg"] !== this.signMethod) return undefined;
      }
      if (!this.checker(Buffer.from(token.slice(0, dot2), "latin1"), Buffer.from(signature, "base64url"))) return undefined;
      const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
      if (!isObject(claims)) return undefined;
      const user = claims["username"];
      const rev = claims["revision"];
      if (typeof user !== "string" || typeof rev !== "number" || !Number.isInteger(rev) || rev < 0 || rev >= 2 ** 64) return undefined;
      const exp = timeClaim(claims, "exp");
      const iat = timeClaim(claims, "iat");
      const nbf = timeClaim(claims, "nbf");
      if (exp === undefined || iat === undefined || nbf === undefined) return undefined;
      return {
        info: Object.freeze({ user, revision: BigInt(rev) }),
        exp: exp === 0 ? Infinity : exp,
        notBefore: Math.max(iat === 0 ? -Infinity : iat, nbf === 0 ? -Infinity : nbf),
      };
    } catch {
      // Bad JSON, or a signature node:crypto will not even read.
      return undefined;
    }
  }

  // A JWT carries everything it grants; as in etcd, there is nothing to drop here.
  enabled(): void {}

  disabled(): void {}

  userInvalidated(_name: string): void {}
}

/** isBase64Url: unpadded base64url, as golang-jwt decodes segments (a length of 4n+1 cannot be). */
const isBase64Url = (s: string): boolean => s.length % 4 !== 1 && BASE64URL.test(s);

/** timeClaim reads a numeric date claim: 0 when absent (golang-jwt treats 0 as absent too), undefined when not a number. */
function timeClaim(claims: Record<string, unknown>, name: string): number | undefined {
  if (!Object.hasOwn(claims, name)) return 0;
  const v = claims[name];
  return typeof v === "number" ? v : undefined;
}
