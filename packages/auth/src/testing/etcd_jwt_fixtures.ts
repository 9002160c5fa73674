/**
 * Tokens made by the real etcd 3.4.23 (Debian's etcd-server, golang-jwt 4.4.3), for checking
 * JwtTokens against etcd's format. Made with `etcd --auth-token jwt,...` on the keys below
 * (an RSA key with a self-signed certificate, an ECDSA P-256 key, an HMAC secret file), then
 * `etcdctl user add root; user grant-role root root; user add 'al<i>&"ce'; auth enable` (auth
 * revision 5) and POST /v3/auth/authenticate. Only public keys are kept; the HMAC secret is a
 * throwaway. `issued` is the Unix second each token was made (its exp minus the ttl).
 */

/** RSA_CERT is the self-signed certificate of the RSA key (RS256 and PS256 tokens); etcd took it as pub-key. */
export const RSA_CERT = `-----BEGIN CERTIFICATE-----
MIIDFzCCAf+gAwIBAgIUBnFo1TiQBD5abz8Nx/26f49laXcwDQYJKoZIhvcNAQEL
BQAwGzEZMBcGA1UEAwwQZXRjZC10cyBqd3QgdGVzdDAeFw0yNjEyMDEyMjUyNDda
Fw0zNjExMjgyMjUyNDdaMBsxGTAXBgNVBAMMEGV0Y2QtdHMgand0IHRlc3QwggEi
MA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQDFiSJraJhFcfU/6P39qE3FKRBx
cohoLvJn158R8f3Mroeo0RpvGRO1p0SLjtr+V/8C81OmACWBxG6OR532vMSRGYHG
eIB73hj/l8UhaoSzSiZiEljkqtW6X35LyDrpBf4+C5miLLwVZnwKNYVjjkIvyVGM
XvzQsXaLVKxtremcWcbl7riTWaI7mDrk+39IGSFykql3UFG6CWSuMhMx58Ffy24M
sGL3NSjA5KI0x1aiPvH1WsnUoZRI3Pn7DsuRcEd+mmL177P9hsAV2BQybVkwi/sG
LBxRXpukaN587PWiIW9k73hcYm110S8kxFdYpnkZSdsgxRikOLp+x0KgFsPzAgMB
AAGjUzBRMB0GA1UdDgQWBBQP/6d2eBtbHl7VaH1WeRG2YmcCxzAfBgNVHSMEGDAW
gBQP/6d2eBtbHl7VaH1WeRG2YmcCxzAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3
DQEBCwUAA4IBAQALdmitIBxtR1B8q6V7m5G95lhvDh+d5znk3Qfw+aGFd7nbY1CS
D4KKK/z9S0eHPY7pTjyMCH1LC/0L6BX4XPW760M84VtpLdwexSq4ERi6O1CptFcm
RBA5MY4lO9WbkufzibdnM6jeENdqsYN9QdWFpuuoATPZIfCofVZPSkC8cMTJUkoC
MmTIujS27TPFOG2hB52aHYZOZsVI7HuLng6IRozB4zQ4EDH5Te+GqnhmaLNzFhh+
5QKsvkqa21nPulvdvHfgjP3hpVu9kxSIlRt5zb4fZOxuCkDNBOi6QcqI7MRVg5S4
8WmPXnfdz08ZyUgoqrAJMHlAkvjMx1o8BFrt
-----END CERTIFICATE-----
`;

/** EC_PUBLIC_KEY is the PKIX public key of the P-256 key (ES256 tokens). */
export const EC_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtzxKZAOvuguKjp0k+WmEkBQW09nX
s1t+/hX9q/69rrv6cs0XO8aNwXiK0GkCnfwUkvsS5cJprTgWH/5m4xotuQ==
-----END PUBLIC KEY-----
`;

/** HMAC_SECRET is the bytes of the HS256 priv-key file, trailing newline included (etcd uses the file as it is). */
export const HMAC_SECRET = "etcd-ts hmac test secret\n";

/** ODD_USER is a user name Go's JSON encoder escapes (<, >, & as \u00XX). */
export const ODD_USER = 'al<i>&"ce';

export interface EtcdToken {
  readonly method: "RS256" | "PS256" | "ES256" | "HS256";
  readonly user: string;
  readonly revision: bigint;
  readonly issued: number;
  readonly ttlSeconds: number;
  readonly token: string;
}

export const ETCD_TOKENS: readonly EtcdToken[] = [
  { method: "RS256", user: "root", revision: 5n, issued: 1796165594, ttlSeconds: 3600, token:
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYxNjkxOTQsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6InJvb3QifQ.QFWs0mx3r9iWQvBXvOS_TgbsqsC5ojGO8e0B2kwt-REsNT4X5YC-vR3rRXIAtdFDfE8Keiz5NlGLIigrRil300rFv0HMzYD32b1AO6xN7ayoBODnQSvMRIiehYBQHze4CUOzwGXw4Bu3MZY9lp1thqhdeQ7B8a8oepRChB42xGjmq8F-mz9Y00BGN3AQpbdL9CmZoUbPlncolJmbx1jnuy9NElJzymV-WhPP8nWT5kWQbT4xwnaK97Ku-CBjKnmWR50ZgTu7r618ZBMbyrGxrjTeb9vx3RuYI3ncOaZJsp7EzLCnjry9_sR3l7eNHeCDxIE8cjHfXsL4KIBmXHS1AA" },
  { method: "RS256", user: ODD_USER, revision: 5n, issued: 1796165594, ttlSeconds: 3600, token:
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYxNjkxOTQsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6ImFsXHUwMDNjaVx1MDAzZVx1MDAyNlwiY2UifQ.CGftTmrTzdSfB7FpEX-b-7UXgSb6SA4qLqfovuhpmK9SNciEiU8sesH0QpvYZv7Uko3Cikq7Hs2Ulc4T6_RVrwYRFWXUi5myYDMtGQa8TZDoJa2vtyoxGEc_udpu6cSpgmWNn0s2QR1gmrCmgBoziR8UDMZkJWIVpQJ4rlRfHHg1OpQxgWHusvKfj17hJpi7cMwr3qc0s-Xj0YCA9kr1miwKu4mZtqoNX9H7Hsi4cfUvgDVfVrYcI8Zc-OIZpTxYMvhVocrPy2tTQttbpowjG4eUDIT1xf9dggcXxdhn7nYzk74wGO3t7XioPh_gwxT5fPJHt51vjI4Xo7NLZKQ6Pw" },
  { method: "PS256", user: "root", revision: 5n, issued: 1796165597, ttlSeconds: 300, token:
    "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYxNjU4OTcsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6InJvb3QifQ.a2TKNSuPwjIiVPRDljC4k8xQOwTLl3QMQtbNG2At3pnqlz2RVpQPKBV66TyX03evtq1d4_UmafUiO6mkzHQZdusoGgtXd_UA_Ca_tutUI5T9jZTGeR-HOqei7FEklKhFha_aGIxr0s3rPpl2e_t1klT1VfquLuxHGyAVtFZGpa9_lqegOJOKriwUPv8VK5nCr3Sr5YIjDVKOh3bW2A2mOUGdFDculTVN8RbxEF3zF2pOxuhaaS5mYQfCHSydBYAkmN2bgXuElmGjXMWnnAZq9xZ4-vkSjJ7XfpEzrdqZ7Gw5EvhkKrUKXSvF2rSaCCt9S5GHWuU00dDv7pTg_vPAbA" },
  { method: "PS256", user: ODD_USER, revision: 5n, issued: 1796165598, ttlSeconds: 300, token:
    "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYxNjU4OTgsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6ImFsXHUwMDNjaVx1MDAzZVx1MDAyNlwiY2UifQ.sLcn5hlL-EOZJ5tLR-A3NSKPRSL66Z7As83pM85IR7uiMtiL6aJJT3H5xJ6ld0M78AwIZ4NLFjhI0zvvgFmQBWv0Kl8fN7KGlSvUgkNuZyUg5bL96ijvjoSRJQr5PNBwEpNNvUcbmbno7uW11uxM3f_TDKXLH-7xXV_FDpdmEbEhbhbUBUyjVp2QaMhURfqiyI5HAnsxGYuDOMN-Rx_KcV1m7Vr1JaowuQXW8eTfY5yf_TjwjXyNL7gVJ-BE3QLcbBG_45eh6g6DwKN5pGnBTR2ieohyvgYxuiBpxLjbjWnbVlf92gibmitsgJgFRZZFGxJDlSDNypADNyfdR0Ui8Q" },
  { method: "ES256", user: "root", revision: 5n, issued: 1796165600, ttlSeconds: 600, token:
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYxNjYyMDAsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6InJvb3QifQ.oJSS4eZlWOdf6BW2wxM8grJRh97Jh6acJfRk043oHG-y_ZhJY6h41Fpz2RrfTtJKYnpPTON-47qSd9ifdHNN2A" },
  { method: "ES256", user: ODD_USER, revision: 5n, issued: 1796165600, ttlSeconds: 600, token:
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYxNjYyMDAsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6ImFsXHUwMDNjaVx1MDAzZVx1MDAyNlwiY2UifQ.tpmSOK-p3N10VmrDysf5evlawz10hsMy-trOg1QPU1pmAcMLxjDkxaBbtWMGuLyLw21o06q2oaZ9aDZlMp28ag" },
  { method: "HS256", user: "root", revision: 5n, issued: 1796165602, ttlSeconds: 300, token:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYxNjU5MDIsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6InJvb3QifQ.3nFUnqET8VjXFeW0FQHVoUD9qNSIgn1es_paRyA_zFg" },
  { method: "HS256", user: ODD_USER, revision: 5n, issued: 1796165602, ttlSeconds: 300, token:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTYxNjU5MDIsInJldmlzaW9uIjo1LCJ1c2VybmFtZSI6ImFsXHUwMDNjaVx1MDAzZVx1MDAyNlwiY2UifQ.pW45i98FlOlQtB3B_ASCQsCjHpCdHl17ZmioCY5wJdg" },
];
