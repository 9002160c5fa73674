import { describe, expect, it } from "vitest";
import { checkPassword, hashPassword } from "./password.js";

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
