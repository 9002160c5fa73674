import { hash, verify } from "@node-rs/bcrypt";

/** The bcrypt cost bounds and default of Go's x/crypto/bcrypt, which etcd's --bcrypt-cost takes. */
export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;
export const BCRYPT_DEFAULT_COST = 10;

/**
 * hashPassword hashes a password with bcrypt at `cost`, in the "$2a$" form Go's bcrypt
 * writes, on the libuv thread pool (the event loop does not wait for it).
 */
export async function hashPassword(password: string, cost: number): Promise<Buffer> {
  return Buffer.from(await hash(password, { cost, version: "2a" }));
}

/** checkPassword reports whether password matches a bcrypt hash (any of Go's and bcrypt's prefixes), off the event loop. */
export async function checkPassword(password: string, passwordHash: Buffer): Promise<boolean> {
  if (passwordHash.length === 0) return false;
  return verify(password, passwordHash);
}
