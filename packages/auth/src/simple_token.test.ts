import { describe, expect, it } from "vitest";
import { SimpleTokens } from "./simple_token.js";

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const counting = (): ((n: number) => Uint8Array) => {
  let i = 0;
  return (n) => Uint8Array.from({ length: n }, () => i++);
};

describe("SimpleTokens", () => {
  it("makes tokens '<16 letters>.<index>' that name their user while auth is on", () => {
    const c = clock();
    const t = new SimpleTokens(c.now, 300_000, counting());
    t.enabled();
    const p = t.prefix();
    expect(p).toMatch(/^[a-zA-Z]{16}$/);
    const tok = t.assign("alice", p, 42n);
    expect(tok).toBe(`${p}.42`);
    expect(t.user(tok)).toBe("alice");
    expect(t.user(`${p}.43`)).toBeUndefined();
  });

  it("expires a token one TTL after its last use, each use extending it", () => {
    const c = clock();
    const t = new SimpleTokens(c.now, 1000, counting());
    t.enabled();
    const tok = t.assign("u", t.prefix(), 1n);
    c.advance(900);
    expect(t.user(tok)).toBe("u");
    c.advance(900);
    expect(t.user(tok)).toBe("u");
    c.advance(1000);
    expect(t.user(tok)).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it("sweeps expired tokens when assigning, so unused tokens do not pile up", () => {
    const c = clock();
    const t = new SimpleTokens(c.now, 1000, counting());
    t.enabled();
    for (let i = 0; i < 100; i++) t.assign("u", t.prefix(), BigInt(i));
    expect(t.size).toBe(100);
    c.advance(1000);
    t.assign("u", t.prefix(), 1000n);
    expect(t.size).toBe(1);
  });

  it("drops a user's tokens when it is invalidated, and every token when auth is disabled", () => {
    const t = new SimpleTokens(clock().now, 1000, counting());
    t.enabled();
    const a = t.assign("a", t.prefix(), 1n);
    const b = t.assign("b", t.prefix(), 2n);
    t.userInvalidated("a");
    expect([t.user(a), t.user(b)]).toEqual([undefined, "b"]);
    t.disabled();
    expect(t.user(b)).toBeUndefined();
    // While auth is off no token is kept.
    const c = t.assign("b", t.prefix(), 3n);
    t.enabled();
    expect(t.user(c)).toBeUndefined();
  });
});
