import { hash, verify } from "@node-rs/bcrypt";

/** The bcrypt cost bounds and default of Go's x/crypto/bcrypt, which etcd's --bcrypt-cost takes. */
export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;
export const BCRYPT_DEFAULT_COST = 10;

/**
 * MAX_CONCURRENT_BCRYPT bounds the hashes and checks running at once. They run on the libuv
 * thread pool (4 threads by default), which the WAL's and backend's disk writes share: a
 * burst of logins must not take every thread and stall writes behind it.
 */
export const MAX_CONCURRENT_BCRYPT = 2;

/** MAX_QUEUED_BCRYPT bounds the hashes and checks waiting for a slot; past it they are refused (PasswordBusy). */
export const MAX_QUEUED_BCRYPT = 64;

/** PasswordBusy refuses a hash or check when MAX_QUEUED_BCRYPT are waiting already (the server answers "too many requests"). */
export class PasswordBusy extends Error {
  constructor() {
    super("auth: too many password checks waiting");
    this.name = "PasswordBusy";
  }
}

let running = 0;
const waiting: (() => void)[] = [];

/** limited runs fn when fewer than MAX_CONCURRENT_BCRYPT bcrypt operations are running; it throws PasswordBusy when the queue is full. */
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_BCRYPT) {
    if (waiting.length >= MAX_QUEUED_BCRYPT) throw new PasswordBusy();
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/**
 * hashPassword hashes a password with bcrypt at `cost`, in the "$2a$" form Go's bcrypt
 * writes, on the libuv thread pool (the event loop does not wait for it).
 */
export async function hashPassword(password: string, cost: number): Promise<Buffer> {
  return Buffer.from(await limited(() => hash(password, { cost, version: "2a" })));
}

/** checkPassword reports whether password matches a bcrypt hash (any of Go's and bcrypt's prefixes), off the event loop. */
export async function checkPassword(password: string, passwordHash: Buffer): Promise<boolean> {
  if (passwordHash.length === 0) return false;
  return limited(() => verify(password, passwordHash));
}

/** bcryptInFlight is how many bcrypt operations run now (for tests). */
export function bcryptInFlight(): number {
  return running;
}
