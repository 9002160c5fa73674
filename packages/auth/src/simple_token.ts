import type { AuthListener } from "./store.js";

/** DEFAULT_TOKEN_TTL_MS is etcd's --auth-token-ttl default: 300 seconds. */
export const DEFAULT_TOKEN_TTL_MS = 300_000;

/** SIMPLE_TOKEN_PREFIX_LENGTH is the length of the random letters that start a simple token. */
export const SIMPLE_TOKEN_PREFIX_LENGTH = 16;

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/**
 * SimpleTokens are etcd's simple tokens (auth/simple_token.go): "<16 random letters>.<raft
 * index>", made by the member that proposes an Authenticate and assigned at its apply on
 * every member, so any member knows every token. A token lives `ttlMs` after its last use
 * and is held in memory only: a restart invalidates it, as in etcd. Deleting a user or
 * changing its password drops its tokens; disabling auth drops them all.
 *
 * Time comes from the injected clock (milliseconds); expired tokens are dropped when looked
 * up and swept when tokens are assigned, so the map holds no more than the tokens used
 * within one TTL.
 */
export class SimpleTokens implements AuthListener {
  private readonly tokens = new Map<string, { user: string; expires: number }>();
  private active = false;
  private lastSweep = 0;

  constructor(
    private readonly now: () => number,
    private readonly ttlMs: number = DEFAULT_TOKEN_TTL_MS,
    private readonly random: (n: number) => Uint8Array,
  ) {}

  /** prefix makes the random part of a new token (the proposer sends it with the Authenticate). */
  prefix(): string {
    const bytes = this.random(SIMPLE_TOKEN_PREFIX_LENGTH);
    let s = "";
    for (const b of bytes) s += LETTERS[b % LETTERS.length];
    return s;
  }

  /** assign records the token `${prefix}.${index}` for user and returns it. */
  assign(user: string, prefix: string, index: bigint): string {
    const token = `${prefix}.${index}`;
    const now = this.now();
    if (now - this.lastSweep >= this.ttlMs) this.sweep(now);
    if (this.active) this.tokens.set(token, { user, expires: now + this.ttlMs });
    return token;
  }

  /** user returns the user of a live token and extends its life by one TTL, or undefined. */
  user(token: string): string | undefined {
    if (!this.active) return undefined;
    const t = this.tokens.get(token);
    if (t === undefined) return undefined;
    const now = this.now();
    if (now >= t.expires) {
      this.tokens.delete(token);
      return undefined;
    }
    t.expires = now + this.ttlMs;
    return t.user;
  }

  /** size is the number of tokens held (live or not yet swept). */
  get size(): number {
    return this.tokens.size;
  }

  enabled(): void {
    this.active = true;
  }

  disabled(): void {
    this.active = false;
    this.tokens.clear();
  }

  userInvalidated(name: string): void {
    for (const [token, t] of this.tokens) if (t.user === name) this.tokens.delete(token);
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [token, t] of this.tokens) if (now >= t.expires) this.tokens.delete(token);
  }
}
