import { describe, expect, it } from "vitest";
import { bcryptInFlight, checkPassword, hashPassword, MAX_CONCURRENT_BCRYPT, MAX_QUEUED_BCRYPT, PasswordBusy } from "./password.js";

describe("passwords", () => {
  it("hashes in Go bcrypt's $2a$ form at the given cost and checks against it", async () => {
    const h = await hashPassword("s3cret", 4);
    expect(h.toString()).toMatch(/^\$2a\$04\$[./A-Za-z0-9]{53}$/);
    expect(await checkPassword("s3cret", h)).toBe(true);
    expect(await checkPassword("s3cret!", h)).toBe(false);
    // Two hashes of one password differ (random salts) and both check.
    const h2 = await hashPassword("s3cret", 4);
    expect(h2.equals(h)).toBe(false);
    expect(await checkPassword("s3cret", h2)).toBe(true);
  });

  it("checks a hash Go's bcrypt wrote (etcd's user records) and refuses an empty hash", async () => {
    // Go x/crypto/bcrypt's own test vector: "allmine" at cost 10.
    const goHash = Buffer.from("$2a$10$XajjQvNhvvRt5GSeFk1xFeyqRrsxkhBkUiQeg0dt.wU1qD4aFDcga");
    expect(await checkPassword("allmine", goHash)).toBe(true);
    expect(await checkPassword("allmine2", goHash)).toBe(false);
    expect(await checkPassword("", Buffer.alloc(0))).toBe(false);
  });
});

describe("bcrypt concurrency", () => {
  it("runs at most MAX_CONCURRENT_BCRYPT hashes at once, leaving thread-pool threads for disk writes", async () => {
    let most = 0;
    const probe = setInterval(() => (most = Math.max(most, bcryptInFlight())), 1);
    const all = Array.from({ length: 8 }, (_, i) => hashPassword(`p${i}`, 6));
    const hashes = await Promise.all(all);
    clearInterval(probe);
    expect(hashes).toHaveLength(8);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(MAX_CONCURRENT_BCRYPT);
    expect(await checkPassword("p3", hashes[3] as Buffer)).toBe(true);
  });
});

describe("bcrypt queue", () => {
  it("refuses work past MAX_QUEUED_BCRYPT waiting, and serves the rest", async () => {
    const all = Array.from({ length: MAX_CONCURRENT_BCRYPT + MAX_QUEUED_BCRYPT + 5 }, (_, i) => hashPassword(`q${i}`, 4).then(
      () => "ok",
      (err: unknown) => (err instanceof PasswordBusy ? "busy" : "other"),
    ));
    const outcomes = await Promise.all(all);
    expect(outcomes.filter((o) => o === "busy")).toHaveLength(5);
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(MAX_CONCURRENT_BCRYPT + MAX_QUEUED_BCRYPT);
  });
});
