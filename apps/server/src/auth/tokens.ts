import { AuthError, JwtTokens, SimpleTokens, type AuthInfo, type AuthListener, type TokenOptions } from "@etcd-ts/auth";

/**
 * ServerTokens is the member's token provider as --auth-token chose it (etcd's
 * TokenProvider): simple tokens ("<letters>.<raft index>", in memory, each use extending its
 * TTL), JWT (signed, carrying the user and the auth revision it was issued at, checked by
 * signature and expiry on any member), or none (an empty --auth-token: Authenticate fails,
 * no token is valid). It hears the auth store's changes (simple tokens are dropped with
 * their user, or all of them when auth is disabled; JWTs live until they expire).
 */
export class ServerTokens implements AuthListener {
  private readonly simple: SimpleTokens | undefined;
  private readonly jwt: JwtTokens | undefined;

  constructor(
    readonly options: TokenOptions,
    /** monotonic is the clock of simple token lifetimes, in ms. */
    monotonic: () => number,
    /** wall is the clock of JWT expiry, ms since the epoch. */
    wall: () => number,
    simpleTtlMs: number,
    random: (n: number) => Uint8Array,
  ) {
    if (options.type === "simple") this.simple = new SimpleTokens(monotonic, simpleTtlMs, random);
    if (options.type === "jwt") this.jwt = new JwtTokens(options.jwt, wall);
  }

  /** prefix is the random part of a simple token the proposer of an Authenticate chooses ("" for other kinds). */
  prefix(): string {
    return this.simple?.prefix() ?? "";
  }

  /**
   * assign issues the token of an applied Authenticate: a simple token from the proposer's
   * prefix and the entry's index, or a JWT for the user at the auth revision.
   */
  assign(user: string, prefix: string, index: bigint, revision: bigint): string {
    if (this.simple !== undefined) return this.simple.assign(user, prefix, index);
    if (this.jwt !== undefined) return this.jwt.assign(user, revision);
    throw new AuthError("auth_failed");
  }

  /** waitIndex is the raft index a simple token was made at (this member must have applied it to know the token); undefined otherwise. */
  waitIndex(token: string): bigint | undefined {
    if (this.simple === undefined) return undefined;
    const parts = token.split(".");
    if (parts.length !== 2 || !/^\d+$/.test(parts[1] as string)) return undefined;
    return BigInt(parts[1] as string);
  }

  /**
   * lookup is who a token authenticates: a live simple token's user at the current auth
   * revision, or a valid JWT's user at the revision it carries; undefined for anything else.
   */
  lookup(token: string, currentRevision: bigint): AuthInfo | undefined {
    if (this.simple !== undefined) {
      const user = this.simple.user(token);
      return user === undefined ? undefined : { user, revision: currentRevision };
    }
    return this.jwt?.info(token);
  }

  enabled(): void {
    this.simple?.enabled();
  }

  disabled(): void {
    this.simple?.disabled();
  }

  userInvalidated(name: string): void {
    this.simple?.userInvalidated(name);
  }
}
