import { constants, createHmac, generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "./errors.js";
import { goJsonString, JwtTokens } from "./jwt_token.js";
import { EC_PUBLIC_KEY, ETCD_TOKENS, HMAC_SECRET, RSA_CERT } from "./testing/etcd_jwt_fixtures.js";
import { parseTokenOptions, type JwtOptions, type JwtSignMethod } from "./token_options.js";

let dir = "";
const f: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "etcd-ts-jwt-"));
  const write = (name: string, text: string | Buffer): void => {
    f[name] = join(dir, name);
    writeFileSync(f[name], text);
  };
  for (const [name, kp] of [
    ["rsa", generateKeyPairSync("rsa", { modulusLength: 2048 })],
    ["rsa2", generateKeyPairSync("rsa", { modulusLength: 2048 })],
    ["ec256", generateKeyPairSync("ec", { namedCurve: "P-256" })],
    ["ec256b", generateKeyPairSync("ec", { namedCurve: "P-256" })],
    ["ec384", generateKeyPairSync("ec", { namedCurve: "P-384" })],
    ["ec384b", generateKeyPairSync("ec", { namedCurve: "P-384" })],
    ["ec521", generateKeyPairSync("ec", { namedCurve: "P-521" })],
    ["ec521b", generateKeyPairSync("ec", { namedCurve: "P-521" })],
  ] as const) {
    write(`${name}.key`, kp.privateKey.export({ type: "pkcs8", format: "pem" }));
    write(`${name}.pub`, kp.publicKey.export({ type: "spki", format: "pem" }));
  }
  write("secret", "shared secret");
  write("secret2", "another secret");
  write("etcd.crt", RSA_CERT);
  write("etcd-ec.pub", EC_PUBLIC_KEY);
  write("etcd-hmac", HMAC_SECRET);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** options loads JWT options for a method from the temp dir's files (names without the dir). */
function options(method: JwtSignMethod, keys: { priv?: string; pub?: string; ttl?: string }): JwtOptions {
  const parts = ["jwt", `sign-method=${method}`];
  if (keys.priv !== undefined) parts.push(`priv-key=${f[keys.priv]}`);
  if (keys.pub !== undefined) parts.push(`pub-key=${f[keys.pub]}`);
  if (keys.ttl !== undefined) parts.push(`ttl=${keys.ttl}`);
  const o = parseTokenOptions(parts.join(","));
  if (o.type !== "jwt") throw new Error("not jwt");
  return o.jwt;
}

/** The key files each method signs with in these tests. */
const KEYS: Record<JwtSignMethod, { priv: string; pub?: string; other: string }> = {
  HS256: { priv: "secret", other: "secret2" },
  HS384: { priv: "secret", other: "secret2" },
  HS512: { priv: "secret", other: "secret2" },
  RS256: { priv: "rsa.key", pub: "rsa.pub", other: "rsa2.key" },
  RS384: { priv: "rsa.key", pub: "rsa.pub", other: "rsa2.key" },
  RS512: { priv: "rsa.key", pub: "rsa.pub", other: "rsa2.key" },
  PS256: { priv: "rsa.key", pub: "rsa.pub", other: "rsa2.key" },
  PS384: { priv: "rsa.key", pub: "rsa.pub", other: "rsa2.key" },
  PS512: { priv: "rsa.key", pub: "rsa.pub", other: "rsa2.key" },
  ES256: { priv: "ec256.key", pub: "ec256.pub", other: "ec256b.key" },
  ES384: { priv: "ec384.key", pub: "ec384.pub", other: "ec384b.key" },
  ES512: { priv: "ec521.key", pub: "ec521.pub", other: "ec521b.key" },
};
const METHODS = Object.keys(KEYS) as JwtSignMethod[];

/** T0 is a fixed time in milliseconds (2023-11-14T22:13:20.250Z). */
const T0 = 1_700_000_000_250;

function clock(t = T0): { now: () => number; set: (ms: number) => void } {
  let now = t;
  return { now: () => now, set: (ms) => (now = ms) };
}

const part = (token: string, i: number): string => Buffer.from(token.split(".")[i] as string, "base64url").toString("utf8");
const b64 = (s: string | Buffer): string => Buffer.from(s).toString("base64url");

/** hs256 signs any header and payload with a secret, to make tokens JwtTokens would never make. */
function hs256(header: string, payload: string, secret = "shared secret"): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

const HS_HEADER = '{"alg":"HS256","typ":"JWT"}';

describe("JwtTokens", () => {
  it.each(METHODS)("%s: signs a token it verifies, with etcd's header and claims", (method) => {
    const c = clock();
    const t = new JwtTokens(options(method, { priv: KEYS[method].priv }), c.now);
    expect(t.verifyOnly).toBe(false);
    const token = t.assign("alice", 42n);
    expect(part(token, 0)).toBe(`{"alg":"${method}","typ":"JWT"}`);
    // exp: now + 5m in whole seconds; revision a JSON number; keys sorted as Go marshals a map.
    expect(part(token, 1)).toBe('{"exp":1700000300,"revision":42,"username":"alice"}');
    expect(t.info(token)).toEqual({ user: "alice", revision: 42n });
    // And a provider holding only the public key verifies it too.
    const pub = KEYS[method].pub;
    if (pub !== undefined) {
      const v = new JwtTokens(options(method, { pub }), c.now);
      expect(v.verifyOnly).toBe(true);
      expect(v.info(token)).toEqual({ user: "alice", revision: 42n });
    }
  });

  it("signs ECDSA as r || s of the curve's size and RSA-PSS with a hash-long salt, as golang-jwt does", () => {
    const sig = (m: JwtSignMethod): Buffer => Buffer.from(new JwtTokens(options(m, { priv: KEYS[m].priv }), clock().now).assign("u", 1n).split(".")[2] as string, "base64url");
    expect(sig("ES256").length).toBe(64);
    expect(sig("ES384").length).toBe(96);
    expect(sig("ES512").length).toBe(132);
    expect(sig("PS256").length).toBe(256);
    expect(sig("HS512").length).toBe(64);
  });

  it("writes exp as now + ttl in whole seconds, rounded down like Go's Time.Unix", () => {
    const c = clock(1_700_000_000_999);
    const t = new JwtTokens(options("HS256", { priv: "secret", ttl: "1.5s" }), c.now);
    expect(JSON.parse(part(t.assign("u", 1n), 1)).exp).toBe(1_700_000_002);
    const neg = new JwtTokens(options("HS256", { priv: "secret", ttl: "-2h" }), clock(500).now);
    expect(part(neg.assign("u", 1n), 1)).toBe('{"exp":-7200,"revision":1,"username":"u"}');
  });

  it("writes the revision exactly, up to 2^64 - 1, and refuses what is not a uint64", () => {
    const t = new JwtTokens(options("HS256", { priv: "secret" }), clock().now);
    expect(part(t.assign("u", 18446744073709551615n), 1)).toContain('"revision":18446744073709551615,');
    expect(t.info(t.assign("u", 2n ** 53n))).toEqual({ user: "u", revision: 2n ** 53n });
    expect(() => t.assign("u", -1n)).toThrow(RangeError);
    expect(() => t.assign("u", 2n ** 64n)).toThrow(RangeError);
  });

  it("escapes the user name as Go's encoding/json does, and reads it back", () => {
    const t = new JwtTokens(options("HS256", { priv: "secret" }), clock().now);
    const name = 'a<b>&"c\\d\ne\u0001\u2028é\u{1f600}';
    const token = t.assign(name, 1n);
    expect(part(token, 1)).toBe('{"exp":1700000300,"revision":1,"username":"a\\u003cb\\u003e\\u0026\\"c\\\\d\\ne\\u0001\\u2028é\u{1f600}"}');
    expect(t.info(token)?.user).toBe(name);
    expect(goJsonString("\b\f\x7f\ud800x")).toBe('"\\u0008\\u000c\x7f\ufffdx"');
  });

  it("refuses a token once now reaches exp (in whole seconds), also after it was remembered", () => {
    const c = clock();
    const t = new JwtTokens(options("ES256", { priv: "ec256.key", ttl: "10s" }), c.now);
    const token = t.assign("u", 3n);
    // exp = 1700000010: valid through 1700000009.999.
    expect(t.info(token)).toEqual({ user: "u", revision: 3n });
    expect(t.size).toBe(1);
    c.set(1_700_000_009_999);
    expect(t.info(token)).toEqual({ user: "u", revision: 3n });
    c.set(1_700_000_010_000);
    expect(t.info(token)).toBeUndefined();
    expect(t.size).toBe(0);
    // A fresh provider (nothing remembered) refuses it too, and does not remember it.
    const fresh = new JwtTokens(options("ES256", { pub: "ec256.pub" }), c.now);
    expect(fresh.info(token)).toBeUndefined();
    expect(fresh.size).toBe(0);
  });

  it("expires at once with ttl 0, as etcd does", () => {
    const t = new JwtTokens(options("HS256", { priv: "secret", ttl: "0" }), clock().now);
    expect(t.info(t.assign("u", 1n))).toBeUndefined();
  });

  it.each(METHODS)("%s: refuses a token signed with another key", (method) => {
    const c = clock();
    const mine = new JwtTokens(options(method, { priv: KEYS[method].priv }), c.now);
    const other = new JwtTokens(options(method, { priv: KEYS[method].other }), c.now);
    const token = other.assign("root", 1n);
    expect(other.info(token)).toEqual({ user: "root", revision: 1n });
    expect(mine.info(token)).toBeUndefined();
  });

  it("refuses alg none, in any spelling of the header, with or without a signature", () => {
    const c = clock();
    for (const method of ["HS256", "RS256", "ES256"] as const) {
      const t = new JwtTokens(options(method, { priv: KEYS[method].priv }), c.now);
      const payload = b64('{"exp":1700000300,"revision":1,"username":"root"}');
      for (const header of ['{"alg":"none","typ":"JWT"}', '{"alg":"none"}', '{"alg":"NONE"}', '{"typ":"JWT"}', '{"alg":null}']) {
        expect(t.info(`${b64(header)}.${payload}.`)).toBeUndefined();
        const real = t.assign("root", 1n).split(".")[2] as string;
        expect(t.info(`${b64(header)}.${payload}.${real}`)).toBeUndefined();
      }
    }
  });

  it("refuses a token whose header names another method, even one the same key could check", () => {
    const c = clock();
    const rs256 = new JwtTokens(options("RS256", { priv: "rsa.key" }), c.now);
    // Signed with the same RSA key under RS384 and PS256.
    for (const m of ["RS384", "PS256"] as const) {
      const token = new JwtTokens(options(m, { priv: "rsa.key" }), c.now).assign("root", 1n);
      expect(rs256.info(token)).toBeUndefined();
      // Relabelled RS256: the signature no longer checks.
      expect(rs256.info(`${b64('{"alg":"RS256","typ":"JWT"}')}${token.slice(token.indexOf("."))}`)).toBeUndefined();
    }
    // The classic confusion: HS256 keyed with the RSA public key's PEM, sent to an RS256 verifier.
    const pem = options("RS256", { pub: "rsa.pub" }).verifyKey.export({ type: "spki", format: "pem" });
    const forged = hs256(HS_HEADER, '{"exp":1700000300,"revision":1,"username":"root"}', pem.toString());
    expect(rs256.info(forged)).toBeUndefined();
    const forgedAsRs = `${b64('{"alg":"RS256","typ":"JWT"}')}${forged.slice(forged.indexOf("."))}`;
    expect(rs256.info(forgedAsRs)).toBeUndefined();
  });

  it("accepts an equivalent header golang-jwt would (other members, key order), and refuses a tampered one", () => {
    const t = new JwtTokens(options("HS256", { priv: "secret" }), clock().now);
    const claims = '{"exp":1700000300,"revision":7,"username":"bob"}';
    expect(t.info(hs256('{"typ":"JWT","alg":"HS256"}', claims))).toEqual({ user: "bob", revision: 7n });
    expect(t.info(hs256('{"alg":"HS256","kid":"k1"}', claims))).toEqual({ user: "bob", revision: 7n });
    const token = t.assign("bob", 7n);
    const tampered = `${b64('{"alg":"HS256","typ":"JWT","kid":"x"}')}${token.slice(token.indexOf("."))}`;
    expect(t.info(tampered)).toBeUndefined();
  });

  it.each(["RS256", "PS256", "ES256", "HS256"] as const)("%s: refuses a tampered payload or signature", (method) => {
    const t = new JwtTokens(options(method, { priv: KEYS[method].priv }), clock().now);
    const token = t.assign("alice", 5n);
    const [h, p, s] = token.split(".") as [string, string, string];
    const evil = b64(part(token, 1).replace('"alice"', '"root"'));
    expect(t.info(`${h}.${evil}.${s}`)).toBeUndefined();
    const higher = b64(part(token, 1).replace('"revision":5', '"revision":6'));
    expect(t.info(`${h}.${higher}.${s}`)).toBeUndefined();
    const flipped = (s[0] === "A" ? "B" : "A") + s.slice(1);
    expect(t.info(`${h}.${p}.${flipped}`)).toBeUndefined();
    expect(t.info(`${h}.${p}.`)).toBeUndefined();
    expect(t.info(`${h}.${p}.${s}AA`)).toBeUndefined();
    expect(t.info(token)).toEqual({ user: "alice", revision: 5n });
    // Only valid tokens are remembered.
    expect(t.size).toBe(1);
  });

  it("refuses malformed tokens", () => {
    const t = new JwtTokens(options("HS256", { priv: "secret" }), clock().now);
    const token = t.assign("u", 1n);
    for (const bad of ["", "aaa", "abcdefghijklmnop.12", "a.b", `${token}.x`, `.${token}`, `${token} `, `Bearer ${token}`, token.replace(/\./g, ".."), `${token}=`, `${token.slice(0, -1)}+`, `${token.slice(0, -1)}/`]) {
      expect(t.info(bad)).toBeUndefined();
    }
    // A header or payload that is not a JSON object, correctly signed.
    expect(t.info(hs256("[]", '{"exp":1700000300,"revision":1,"username":"u"}'))).toBeUndefined();
    expect(t.info(hs256("null", '{"exp":1700000300,"revision":1,"username":"u"}'))).toBeUndefined();
    expect(t.info(hs256(HS_HEADER, "[1]"))).toBeUndefined();
    expect(t.info(hs256(HS_HEADER, "null"))).toBeUndefined();
    expect(t.info(hs256(HS_HEADER, "{"))).toBeUndefined();
  });

  it("reads the claims as etcd and golang-jwt do", () => {
    const c = clock();
    const t = new JwtTokens(options("HS256", { priv: "secret" }), c.now);
    const info = (claims: string): unknown => t.info(hs256(HS_HEADER, claims));
    // username a string, revision a non-negative integer (etcd would panic on a missing one).
    expect(info('{"exp":1700000300,"revision":1,"username":""}')).toEqual({ user: "", revision: 1n });
    expect(info('{"exp":1700000300,"revision":1e3,"username":"u"}')).toEqual({ user: "u", revision: 1000n });
    expect(info('{"exp":1700000300,"revision":1}')).toBeUndefined();
    expect(info('{"exp":1700000300,"username":"u"}')).toBeUndefined();
    expect(info('{"exp":1700000300,"revision":"1","username":"u"}')).toBeUndefined();
    expect(info('{"exp":1700000300,"revision":-1,"username":"u"}')).toBeUndefined();
    expect(info('{"exp":1700000300,"revision":1.5,"username":"u"}')).toBeUndefined();
    expect(info('{"exp":1700000300,"revision":1,"username":5}')).toBeUndefined();
    // No exp, or exp 0: golang-jwt does not expire the token (etcd's always carry one).
    expect(info('{"revision":1,"username":"u"}')).toEqual({ user: "u", revision: 1n });
    expect(info('{"exp":0,"revision":1,"username":"u"}')).toEqual({ user: "u", revision: 1n });
    // A time claim that is not a number is invalid; a fractional exp counts to the nanosecond.
    expect(info('{"exp":"1700000300","revision":1,"username":"u"}')).toBeUndefined();
    expect(info('{"exp":null,"revision":1,"username":"u"}')).toBeUndefined();
    expect(info('{"exp":1700000000.5,"revision":1,"username":"u"}')).toEqual({ user: "u", revision: 1n });
    expect(info('{"exp":1700000000,"revision":1,"username":"u"}')).toBeUndefined();
    expect(info('{"exp":1700000300,"iat":"x","revision":1,"username":"u"}')).toBeUndefined();
    // iat and nbf: valid from that second on.
    const future = '{"exp":1700000300,"nbf":1700000005,"revision":1,"username":"u"}';
    const issuedLater = '{"exp":1700000300,"iat":1700000005,"revision":1,"username":"u"}';
    expect(info(future)).toBeUndefined();
    expect(info(issuedLater)).toBeUndefined();
    c.set(1_700_000_005_000);
    expect(info(future)).toEqual({ user: "u", revision: 1n });
    expect(info(issuedLater)).toEqual({ user: "u", revision: 1n });
    // Remembered, then the clock steps back: refused again.
    c.set(1_700_000_004_000);
    expect(info(future)).toBeUndefined();
  });

  it("accepts RSA-PSS signatures with any salt length, as golang-jwt verifies with PSSSaltLengthAuto", () => {
    const t = new JwtTokens(options("PS256", { pub: "rsa.pub" }), clock().now);
    const input = `${b64('{"alg":"PS256","typ":"JWT"}')}.${b64('{"exp":1700000300,"revision":1,"username":"u"}')}`;
    const key = options("PS256", { priv: "rsa.key" }).signKey;
    if (key === undefined) throw new Error("no key");
    for (const saltLength of [0, 20, 32, constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
      const sig = cryptoSign("sha256", Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
      expect(t.info(`${input}.${sig.toString("base64url")}`)).toEqual({ user: "u", revision: 1n });
    }
  });

  it("refuses a DER-encoded ECDSA signature (golang-jwt takes r || s only)", () => {
    const t = new JwtTokens(options("ES256", { pub: "ec256.pub" }), clock().now);
    const input = `${b64('{"alg":"ES256","typ":"JWT"}')}.${b64('{"exp":1700000300,"revision":1,"username":"u"}')}`;
    const key = options("ES256", { priv: "ec256.key" }).signKey;
    if (key === undefined) throw new Error("no key");
    const der = cryptoSign("sha256", Buffer.from(input), key);
    expect(t.info(`${input}.${der.toString("base64url")}`)).toBeUndefined();
    const raw = cryptoSign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    expect(t.info(`${input}.${raw.toString("base64url")}`)).toEqual({ user: "u", revision: 1n });
  });

  it("verify-only: checks tokens, refuses to sign with etcd's error", () => {
    const c = clock();
    const signer = new JwtTokens(options("PS384", { priv: "rsa.key", pub: "rsa.pub" }), c.now);
    const verifier = new JwtTokens(options("PS384", { pub: "rsa.pub" }), c.now);
    expect(verifier.verifyOnly).toBe(true);
    expect(verifier.info(signer.assign("abc", 123n))).toEqual({ user: "abc", revision: 123n });
    expect(verifier.info("aaa")).toBeUndefined();
    let err: unknown;
    try {
      verifier.assign("abc", 123n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).code).toBe("verify_only");
    expect((err as AuthError).message).toBe("auth: token signing attempted with verify-only key");
  });

  it("remembers at most cacheSize verified tokens, oldest dropped first; 0 remembers none", () => {
    const c = clock();
    const o = options("ES256", { priv: "ec256.key" });
    const t = new JwtTokens(o, c.now, 2);
    const tokens = ["a", "b", "c"].map((u) => t.assign(u, 1n));
    for (const tok of tokens) expect(t.info(tok)).toBeDefined();
    expect(t.size).toBe(2);
    for (const tok of tokens) expect(t.info(tok)?.user).toBe(part(tok, 1).match(/"username":"(.)"/)?.[1]);
    const none = new JwtTokens(o, c.now, 0);
    expect(none.info(tokens[0] as string)).toEqual({ user: "a", revision: 1n });
    expect(none.size).toBe(0);
  });

  it("keeps tokens across auth listener events, as etcd's JWT provider does", () => {
    const t = new JwtTokens(options("HS256", { priv: "secret" }), clock().now);
    const token = t.assign("u", 1n);
    t.enabled();
    t.userInvalidated("u");
    t.disabled();
    expect(t.info(token)).toEqual({ user: "u", revision: 1n });
  });
});

describe("JwtTokens against tokens the real etcd 3.4.23 made", () => {
  const PUB: Record<string, string> = { RS256: "etcd.crt", PS256: "etcd.crt", ES256: "etcd-ec.pub" };

  it.each(ETCD_TOKENS.map((t) => [t.method, t.user, t] as const))("%s for %j: same header and claims bytes, verifies, expires", (method, _user, e) => {
    // The header and payload etcd wrote are byte for byte what assign writes.
    const [h, p] = e.token.split(".") as [string, string];
    expect(h).toBe(b64(`{"alg":"${method}","typ":"JWT"}`));
    expect(Buffer.from(p, "base64url").toString("utf8")).toBe(`{"exp":${e.issued + e.ttlSeconds},"revision":${e.revision},"username":${goJsonString(e.user)}}`);

    const c = clock(e.issued * 1000 + 500);
    const keys = method === "HS256" ? { priv: "etcd-hmac" } : { pub: PUB[method] as string };
    const t = new JwtTokens(options(method, keys), c.now);
    expect(t.info(e.token)).toEqual({ user: e.user, revision: e.revision });
    c.set((e.issued + e.ttlSeconds) * 1000 - 1);
    expect(t.info(e.token)).toEqual({ user: e.user, revision: e.revision });
    c.set((e.issued + e.ttlSeconds) * 1000);
    expect(t.info(e.token)).toBeUndefined();

    if (method === "HS256") {
      // HMAC is deterministic: the whole token is etcd's.
      const signer = new JwtTokens(options("HS256", { priv: "etcd-hmac", ttl: `${e.ttlSeconds}s` }), clock(e.issued * 1000 + 999).now);
      expect(signer.assign(e.user, e.revision)).toBe(e.token);
    }
  });
});
