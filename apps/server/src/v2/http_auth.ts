import type { IncomingMessage, ServerResponse } from "node:http";
import { posix } from "node:path";
import type { TLSSocket } from "node:tls";
import { GUEST_ROLE, ROOT_ROLE, V2AuthError, hasKeyAccess, hasRecursiveAccess, type V2AuthStore, type V2Role, type V2User } from "./auth_store.js";
import { methodNotAllowed } from "./http_keys.js";
import { goJson } from "./node.js";

/** AUTH_PREFIX is the URL path of the v2 auth API. */
export const AUTH_PREFIX = "/v2/auth";

/** MAX_AUTH_BODY_BYTES bounds a user or role body. */
const MAX_AUTH_BODY_BYTES = 64 * 1024;

/** V2Access decides v2 requests' access as etcd's v2http does (client_auth.go). */
export class V2Access {
  constructor(
    private readonly auth: V2AuthStore,
    /** clientCertAuth: --client-cert-auth, a verified client certificate's CN names the user when no Authorization header is sent. */
    private readonly clientCertAuth: boolean,
  ) {}

  /** userOf is the request's user: from Basic auth (a bad password: none), else from the client certificate. */
  private async userOf(req: IncomingMessage): Promise<V2User | undefined | "anonymous"> {
    const header = req.headers.authorization;
    if (header === undefined || header === "") {
      if (!this.clientCertAuth) return "anonymous";
      const sock = req.socket as Partial<TLSSocket>;
      const cn = sock.authorized === true ? sock.getPeerCertificate?.()?.subject?.CN : undefined;
      if (typeof cn !== "string") return "anonymous";
      try {
        return await this.auth.getUser(cn);
      } catch {
        return "anonymous";
      }
    }
    const m = /^Basic (.*)$/.exec(header);
    if (m === null) return undefined;
    const text = Buffer.from(m[1] as string, "base64").toString();
    const colon = text.indexOf(":");
    if (colon < 0) return undefined;
    let u: V2User;
    try {
      u = await this.auth.getUser(text.slice(0, colon));
    } catch {
      return undefined;
    }
    return (await this.auth.checkPassword(u, text.slice(colon + 1))) ? u : undefined;
  }

  /** hasRootAccess: auth is off, or the request's user has the root role. */
  async hasRootAccess(req: IncomingMessage): Promise<boolean> {
    if (!(await this.auth.enabled())) return true;
    const u = await this.userOf(req);
    return typeof u === "object" && u.roles.includes(ROOT_ROLE);
  }

  /** hasWriteRootAccess: a read (GET, HEAD), or root access. */
  async hasWriteRootAccess(req: IncomingMessage): Promise<boolean> {
    if (req.method === "GET" || req.method === "HEAD") return true;
    return this.hasRootAccess(req);
  }

  /** hasKeyPrefixAccess is etcd's: auth off; a user's roles; without credentials the guest role's (non-recursive) access. */
  async hasKeyPrefixAccess(req: IncomingMessage, key: string, recursive: boolean): Promise<boolean> {
    if (!(await this.auth.enabled())) return true;
    const write = req.method !== "GET" && req.method !== "HEAD";
    const u = await this.userOf(req);
    if (u === undefined) return false;
    if (u === "anonymous") {
      try {
        return hasKeyAccess(await this.auth.getRole(GUEST_ROLE), key, write);
      } catch {
        return false;
      }
    }
    for (const name of u.roles) {
      let role: V2Role;
      try {
        role = await this.auth.getRole(name);
      } catch {
        continue;
      }
      if (recursive ? hasRecursiveAccess(role, key, write) : hasKeyAccess(role, key, write)) return true;
    }
    return false;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" }).end(`${goJson(body)}\n`);
}

/** httpError answers {"message"} with a status (httptypes.HTTPError), e.g. 401 "Insufficient credentials". */
export function authHttpError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { "Content-Type": "application/json" }).end(goJson({ message }));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_AUTH_BODY_BYTES) throw new SyntaxError("too large");
    chunks.push(c);
  }
  return JSON.parse(Buffer.concat(chunks).toString()) as unknown;
}

/** strings: absent, null, or an array of strings (a Go []string field). */
const strings = (v: unknown): boolean => v === undefined || v === null || (Array.isArray(v) && v.every((x) => typeof x === "string"));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** isUser: a body Go decodes into v2auth.User (else "Invalid JSON in request body."). */
function isUser(v: unknown): v is V2User {
  if (!isObject(v)) return false;
  return (v["user"] === undefined || typeof v["user"] === "string") && (v["password"] === undefined || typeof v["password"] === "string") && strings(v["roles"]) && strings(v["grant"]) && strings(v["revoke"]);
}

/** isPermissions: absent, null, or {"kv": {"read": [...], "write": [...]}}. */
function isPermissions(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (!isObject(v)) return false;
  const kv = v["kv"];
  if (kv === undefined || kv === null) return true;
  return isObject(kv) && strings(kv["read"]) && strings(kv["write"]);
}

/** isRole: a body Go decodes into v2auth.Role. */
function isRole(v: unknown): v is V2Role {
  if (!isObject(v)) return false;
  return (v["role"] === undefined || typeof v["role"] === "string") && isPermissions(v["permissions"]) && isPermissions(v["grant"]) && isPermissions(v["revoke"]);
}

/** userJson is a user as answered: its name and roles (the roles with their permissions where asked). */
function roleJson(r: V2Role): Record<string, unknown> {
  return { role: r.role, permissions: { kv: { read: r.permissions.kv.read.length > 0 ? r.permissions.kv.read : null, write: r.permissions.kv.write.length > 0 ? r.permissions.kv.write : null } } };
}

/**
 * serveAuth answers /v2/auth/users[/name], /v2/auth/roles[/name] and /v2/auth/enable as
 * etcd 3.4's authHandler: every one but GET /enable needs root access once auth is enabled
 * (401 "Insufficient credentials" otherwise); errors are {"message": "auth: ..."}.
 */
export function serveAuth(auth: V2AuthStore, access: V2Access, clusterId: () => string, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const rest = path.slice(AUTH_PREFIX.length);
  const handler = rest === "/enable" ? enableDisable : rest === "/users" || rest.startsWith("/users/") ? users : rest === "/roles" || rest.startsWith("/roles/") ? roles : undefined;
  if (handler === undefined) return false;
  void handler(auth, access, clusterId, req, res, rest).catch((err: unknown) => {
    if (err instanceof V2AuthError) authHttpError(res, err.status, err.message);
    else authHttpError(res, 500, "Internal Server Error");
  });
  return true;
}

type Handler = (auth: V2AuthStore, access: V2Access, clusterId: () => string, req: IncomingMessage, res: ServerResponse, rest: string) => Promise<void>;

const enableDisable: Handler = async (auth, access, clusterId, req, res) => {
  if (!["GET", "PUT", "DELETE"].includes(req.method ?? "")) return methodNotAllowed(res, ["GET", "PUT", "DELETE"]);
  req.resume();
  if (!(await access.hasWriteRootAccess(req))) return authHttpError(res, 401, "Insufficient credentials");
  res.setHeader("X-Etcd-Cluster-Id", clusterId());
  if (req.method === "GET") return send(res, 200, { enabled: await auth.enabled() });
  if (req.method === "PUT") await auth.enable();
  else await auth.disable();
  res.writeHead(200, { "Content-Type": "application/json" }).end();
};

/** pieces splits a cleaned /users/<name> or /roles/<name> path: [kind] or [kind, name]; more parts are "Invalid path". */
function pieces(rest: string): string[] | undefined {
  const p = posix.normalize(rest).split("/").slice(1).filter((x, i) => i === 0 || x !== "");
  return p.length > 2 ? undefined : p;
}

/**
 * resource checks a /users[/name] or /roles[/name] request as etcd does: the path ("Invalid
 * path"), the method (GET on the collection; GET, PUT, DELETE on one), root access. It answers
 * the name (undefined for the collection), or false once it has answered the request itself.
 */
async function resource(access: V2Access, clusterId: () => string, req: IncomingMessage, res: ServerResponse, rest: string): Promise<string | undefined | false> {
  const p = pieces(rest);
  if (p === undefined) {
    authHttpError(res, 400, "Invalid path");
    return false;
  }
  const name = p[1];
  const methods = name === undefined ? ["GET"] : ["GET", "PUT", "DELETE"];
  if (!methods.includes(req.method ?? "")) {
    methodNotAllowed(res, methods);
    return false;
  }
  if (!(await access.hasRootAccess(req))) {
    req.resume();
    authHttpError(res, 401, "Insufficient credentials");
    return false;
  }
  res.setHeader("X-Etcd-Cluster-Id", clusterId());
  return name;
}

const users: Handler = async (auth, access, clusterId, req, res, rest) => {
  const target = await resource(access, clusterId, req, res, rest);
  if (target === false) return;
  const name = target;
  if (name === undefined) {
    req.resume();
    const list = [];
    for (const n of await auth.allUsers()) {
      const u = await auth.getUser(n);
      const rs: Record<string, unknown>[] = [];
      for (const r of u.roles) {
        try {
          rs.push(roleJson(await auth.getRole(r)));
        } catch {
          // a role that is gone is left out, as etcd does
        }
      }
      list.push(rs.length > 0 ? { user: u.user, roles: rs } : { user: u.user });
    }
    return send(res, 200, { users: list.length > 0 ? list : null });
  }
  if (req.method === "GET") {
    req.resume();
    const u = await auth.getUser(name);
    const rs: Record<string, unknown>[] = [];
    for (const r of u.roles) rs.push(roleJson(await auth.getRole(r)));
    return send(res, 200, rs.length > 0 ? { user: u.user, roles: rs } : { user: u.user });
  }
  if (req.method === "DELETE") {
    req.resume();
    await auth.deleteUser(name);
    res.writeHead(200, { "Content-Type": "application/json" }).end();
    return;
  }
  let u: V2User;
  try {
    u = (await readJson(req)) as V2User;
    if (!isUser(u)) throw new SyntaxError("not a user");
  } catch {
    return authHttpError(res, 400, "Invalid JSON in request body.");
  }
  if (u.user !== name) return authHttpError(res, 400, "User JSON name does not match the name in the URL");
  let out: V2User;
  let created = false;
  if ((u.grant ?? []).length === 0 && (u.revoke ?? []).length === 0) {
    if ((u.roles ?? []).length !== 0) out = await auth.createUser(u);
    else ({ user: out, created } = await auth.createOrUpdateUser(u));
  } else {
    if ((u.roles ?? []).length !== 0) return authHttpError(res, 400, "User JSON contains both roles and grant/revoke");
    out = await auth.updateUser(u);
  }
  send(res, created ? 201 : 200, { user: out.user, roles: out.roles.length > 0 ? out.roles : null });
};

const roles: Handler = async (auth, access, clusterId, req, res, rest) => {
  const target = await resource(access, clusterId, req, res, rest);
  if (target === false) return;
  const name = target;
  if (name === undefined) {
    req.resume();
    const list = [];
    for (const n of await auth.allRoles()) list.push(roleJson(await auth.getRole(n)));
    return send(res, 200, { roles: list });
  }
  if (req.method === "GET") {
    req.resume();
    return send(res, 200, roleJson(await auth.getRole(name)));
  }
  if (req.method === "DELETE") {
    req.resume();
    await auth.deleteRole(name);
    res.writeHead(200, { "Content-Type": "application/json" }).end();
    return;
  }
  let r: V2Role;
  try {
    r = (await readJson(req)) as V2Role;
    if (!isRole(r)) throw new SyntaxError("not a role");
  } catch {
    return authHttpError(res, 400, "Invalid JSON in request body.");
  }
  if (r.role !== name) return authHttpError(res, 400, "Role JSON name does not match the name in the URL");
  const empty = (x: V2Role["grant"]): boolean => x === undefined || x === null || ((x.kv?.read ?? []).length === 0 && (x.kv?.write ?? []).length === 0);
  if (empty(r.grant) && empty(r.revoke)) {
    r.permissions ??= { kv: { read: [], write: [] } };
    r.permissions.kv ??= { read: [], write: [] };
    await auth.createRole(r);
    return send(res, 201, roleJson({ role: r.role, permissions: { kv: { read: r.permissions.kv.read ?? [], write: r.permissions.kv.write ?? [] } } }));
  }
  if (!empty(r.permissions as V2Role["grant"])) return authHttpError(res, 400, "Role JSON contains both permissions and grant/revoke");
  send(res, 200, roleJson(await auth.updateRole(r)));
};
