/**
 * auth.ts is `--auth`: it turns on authentication in a freshly started server, as an
 * operator would with etcdctl (user add root, user grant-role root root, auth enable), and
 * gets the simple token (Auth.Authenticate) that every request of the run then carries in
 * the gRPC header / metadata "token", as clientv3 sends it. The calls go through grpc-js
 * with messages built from @etcd-ts/proto's generated types.
 *
 * A simple token expires AUTH_TOKEN_TTL_SECONDS after its last use on a member (each use
 * renews it there), so the bench authenticates again before every workload rather than
 * keep one token across pauses of unknown length. The user is root, which etcd lets past
 * the key-range permission check: every request pays the token lookup and the auth check,
 * but not a range-permission search (the same on both servers).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { etcdserverpb } from "@etcd-ts/proto";
import type * as grpc from "@grpc/grpc-js";
import { openConnection, unaryOnce, waitReady } from "./grpc-caller.js";
import { RANGE_PATH } from "./requests.js";

/** AUTH_USER and AUTH_PASSWORD are the user --auth creates and runs everything as. */
export const AUTH_USER = "root";
export const AUTH_PASSWORD = "bench";
/** AUTH_ROLE is the role granted to AUTH_USER (etcd's built-in root role). */
export const AUTH_ROLE = "root";
/** AUTH_TOKEN_TTL_SECONDS is etcd's simple-token TTL: a token unused this long stops working. */
export const AUTH_TOKEN_TTL_SECONDS = 300;

/** The Auth service's methods the bench calls. */
export const USER_ADD_PATH = "/etcdserverpb.Auth/UserAdd";
export const USER_GRANT_ROLE_PATH = "/etcdserverpb.Auth/UserGrantRole";
export const AUTH_ENABLE_PATH = "/etcdserverpb.Auth/AuthEnable";
export const AUTHENTICATE_PATH = "/etcdserverpb.Auth/Authenticate";

/** TOKEN_CHECK_WAIT_MS bounds how long a token may take to be accepted by every member. */
const TOKEN_CHECK_WAIT_MS = 5000;

function encoded(m: { finish(): Uint8Array }): Buffer {
  const u = m.finish();
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** userAddRequest, grantRoleRequest, authEnableRequest, authenticateRequest are the setup's messages. */
export function userAddRequest(): Buffer {
  return encoded(
    etcdserverpb.AuthUserAddRequest.encode(etcdserverpb.AuthUserAddRequest.fromPartial({ name: AUTH_USER, password: AUTH_PASSWORD })),
  );
}

export function grantRoleRequest(): Buffer {
  return encoded(
    etcdserverpb.AuthUserGrantRoleRequest.encode(etcdserverpb.AuthUserGrantRoleRequest.fromPartial({ user: AUTH_USER, role: AUTH_ROLE })),
  );
}

export function authEnableRequest(): Buffer {
  return encoded(etcdserverpb.AuthEnableRequest.encode(etcdserverpb.AuthEnableRequest.fromPartial({})));
}

export function authenticateRequest(): Buffer {
  return encoded(
    etcdserverpb.AuthenticateRequest.encode(etcdserverpb.AuthenticateRequest.fromPartial({ name: AUTH_USER, password: AUTH_PASSWORD })),
  );
}

/** TOKEN_PROBE is a serializable Range the token is checked with on each member (read locally there). */
const TOKEN_PROBE = encoded(
  etcdserverpb.RangeRequest.encode(etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from("bench/auth-probe"), serializable: true })),
);

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function step<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw new Error(`bench: --auth: ${what}: ${message(err)}`);
  }
}

/**
 * withConnection opens one grpc-js connection to endpoint, waits until it is up (within
 * timeoutMs), runs f, and closes it.
 */
async function withConnection<T>(endpoint: string, timeoutMs: number, f: (c: grpc.Client) => Promise<T>): Promise<T> {
  const c = openConnection(endpoint);
  try {
    await waitReady(c, timeoutMs);
    return await f(c);
  } finally {
    c.close();
  }
}

/**
 * enableAuth turns authentication on through endpoints[0], in this order: UserAdd root
 * (password AUTH_PASSWORD), UserGrantRole root root, AuthEnable; then it authenticates
 * (see authenticate) and returns the token. Each call's deadline is timeoutMs. Rejects with
 * "bench: --auth: <step>: <the server's error>" when a step fails.
 */
export async function enableAuth(endpoints: readonly string[], timeoutMs: number): Promise<string> {
  const first = endpoints[0];
  if (first === undefined) throw new Error("bench: --auth: no endpoint");
  await withConnection(first, timeoutMs, async (c) => {
    await step(`UserAdd ${AUTH_USER}`, () => unaryOnce(c, USER_ADD_PATH, userAddRequest(), timeoutMs));
    await step(`UserGrantRole ${AUTH_USER} ${AUTH_ROLE}`, () => unaryOnce(c, USER_GRANT_ROLE_PATH, grantRoleRequest(), timeoutMs));
    await step("AuthEnable", () => unaryOnce(c, AUTH_ENABLE_PATH, authEnableRequest(), timeoutMs));
  });
  return authenticate(endpoints, timeoutMs);
}

/**
 * authenticate asks endpoints[0] for a token (Authenticate as AUTH_USER) and then checks
 * that every endpoint accepts it (a serializable Range carrying it, retried for up to
 * TOKEN_CHECK_WAIT_MS: a follower knows the token once it has applied the Authenticate),
 * so no workload starts with requests a member would refuse. Resolves with the token.
 */
export async function authenticate(endpoints: readonly string[], timeoutMs: number): Promise<string> {
  const first = endpoints[0];
  if (first === undefined) throw new Error("bench: --auth: no endpoint");
  const token = await withConnection(first, timeoutMs, (c) =>
    step(`Authenticate as ${AUTH_USER}`, async () => {
      const res = etcdserverpb.AuthenticateResponse.decode(await unaryOnce(c, AUTHENTICATE_PATH, authenticateRequest(), timeoutMs));
      if (res.token === "") throw new Error("the answer holds no token (is the server's --auth-token empty?)");
      return res.token;
    }),
  );
  for (const ep of endpoints) {
    await withConnection(ep, timeoutMs, (c) =>
      step(`checking the token on ${ep}`, async () => {
        const deadline = Date.now() + TOKEN_CHECK_WAIT_MS;
        for (;;) {
          try {
            await unaryOnce(c, RANGE_PATH, TOKEN_PROBE, timeoutMs, token);
            return;
          } catch (err) {
            if (Date.now() >= deadline) throw err;
            await sleep(50);
          }
        }
      }),
    );
  }
  return token;
}
